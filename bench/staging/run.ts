// Staging benchmark: the agent's downloader against s5cmd, the AWS CLI and a naive single-stream
// GetObject, on one versitygw with the same data: one 1 GiB file, and 64 files of 16 MiB.
// Prints figures, never asserts. Run: make bench-staging (or node --import tsx bench/staging/run.ts).
// `agent` is the downloader compiled by tsc, as the agent ships (bin/graft runs dist/);
// `agent-tsx` is the same source run through tsx, as the tests run it.
// Environment: BENCH_STAGING_REPEATS (default 2; the best run counts), BENCH_STAGING_PART_SIZE,
// BENCH_STAGING_CONCURRENCY (the agent's settings; defaults are the agent's defaults),
// BENCH_STAGING_TOOLS (a comma-separated subset of agent,agent-tsx,s5cmd,aws,naive).
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE } from '../../src/storage/download.js';
import { putFile } from '../../src/storage/s3-objects.js';
import { compileChild } from './compile-child.js';
import { startVersityGw } from '../../test/support/versitygw.js';
import { toolPath } from '../../test/support/tools.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;
const REPEATS = Number(process.env.BENCH_STAGING_REPEATS ?? 2);
const PART = Number(process.env.BENCH_STAGING_PART_SIZE ?? DEFAULT_PART_SIZE);
const CONC = Number(process.env.BENCH_STAGING_CONCURRENCY ?? DEFAULT_CONCURRENCY);

type Shape = 'large' | 'small';
const TOOLS = ['agent', 'agent-tsx', 's5cmd', 'aws', 'naive'] as const;
type Tool = typeof TOOLS[number];
const tools: Tool[] = (process.env.BENCH_STAGING_TOOLS?.split(',') ?? [...TOOLS]).map((t) => {
  if (!(TOOLS as readonly string[]).includes(t)) throw new Error(`BENCH_STAGING_TOOLS: unknown tool "${t}"; pick from ${TOOLS.join(', ')}`);
  return t as Tool;
});

async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  const buf = Buffer.allocUnsafe(16 * MiB);
  for (let off = 0; off < size; off += buf.length) {
    randomFillSync(buf);
    await fh.write(buf, 0, Math.min(buf.length, size - off), off);
  }
  await fh.close();
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  }
  return n;
}

