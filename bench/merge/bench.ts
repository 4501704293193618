// bench-merge: 8 synthetic rank-16 adapters with 7B Llama shapes (32 layers; q, k, v, o 4096×4096;
// gate, up 11008×4096; down 4096×11008), merged to rank 16 with svd, against two numpy baselines on
// one layer, extrapolated to 32 layers: the dense approach (form ΔW, SVD) and the same factored
// algorithm graft runs (QR of the stacked factors, SVD of the core) on LAPACK. numpy runs on the
// BLAS it loads, which the bench prints (run.sh installs OpenBLAS). Prints figures only.
// Environment: GRAFT_BENCH_BLAS_THREADS (OpenBLAS's threads; default its own choice), GRAFT_BENCH_DIR (where the ~1.3 GB of inputs go; default the OS temp dir),
// GRAFT_BENCH_LAYERS (default 32), GRAFT_BENCH_DENSE=full for PEFT's default full_matrices SVD in the
// baseline (default thin: cheaper, so the speedup reported is a lower bound),
// GRAFT_BENCH_DENSE_ALL=1 to time all 7 modules of the layer instead of one per kind of shape.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ADAPTERS = 8, RANK = 16;
const LAYERS = Number(process.env.GRAFT_BENCH_LAYERS ?? 32);
const here = fileURLToPath(new URL('.', import.meta.url));
const node = (script: string, args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  if (r.status !== 0) throw new Error(`${script} exited with ${r.status}`);
  return r.stdout;
};

function python(): string {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import numpy'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  throw new Error('numpy is missing: apt-get install -y python3-numpy');
}

const dir = await mkdtemp(join(process.env.GRAFT_BENCH_DIR ?? tmpdir(), 'graft-bench-merge-'));
try {
  let t = performance.now();
  node('generate.ts', [dir, String(ADAPTERS), String(LAYERS), String(RANK)]);
  const inputs = Array.from({ length: ADAPTERS }, (_, i) => join(dir, `adapter-${i}`));
  console.log(`generated ${ADAPTERS} adapters × ${LAYERS} layers in ${((performance.now() - t) / 1000).toFixed(1)} s (${execFileSync('du', ['-sh', dir], { encoding: 'utf8' }).split('\t')[0]})`);

  const ours = JSON.parse(node('merge-child.ts', [join(dir, 'merged'), String(RANK), ...inputs]).trim().split('\n').pop()!);
  const gbs = ours.inputBytes / 1e9 / ours.seconds;
  console.log(`graft svd merge: ${ours.modules} modules, ${ours.seconds.toFixed(2)} s, peak RSS ${ours.peakRssMb.toFixed(0)} MB, ${(ours.inputBytes / 1e9).toFixed(2)} GB read (${gbs.toFixed(3)} GB/s), relative truncation error ${ours.truncationRelative.toExponential(3)}`);

  await rm(dir, { recursive: true, force: true }); // free the disk before the dense run
  const mode = process.env.GRAFT_BENCH_DENSE === 'full' ? 'full' : 'thin';
  t = performance.now();
  const args = [join(here, 'dense_baseline.py'), String(ADAPTERS), String(RANK), mode, process.env.GRAFT_BENCH_DENSE_ALL ? 'all' : 'shapes'];
  // Some machines set OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) for older OpenBLAS builds that
  // miscompute or crash on their CPU; they also slow a current one. The baseline runs without both
  // (the kernel OpenBLAS picks itself is printed), and again with them only when that run fails
  // its own correctness check (exit 3) or crashes.
  const pinned = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'].filter((k) => process.env[k] !== undefined);
  // GRAFT_BENCH_BLAS_THREADS sets OpenBLAS's threads: on a machine busier than its cores, its
  // spinning threads lose far more than graft's workers do (printed with the BLAS).
  const threads = process.env.GRAFT_BENCH_BLAS_THREADS ? { OPENBLAS_NUM_THREADS: process.env.GRAFT_BENCH_BLAS_THREADS } : {};
  const runPython = (env: NodeJS.ProcessEnv) => spawnSync(python(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, ...threads } });
  let denseOut = runPython(Object.fromEntries(Object.entries(process.env).filter(([k]) => !pinned.includes(k))));
  let envNote = pinned.length ? `run without ${pinned.map((k) => `${k}=${process.env[k]}`).join(' ')}` : 'no OPENBLAS_CORETYPE set';
  if (denseOut.status !== 0 && pinned.length) {
    console.log(`numpy baseline failed without ${pinned.join(', ')} (exit ${denseOut.status ?? denseOut.signal}: ${denseOut.stdout.trim().slice(-300)}); running it again with them`);
    denseOut = runPython(process.env);
    envNote = `run with ${pinned.map((k) => `${k}=${process.env[k]}`).join(' ')} (it failed without)`;
  }
  if (denseOut.status !== 0) throw new Error(`numpy baseline failed (exit ${denseOut.status ?? denseOut.signal}): ${denseOut.stdout.trim().slice(-500)}`);
  const dense = JSON.parse(denseOut.stdout.trim().split('\n').pop()!);
  const b = dense.blas;
  console.log(`numpy BLAS: ${b.kind}${b.config ? ` (${b.config}; kernel ${b.corename}; ${b.threads} threads)` : ''}; ${envNote}; libraries: ${b.libraries.join(', ')}`);
  if (b.kind !== 'openblas') console.log('warning: numpy is not on OpenBLAS here (install libopenblas0-pthread), so the dense figure is inflated');
  const denseTotal = dense.layer_seconds * LAYERS, factoredTotal = dense.factored_layer_seconds * LAYERS;
  for (const s of dense.per_shape) console.log(`numpy ${s.shape.join('×')} (×${s.count} per layer): dense ${mode} SVD ${s.seconds.toFixed(2)} s, factored (QR + core SVD) ${s.factored_seconds.toFixed(3)} s, results agree to ${s.factored_vs_dense_max_rel_diff.toExponential(1)}`);
  console.log(`dense (numpy, ${mode} SVD): ${dense.layer_seconds.toFixed(1)} s per layer → ${denseTotal.toFixed(0)} s for ${LAYERS} layers, peak RSS ${dense.peak_rss_mb.toFixed(0)} MB (measured in ${((performance.now() - t) / 1000).toFixed(0)} s)`);
  console.log(`factored (numpy on LAPACK, compute only, inputs in memory, best of 3): ${dense.factored_layer_seconds.toFixed(2)} s per layer → ${factoredTotal.toFixed(1)} s for ${LAYERS} layers; graft's ${ours.seconds.toFixed(1)} s include reading and writing the files`);
  const fmt = (x: number, d = 2) => x.toFixed(d);
  // speedup_vs_dense: dense seconds / graft's; ratio_vs_factored_lapack: graft's seconds / numpy's
  // for the same algorithm (above 1: graft is that many times slower than LAPACK).
  console.log(`merge: seconds=${fmt(ours.seconds)} peak_rss_mb=${fmt(ours.peakRssMb, 0)} input_gb_s=${fmt(gbs, 3)} speedup_vs_dense=${fmt(denseTotal / ours.seconds, 1)} ratio_vs_factored_lapack=${fmt(ours.seconds / factoredTotal, 2)} memory_ratio_vs_dense=${fmt(dense.peak_rss_mb / ours.peakRssMb, 2)} blas=${b.kind}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
