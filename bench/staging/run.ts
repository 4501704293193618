// Staging benchmark: the agent's downloader against s5cmd, s5cmd followed by sha256sum (the same
// work the agent does: download, then a digest of every file), the AWS CLI and a naive
// single-stream GetObject, on one versitygw with the same data: one 1 GiB file, and 64 files of
// 16 MiB. Prints figures, never asserts. Run: make bench-staging (or node --import tsx bench/staging/run.ts).
// `agent` is the downloader as it ships: compiled with tsconfig.build.json (what `make build` and the
// image compile), run by plain node with the image's flag and env (--enable-source-maps,
// NODE_ENV=production); `agent-tsx` is the same source run through tsx, as the tests run it.
// Every repeat runs the tools in a rotated order (no tool always runs first, after the data was
// written), and the median of the repeats counts.
// Environment: BENCH_STAGING_REPEATS (default 3), BENCH_STAGING_PART_SIZE,
// BENCH_STAGING_CONCURRENCY (the agent's settings; defaults are the agent's defaults),
// BENCH_STAGING_TOOLS (a comma-separated subset of the tools below), BENCH_STAGING_SHAPES (large,small),
// BENCH_STAGING_ORDER=fixed (every repeat in the order of BENCH_STAGING_TOOLS, as this bench ran before:
// for showing what the order does).
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE } from '../../src/storage/download.js';
import { putFile } from '../../src/storage/s3-objects.js';
import { startVersityGw } from '../../test/support/versitygw.js';
import { toolPath } from '../../test/support/tools.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;
const REPEATS = Number(process.env.BENCH_STAGING_REPEATS ?? 3);
const PART = Number(process.env.BENCH_STAGING_PART_SIZE ?? DEFAULT_PART_SIZE);
const CONC = Number(process.env.BENCH_STAGING_CONCURRENCY ?? DEFAULT_CONCURRENCY);
const CHILD = join(repoRoot, 'bench', 'staging', 'download-child.mjs');

type Shape = 'large' | 'small';
const SHAPES = (process.env.BENCH_STAGING_SHAPES?.split(',') ?? ['large', 'small']).map((s) => {
  if (s !== 'large' && s !== 'small') throw new Error(`BENCH_STAGING_SHAPES: unknown shape "${s}"; pick from large, small`);
  return s as Shape;
});
// agent-plain: the compiled agent without the image's flag and env (for telling their cost apart).
// s5cmd-openssl: s5cmd then `openssl dgst -sha256` (coreutils' sha256sum may not use the CPU's SHA
// instructions, which the agent's OpenSSL does).
const TOOLS = ['agent', 'agent-tsx', 's5cmd', 's5cmd-verified', 's5cmd-openssl', 'aws', 'naive', 'agent-plain'] as const;
const DEFAULT_TOOLS: Tool[] = ['agent', 'agent-tsx', 's5cmd', 's5cmd-verified', 's5cmd-openssl', 'aws', 'naive'];
type Tool = typeof TOOLS[number];
const tools: Tool[] = (process.env.BENCH_STAGING_TOOLS?.split(',') ?? DEFAULT_TOOLS).map((t) => {
  if (!(TOOLS as readonly string[]).includes(t)) throw new Error(`BENCH_STAGING_TOOLS: unknown tool "${t}"; pick from ${TOOLS.join(', ')}`);
  return t as Tool;
});

// The agent's modules compiled exactly as `make build` compiles them (tsconfig.build.json), into a
// folder of the bench's own so a concurrent `make build` is not disturbed.
async function compileAsShipped(): Promise<string> {
  const out = join(repoRoot, '.tmp', 'bench-staging', 'dist');
  await rm(out, { recursive: true, force: true });
  await run(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', out], { cwd: repoRoot, maxBuffer: 16 << 20 });
  return out;
}

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

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true, recursive: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
}