async function main(): Promise<void> {
  const gw = await startVersityGw({ buckets: ['bench'] });
  const work = await mkdtemp(join(tmpdir(), 'graft-bench-staging-'));
  const env = { ...process.env, ...gw.env(), S3_ENDPOINT_URL: gw.endpoint, AWS_EC2_METADATA_DISABLED: 'true' };
  const client = gw.client();
  const s5cmd = toolPath('s5cmd');
  try {
    const compiledChild = tools.includes('agent') ? await compileChild(repoRoot) : '';
    // The data: written once, uploaded, and the local copies dropped.
    process.stdout.write('preparing data: 1 x 1 GiB and 64 x 16 MiB...\n');
    const src = join(work, 'src');
    await mkdir(src);
    await writeRandomFile(join(src, 'large.bin'), 1024 * MiB);
    await putFile(client, 'bench', 'large/large.bin', join(src, 'large.bin'));
    await rm(join(src, 'large.bin'));
    for (let i = 0; i < 64; i++) {
      const f = join(src, `small-${i}.bin`);
      await writeRandomFile(f, 16 * MiB);
      await putFile(client, 'bench', `small/part-${String(i).padStart(2, '0')}.bin`, f);
      await rm(f);
    }
    const totals: Record<Shape, number> = { large: 1024 * MiB, small: 64 * 16 * MiB };

    const peakRssKb: Partial<Record<Tool, number>> = {};
    const once = async (tool: Tool, shape: Shape): Promise<number> => {
      const dest = join(work, `dest-${tool}-${shape}`);
      await rm(dest, { recursive: true, force: true });
      await mkdir(dest);
      const t0 = process.hrtime.bigint();
      let seconds: number;
      if (tool === 'agent' || tool === 'agent-tsx' || tool === 'naive') {
        const child = tool === 'agent' ? [compiledChild] : ['--import', 'tsx', join(repoRoot, 'bench/staging/download-child.ts')];
        const mode = tool === 'naive' ? 'naive' : 'agent';
        const { stdout } = await run(process.execPath, [...child, mode, 'bench', `${shape}/`, dest, String(PART), String(CONC)], { env, cwd: repoRoot, maxBuffer: 1 << 20 });
        const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { bytes: number; seconds: number; maxRssKb: number };
        seconds = r.seconds;
        peakRssKb[tool] = Math.max(peakRssKb[tool] ?? 0, r.maxRssKb);
      } else {
        if (tool === 's5cmd') await run(s5cmd, ['--endpoint-url', gw.endpoint, 'cp', `s3://bench/${shape}/*`, `${dest}/`], { env, maxBuffer: 16 << 20 });
        else await run('aws', ['s3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', gw.endpoint, `s3://bench/${shape}/`, dest], { env, maxBuffer: 16 << 20 });
        seconds = Number(process.hrtime.bigint() - t0) / 1e9; // the process, startup included
      }
      const got = await dirBytes(dest);
      await rm(dest, { recursive: true, force: true });
      if (got !== totals[shape]) throw new Error(`${tool} ${shape}: wrote ${got} bytes, expected ${totals[shape]}`);
      return totals[shape] / 1e6 / seconds;
    };

    const ratio = (a: number, b: number) => (a > 0 && b > 0 ? (a / b).toFixed(2) : 'n/a');
    const best = Object.fromEntries(TOOLS.map((t) => [t, { large: 0, small: 0 }])) as Record<Tool, Record<Shape, number>>;
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const shape of ['large', 'small'] as const) {
        for (const tool of tools) {
          const mbs = await once(tool, shape);
          best[tool][shape] = Math.max(best[tool][shape], mbs);
          process.stdout.write(`  run ${rep + 1}: ${tool.padEnd(9)} ${shape.padEnd(5)} ${mbs.toFixed(1).padStart(8)} MB/s\n`);
        }
      }
    }

    process.stdout.write(`\nbest of ${REPEATS} (MB/s = 10^6 bytes/s; agent part size ${PART / MiB} MiB, concurrency ${CONC}):\n`);
    process.stdout.write(`  ${'tool'.padEnd(10)} ${'large'.padStart(10)} ${'small'.padStart(10)} ${'large/s5cmd'.padStart(12)} ${'small/s5cmd'.padStart(12)}\n`);
    for (const t of tools) {
      const r = best[t];
      process.stdout.write(`  ${t.padEnd(10)} ${r.large.toFixed(1).padStart(10)} ${r.small.toFixed(1).padStart(10)} ${ratio(r.large, best.s5cmd.large).padStart(12)} ${ratio(r.small, best.s5cmd.small).padStart(12)}\n`);
    }
    const mb = (kb: number | undefined) => (kb === undefined ? 'n/a' : String(Math.round(kb / 1024)));
    process.stdout.write(`  peak RSS: agent ${mb(peakRssKb.agent)} MB, agent-tsx ${mb(peakRssKb['agent-tsx'])} MB\n`);
    process.stdout.write(`staging: agent/s5cmd large=${ratio(best.agent.large, best.s5cmd.large)} small=${ratio(best.agent.small, best.s5cmd.small)} `
      + `agent/aws large=${ratio(best.agent.large, best.aws.large)} small=${ratio(best.agent.small, best.aws.small)} peak_rss_mb=${mb(peakRssKb.agent)} `
      + `agent_tsx/s5cmd large=${ratio(best['agent-tsx'].large, best.s5cmd.large)} small=${ratio(best['agent-tsx'].small, best.s5cmd.small)} tsx_peak_rss_mb=${mb(peakRssKb['agent-tsx'])}\n`);
  } finally {
    client.destroy();
    await gw.stop(); // removes the server's data
    await rm(work, { recursive: true, force: true });
  }
}

await main();
