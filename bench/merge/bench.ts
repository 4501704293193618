// bench-merge: 8 synthetic rank-16 adapters with 7B Llama shapes (32 layers; q, k, v, o 4096×4096;
// gate, up 11008×4096; down 4096×11008), merged to rank 16 with svd, against the dense approach
// (form ΔW, full SVD) on one layer with numpy, extrapolated to 32 layers. Prints figures only.
// Environment: GRAFT_BENCH_DIR (where the ~1.3 GB of inputs go; default the OS temp dir),
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
  const denseOut = spawnSync(python(), [join(here, 'dense_baseline.py'), String(ADAPTERS), String(RANK), mode, process.env.GRAFT_BENCH_DENSE_ALL ? 'all' : 'shapes'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (denseOut.status !== 0) throw new Error('dense baseline failed');
  const dense = JSON.parse(denseOut.stdout.trim().split('\n').pop()!);
  const denseTotal = dense.layer_seconds * LAYERS;
  for (const s of dense.per_shape) console.log(`dense ${mode} SVD ${s.shape.join('×')}: ${s.seconds.toFixed(2)} s (×${s.count} per layer)`);
  console.log(`dense (numpy, ${mode} SVD): ${dense.layer_seconds.toFixed(1)} s per layer → ${denseTotal.toFixed(0)} s for ${LAYERS} layers, peak RSS ${dense.peak_rss_mb.toFixed(0)} MB (measured in ${((performance.now() - t) / 1000).toFixed(0)} s)`);
  const fmt = (x: number, d = 2) => x.toFixed(d);
  console.log(`merge: seconds=${fmt(ours.seconds)} peak_rss_mb=${fmt(ours.peakRssMb, 0)} input_gb_s=${fmt(gbs, 3)} speedup_vs_dense=${fmt(denseTotal / ours.seconds, 1)} memory_ratio_vs_dense=${fmt(dense.peak_rss_mb / ours.peakRssMb, 2)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
