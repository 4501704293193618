"""Baselines for bench-merge on one 7B Llama layer, in numpy (Debian's python3-numpy stands in for
torch on the CPU):

- dense, the approach PEFT's add_weighted_adapter takes for svd merges: form
  delta = sum_i w_i * scale * B_i @ A_i (out x in), take an SVD, keep the top r. Mode "full" is
  PEFT's default (svd_full_matrices=True: U is out x out, V is in x in); mode "thin" is the cheaper
  full_matrices=False, a lower bound on what the dense approach costs.
- factored, the algorithm graft's svd runs, on LAPACK: QR of the stacked factors
  [B_1 ... B_n] and [w_1 A_1; ...; w_n A_n]^T, SVD of the small core R_B R_A^T, top r (in float64,
  as graft computes; the best of three runs).

Which BLAS numpy runs on decides the dense figure (Debian's numpy on the reference BLAS is many
times slower than on OpenBLAS), so the libraries mapped into this process after a matmul are
reported, with OpenBLAS's own build and kernel names when it is the one. A small check of the
results comes first: exit 3 when they are wrong (an OpenBLAS kernel that miscomputes on this CPU).
Prints one JSON line: seconds per layer of both, peak RSS, the BLAS."""
import ctypes, json, re, resource, sys, time
import numpy as np

adapters, rank, full = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "full"
# (out, in, how many of this kind per layer): one module of each kind is measured and counted.
# down_proj (4096 x 11008) is the transpose of gate/up's shape: LAPACK solves the same problem
# (same flops, same workspace), so it is counted with them; "all" measures the 7 modules one by one.
shapes = [(4096, 4096, 4), (11008, 4096, 3)]
if len(sys.argv) > 4 and sys.argv[4] == "all":
    shapes = [(4096, 4096, 1)] * 4 + [(11008, 4096, 1)] * 2 + [(4096, 11008, 1)]


def blas():
    x = np.ones((64, 64))
    x @ x
    np.linalg.svd(x)
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if re.search(r"lib(open)?blas|liblapack|libmkl|libblis", l)})
    info = {"libraries": libs}
    for path in libs:
        if "openblas" in path:
            lib = ctypes.CDLL(path)
            for name in ("openblas_get_config", "openblas_get_corename"):
                fn = getattr(lib, name, None)
                if fn:
                    fn.restype = ctypes.c_char_p
                    info[name.replace("openblas_get_", "")] = fn().decode()
            info["threads"] = lib.openblas_get_num_threads()
            break
    info["kind"] = "openblas" if any("openblas" in p for p in libs) else "reference" if any("/blas/" in p for p in libs) else "other"
    return info


def check():
    # A known answer: a random 300 x 200 matrix rebuilt from its SVD, and a product against a loop.
    rng = np.random.default_rng(1)
    m = rng.standard_normal((300, 200))
    u, s, vh = np.linalg.svd(m, full_matrices=False)
    rebuilt = (u * s) @ vh
    q, r = np.linalg.qr(m)
    small = m[:20, :30] @ m[:30, :10]
    loop = np.array([[sum(m[i, k] * m[k, j] for k in range(30)) for j in range(10)] for i in range(20)])
    ok = np.abs(rebuilt - m).max() < 1e-9 and np.abs(q @ r - m).max() < 1e-9 and np.abs(small - loop).max() < 1e-9
    if not ok:
        print(json.dumps({"error": "numpy's BLAS/LAPACK computed wrong results on this CPU", "blas": blas()}))
        sys.exit(3)


def factored(A, B, w, r):
    bq, br = np.linalg.qr(np.concatenate(B, axis=1))  # out x R
    aq, ar = np.linalg.qr(np.concatenate([wi * a for wi, a in zip(w, A)], axis=0).T)  # in x R
    u, s, vh = np.linalg.svd(br @ ar.T)
    h = np.sqrt(s[:r])
    return (bq @ (u[:, :r] * h)), ((vh[:r, :].T * h).T @ aq.T)


check()
info = blas()
rng = np.random.default_rng(0)
total = factored_total = 0.0
per_shape = []
w = [2.0 / adapters] * adapters
for out, inn, count in shapes:
    A = [rng.standard_normal((rank, inn), dtype=np.float32) / np.sqrt(inn) for _ in range(adapters)]
    B = [rng.standard_normal((out, rank), dtype=np.float32) * 0.01 for _ in range(adapters)]
    # float64, as graft computes: the same precision for the factored comparison.
    A64, B64 = [a.astype(np.float64) for a in A], [b.astype(np.float64) for b in B]
    # The best of three: it takes seconds, and a shared machine's load only ever adds to it.
    ft = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        new_b, new_a = factored(A64, B64, w, rank)
        ft = min(ft, time.perf_counter() - t)
    t = time.perf_counter()
    delta = np.zeros((out, inn), dtype=np.float32)
    for wi, a, b in zip(w, A, B):
        delta += wi * (b @ a)
    U, S, Vh = np.linalg.svd(delta, full_matrices=full)
    dense_b = U[:, :rank] * S[:rank]
    dense_a = Vh[:rank, :]
    dt = time.perf_counter() - t
    # Both give the best rank-r approximation of the same delta.
    agree = float(np.abs(new_b @ new_a - dense_b @ dense_a).max() / np.abs(delta).max())
    del U, S, Vh, delta, dense_a, dense_b
    per_shape.append({"shape": [out, inn], "seconds": dt, "factored_seconds": ft, "count": count, "factored_vs_dense_max_rel_diff": agree})
    total += dt * count
    factored_total += ft * count
print(json.dumps({"layer_seconds": total, "factored_layer_seconds": factored_total, "per_shape": per_shape,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "blas": info}))
