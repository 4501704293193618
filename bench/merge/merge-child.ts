// One measured merge in its own process (so peak RSS is the merge's): prints a JSON line.
import { runMerge } from '../../src/merge/merge.js';

const [out, rank, ...inputs] = process.argv.slice(2);
const workers = process.env.GRAFT_BENCH_WORKERS ? Number(process.env.GRAFT_BENCH_WORKERS) : undefined;
const s = await runMerge({ method: 'svd', rank: Number(rank), inputs, out, workers });
process.stdout.write(`${JSON.stringify({
  seconds: s.seconds, inputBytes: s.inputBytes, modules: s.modules, truncationRelative: s.truncationError.relative,
  peakRssMb: process.resourceUsage().maxRSS / 1024,
})}\n`);
