"""The dense approach PEFT's add_weighted_adapter takes for svd merges, on one 7B Llama layer:
form delta = sum_i w_i * scale * B_i @ A_i (out x in), take an SVD, keep the top r. Mode "full"
is PEFT's default (svd_full_matrices=True: U is out x out, V is in x in); mode "thin" is the
cheaper full_matrices=False, a lower bound on what the dense approach costs. numpy (Debian's python3-numpy) stands in
for torch on the CPU. Prints one JSON line: seconds per layer and peak RSS."""
import json, resource, sys, time
import numpy as np

adapters, rank, full = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "full"
# (out, in, how many of this kind per layer): one module of each kind is measured and counted.
# down_proj (4096 x 11008) is the transpose of gate/up's shape: LAPACK solves the same problem
# (same flops, same workspace), so it is counted with them; "all" measures the 7 modules one by one.
shapes = [(4096, 4096, 4), (11008, 4096, 3)]
if len(sys.argv) > 4 and sys.argv[4] == "all":
    shapes = [(4096, 4096, 1)] * 4 + [(11008, 4096, 1)] * 2 + [(4096, 11008, 1)]
rng = np.random.default_rng(0)
total = 0.0
per_shape = []
for out, inn, count in shapes:
    A = [rng.standard_normal((rank, inn), dtype=np.float32) / np.sqrt(inn) for _ in range(adapters)]
    B = [rng.standard_normal((out, rank), dtype=np.float32) * 0.01 for _ in range(adapters)]
    t = time.perf_counter()
    delta = np.zeros((out, inn), dtype=np.float32)
    for a, b in zip(A, B):
        delta += (2.0 / adapters) * (b @ a)
    U, S, Vh = np.linalg.svd(delta, full_matrices=full)
    new_b = U[:, :rank] * S[:rank]
    new_a = Vh[:rank, :]
    dt = time.perf_counter() - t
    del U, S, Vh, delta, new_a, new_b
    per_shape.append({"shape": [out, inn], "seconds": dt, "count": count})
    total += dt * count
print(json.dumps({"layer_seconds": total, "per_shape": per_shape,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