const median = (xs: number[]) => { if (!xs.length) return 0; const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const gw = await startVersityGw({ buckets: ['bench'] });
  const work = await mkdtemp(join(tmpdir(), 'graft-bench-staging-'));
  const env = { ...process.env, ...gw.env(), S3_ENDPOINT_URL: gw.endpoint, AWS_EC2_METADATA_DISABLED: 'true' };
  const client = gw.client();
  const s5cmd = toolPath('s5cmd');
  try {
    const dist = tools.some((t) => t === 'agent' || t === 'agent-plain') ? await compileAsShipped() : '';
    // The data: written once, uploaded, and the local copies dropped.
    process.stdout.write('preparing data: 1 x 1 GiB and 64 x 16 MiB...\n');
    const src = join(work, 'src');
    await mkdir(src);
    if (SHAPES.includes('large')) {
      await writeRandomFile(join(src, 'large.bin'), 1024 * MiB);
      await putFile(client, 'bench', 'large/large.bin', join(src, 'large.bin'));
      await rm(join(src, 'large.bin'));
    }
    for (let i = 0; i < (SHAPES.includes('small') ? 64 : 0); i++) {
      const f = join(src, `small-${i}.bin`);
      await writeRandomFile(f, 16 * MiB);
      await putFile(client, 'bench', `small/part-${String(i).padStart(2, '0')}.bin`, f);
      await rm(f);
    }
    const totals: Record<Shape, number> = { large: 1024 * MiB, small: 64 * 16 * MiB };

    const peakRssKb: Partial<Record<Tool, number>> = {};
    const once = async (tool: Tool, shape: Shape): Promise<{ mbs: number; cpuS?: number }> => {
      const dest = join(work, `dest-${tool}-${shape}`);
      await rm(dest, { recursive: true, force: true });
      await mkdir(dest);
      // Every run starts with nothing dirty in the page cache (the data just written, the last
      // run's files): no tool pays for another's writeback.
      await run('sync', []);
      const t0 = process.hrtime.bigint();
      let seconds: number;
      let cpuS: number | undefined;
      if (tool === 'agent' || tool === 'agent-plain' || tool === 'agent-tsx' || tool === 'naive') {
        // The image: ENTRYPOINT node --enable-source-maps, ENV NODE_ENV=production (Dockerfile).
        const asShipped = tool === 'agent';
        const node = tool === 'agent-tsx' || tool === 'naive' ? ['--import', 'tsx'] : asShipped ? ['--enable-source-maps'] : [];
        const modules = tool === 'agent-tsx' || tool === 'naive' ? join(repoRoot, 'src') : dist;
        const mode = tool === 'naive' ? 'naive' : 'agent';
        const { stdout } = await run(process.execPath, [...node, CHILD, mode, modules, 'bench', `${shape}/`, dest, String(PART), String(CONC)], {
          env: asShipped ? { ...env, NODE_ENV: 'production' } : env, cwd: repoRoot, maxBuffer: 1 << 20,
        });
        const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { bytes: number; seconds: number; cpuSeconds: number; maxRssKb: number };
        seconds = r.seconds;
        cpuS = r.cpuSeconds;
        peakRssKb[tool] = Math.max(peakRssKb[tool] ?? 0, r.maxRssKb);
      } else {
        if (tool === 's5cmd' || tool === 's5cmd-verified' || tool === 's5cmd-openssl') {
          await run(s5cmd, ['--endpoint-url', gw.endpoint, 'cp', `s3://bench/${shape}/*`, `${dest}/`], { env, maxBuffer: 16 << 20 });
          // What the agent also does: a sha256 of every file written (one sha256sum over them all).
          if (tool === 's5cmd-verified') await run('sha256sum', await filesUnder(dest), { maxBuffer: 16 << 20 });
          if (tool === 's5cmd-openssl') await run('openssl', ['dgst', '-sha256', ...await filesUnder(dest)], { maxBuffer: 16 << 20 });
        } else await run('aws', ['s3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', gw.endpoint, `s3://bench/${shape}/`, dest], { env, maxBuffer: 16 << 20 });
        seconds = Number(process.hrtime.bigint() - t0) / 1e9; // the process, startup included
      }
      const got = await dirBytes(dest);
      await rm(dest, { recursive: true, force: true });
      if (got !== totals[shape]) throw new Error(`${tool} ${shape}: wrote ${got} bytes, expected ${totals[shape]}`);
      return { mbs: totals[shape] / 1e6 / seconds, cpuS };
    };

    const ratio = (a: number, b: number) => (a > 0 && b > 0 ? (a / b).toFixed(2) : 'n/a');
    const runs = Object.fromEntries(TOOLS.map((t) => [t, { large: [] as number[], small: [] as number[] }])) as Record<Tool, Record<Shape, number[]>>;
    const cpu = Object.fromEntries(TOOLS.map((t) => [t, { large: [] as number[], small: [] as number[] }])) as Record<Tool, Record<Shape, number[]>>;
    process.stdout.write(`load average before: ${load()}\n`);
    for (let rep = 0; rep < REPEATS; rep++) {
      const shift = process.env.BENCH_STAGING_ORDER === 'fixed' ? 0 : rep % tools.length;
      const order = [...tools.slice(shift), ...tools.slice(0, shift)];
      for (const shape of SHAPES) {
        for (const tool of order) {
          const { mbs, cpuS } = await once(tool, shape);
          runs[tool][shape].push(mbs);
          if (cpuS !== undefined) cpu[tool][shape].push(cpuS);
          process.stdout.write(`  run ${rep + 1}: ${tool.padEnd(14)} ${shape.padEnd(5)} ${mbs.toFixed(1).padStart(8)} MB/s${cpuS === undefined ? '' : ` ${cpuS.toFixed(2).padStart(6)} CPU-s`}\n`);
        }
      }
      process.stdout.write(`  load average after run ${rep + 1}: ${load()}\n`);
    }
    const med = Object.fromEntries(TOOLS.map((t) => [t, { large: median(runs[t].large), small: median(runs[t].small) }])) as Record<Tool, Record<Shape, number>>;

    process.stdout.write(`\nmedian of ${REPEATS} (MB/s = 10^6 bytes/s; agent part size ${PART / MiB} MiB, concurrency ${CONC}):\n`);
    process.stdout.write(`  ${'tool'.padEnd(15)} ${'large'.padStart(10)} ${'small'.padStart(10)} ${'large/s5cmd'.padStart(12)} ${'small/s5cmd'.padStart(12)} ${'CPU-s large'.padStart(12)} ${'CPU-s small'.padStart(12)}\n`);
    const cpuOf = (t: Tool, s: Shape) => (cpu[t][s].length ? median(cpu[t][s]).toFixed(2) : '-');
    for (const t of tools) {
      const r = med[t];
      process.stdout.write(`  ${t.padEnd(15)} ${r.large.toFixed(1).padStart(10)} ${r.small.toFixed(1).padStart(10)} ${ratio(r.large, med.s5cmd.large).padStart(12)} ${ratio(r.small, med.s5cmd.small).padStart(12)} ${cpuOf(t, 'large').padStart(12)} ${cpuOf(t, 'small').padStart(12)}\n`);
    }
    const mb = (kb: number | undefined) => (kb === undefined ? 'n/a' : String(Math.round(kb / 1024)));
    process.stdout.write(`  peak RSS: agent ${mb(peakRssKb.agent)} MB, agent-tsx ${mb(peakRssKb['agent-tsx'])} MB; load average at the end: ${load()}\n`);
    const openssl = tools.includes('s5cmd-openssl') ? ` agent/s5cmd_openssl large=${ratio(med.agent.large, med['s5cmd-openssl'].large)} small=${ratio(med.agent.small, med['s5cmd-openssl'].small)}` : '';
    const plain = tools.includes('agent-plain') ? ` agent_plain/s5cmd large=${ratio(med['agent-plain'].large, med.s5cmd.large)} small=${ratio(med['agent-plain'].small, med.s5cmd.small)}` : '';
    process.stdout.write(`staging: agent/s5cmd large=${ratio(med.agent.large, med.s5cmd.large)} small=${ratio(med.agent.small, med.s5cmd.small)} `
      + `agent/s5cmd_verified large=${ratio(med.agent.large, med['s5cmd-verified'].large)} small=${ratio(med.agent.small, med['s5cmd-verified'].small)} `
      + `agent/aws large=${ratio(med.agent.large, med.aws.large)} small=${ratio(med.agent.small, med.aws.small)} peak_rss_mb=${mb(peakRssKb.agent)} `
      + `agent_tsx/s5cmd large=${ratio(med['agent-tsx'].large, med.s5cmd.large)} small=${ratio(med['agent-tsx'].small, med.s5cmd.small)} tsx_peak_rss_mb=${mb(peakRssKb['agent-tsx'])}${openssl}${plain} repeats=${REPEATS}\n`);
  } finally {
    client.destroy();
    await gw.stop(); // removes the server's data
    await rm(work, { recursive: true, force: true });
  }
}

await main();
