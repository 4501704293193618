// The agent's own CPU: one agent process, compiled as it ships and configured as a serving pod runs
// it (TLS with the key ring's certificate, bearer token, engine key file, S3 credentials from a
// mounted folder), against versitygw and llm-d-inference-sim, driven by the operator's own agent
// client (keep-alive pool, pinned certificate). Per run, a fresh agent, simulator and cache:
//   idle          20 s with no adapters, GET /v1/adapters every 2 s (the operator's recheck);
//   load          PUT N tiny adapters at concurrency 16 while GET /v1/adapters every 1 s (the
//                 operator's poll) until all are Loaded: CPU ms per load;
//   idle loaded   20 s with the N Loaded, GET every 2 s.
// CPU is utime + stime from /proc (worker threads included). Prints figures, asserts nothing.
// Run: make bench-agent. Environment: ADAPTERS (100), RUNS (3), IDLE_S (20), WARMUP_S (10: from the
// agent's first answer to the first idle phase), PROFILE=<dir> (the
// agent runs with --cpu-prof; the load phase's samples are summarized by category), AGENT_CLI (another
// compiled CLI to run, e.g. a copy of an earlier dist/ for before/after figures; default dist/).
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { AGENT_ENV } from '../../src/contracts/names.js';
import { AgentClient, type AgentTarget } from '../../src/controllers/adapter/agent-client.js';
import { KeyRing } from '../../src/security/keys.js';
import { Limiter } from '../../src/util/limiter.js';
import { startInferenceSim, type InferenceSim } from '../../test/support/inference-sim.js';
import { freePort, waitFor } from '../../test/support/ports.js';
import { Proc } from '../../test/support/process.js';
import { startVersityGw } from '../../test/support/versitygw.js';
import { loadProfiles, summarizeLoad, topFunctions } from '../common/cpu-profile.js';
import { loadAverage, procStats } from '../common/proc-stats.js';
import { median } from '../common/stats.js';
import { tinyAdapter } from '../common/tiny-adapter.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const N = Number(process.env.ADAPTERS ?? 100);
const RUNS = Number(process.env.RUNS ?? 3);
const IDLE_S = Number(process.env.IDLE_S ?? 20);
const WARMUP_S = Number(process.env.WARMUP_S ?? 10);
const PROFILE = process.env.PROFILE ? resolve(process.env.PROFILE) : undefined;
const CLI = resolve(repoRoot, process.env.AGENT_CLI ?? 'dist/cli/main.js');
const PUT_CONCURRENCY = 16;
const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

type RunResult = { cpuMsPerLoad: number; idleMsPerS: number; idleLoadedMsPerS: number; loadS: number; reloads: number; window?: [number, number]; spawnUs?: number; profDir?: string };

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`make build\` first (make bench-agent does)`);
  const gw = await startVersityGw({ buckets: ['adapters'] });
  const work = await mkdtemp(join(tmpdir(), 'graft-bench-agent-'));
  const bm = { namespace: 'default', name: 'gpt2' };
  const ring = new KeyRing(randomBytes(32));
  const client = new AgentClient({ keyRing: ring, timeoutMs: 10_000 });
  try {
    say(`agent: uploading ${N} tiny adapters`);
    const s3 = gw.client();
    const lim = new Limiter(16);
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      await lim.acquire();
      try {
        for (const [f, body] of tinyAdapter(i)) await s3.send(new PutObjectCommand({ Bucket: 'adapters', Key: `bench/a-${i}/${f}`, Body: body }));
      } finally { lim.release(); }
    }));
    s3.destroy();

    // The pod's mounted Secrets, as files.
    const secrets = join(work, 'secrets');
    await mkdir(join(secrets, 's3'), { recursive: true });
    const tls = ring.agentTls(bm);
    await writeFile(join(secrets, 'token'), ring.agentToken(bm));
    await writeFile(join(secrets, 'engine-key'), ring.engineKey(bm));
    await writeFile(join(secrets, 'tls.crt'), tls.certPem);
    await writeFile(join(secrets, 'tls.key'), tls.keyPem);
    await writeFile(join(secrets, 's3', 'AWS_ACCESS_KEY_ID'), gw.accessKey);
    await writeFile(join(secrets, 's3', 'AWS_SECRET_ACCESS_KEY'), gw.secretKey);

    const results: RunResult[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const r = await oneRun(run, { work, secrets, gwEndpoint: gw.endpoint, client, bm });
      results.push(r);
      say(`agent: run ${run}: loads=${N} load_s=${r.loadS.toFixed(1)} cpu_ms_per_load=${r.cpuMsPerLoad.toFixed(2)} idle_cpu_ms_per_s=${r.idleMsPerS.toFixed(2)} idle_loaded_cpu_ms_per_s=${r.idleLoadedMsPerS.toFixed(2)} reloads=${r.reloads} (load average ${loadAverage()})`);
    }
    if (PROFILE) {
      const last = results.at(-1)!;
      const profiles = await loadProfiles(last.profDir!);
      say('agent: profile: the CPU figures above include the profiler\'s own cost (its sampling thread); take them from a run without PROFILE');
      for (const line of summarizeLoad(profiles, last.window!, last.cpuMsPerLoad * N)) say(`agent: profile: ${line}`);
      say('agent: profile: heaviest functions by self time in the load phase:');
      for (const line of topFunctions(profiles, last.window!)) say(`agent: profile: ${line}`);
      const main = profiles.find((p) => p.thread === 0)?.profile;
      // The window is in the bench's monotonic clock; the profile's in the agent's (the same one on Linux).
      if (main) say(`agent: profile: main thread profiled from ${((main.startTime - last.spawnUs!) / 1e6).toFixed(2)} s after spawn to ${((main.endTime - last.spawnUs!) / 1e6).toFixed(2)} s; load window ${((last.window![0] - last.spawnUs!) / 1e6).toFixed(2)}-${((last.window![1] - last.spawnUs!) / 1e6).toFixed(2)} s`);
      say(`agent: profiles in ${last.profDir}`);
    }
    const m = (f: (r: RunResult) => number) => median(results.map(f)).toFixed(2);
    say(`agent: loads=${N} cpu_ms_per_load=${m((r) => r.cpuMsPerLoad)} idle_cpu_ms_per_s=${m((r) => r.idleMsPerS)} idle_loaded_cpu_ms_per_s=${m((r) => r.idleLoadedMsPerS)} runs=${RUNS} (medians; load average ${loadAverage()})`);
  } finally {
    client.close();
    await gw.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function oneRun(run: number, o: { work: string; secrets: string; gwEndpoint: string; client: AgentClient; bm: { namespace: string; name: string } }): Promise<RunResult> {
  const cacheDir = join(o.work, `cache-${run}`);
  await mkdir(cacheDir);
  const sim: InferenceSim = await startInferenceSim({ model: 'gpt2', maxLoras: 4, maxCpuLoras: N + 8 });
  const port = await freePort();
  const profDir = PROFILE ? join(PROFILE, `run-${run}`) : undefined;
  if (profDir) { await rm(profDir, { recursive: true, force: true }); await mkdir(profDir, { recursive: true }); }
  // As src/controllers/basemodel/deployment.ts sets the agent container (defaults: agentTLS and
  // engineAPIKey on), and as the image starts node (Dockerfile: --enable-source-maps, NODE_ENV).
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    [AGENT_ENV.podName]: 'gpt2-bench-0',
    [AGENT_ENV.host]: '127.0.0.1',
    [AGENT_ENV.port]: String(port),
    [AGENT_ENV.tokenFile]: join(o.secrets, 'token'),
    [AGENT_ENV.cacheDir]: cacheDir,
    [AGENT_ENV.engine]: 'vllm',
    [AGENT_ENV.engineUrl]: sim.url,
    GRAFT_AGENT_MAX_LORA_RANK: '16',
    [AGENT_ENV.tlsCertFile]: join(o.secrets, 'tls.crt'),
    [AGENT_ENV.tlsKeyFile]: join(o.secrets, 'tls.key'),
    [AGENT_ENV.engineKeyFile]: join(o.secrets, 'engine-key'),
    GRAFT_AGENT_BASE_MODEL: 'gpt2',
    GRAFT_S3_ENDPOINT: o.gwEndpoint,
    GRAFT_S3_FORCE_PATH_STYLE: 'true',
    GRAFT_S3_CREDENTIALS_DIR: join(o.secrets, 's3'),
    AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true',
  };
  const nodeArgs = ['--enable-source-maps', ...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [])];
  const spawnUs = nowUs();
  const agent = new Proc('agent', process.execPath, [...nodeArgs, CLI, 'agent'], { cwd: repoRoot, env });
  const target: AgentTarget = { pod: 'gpt2-bench-0', address: '127.0.0.1', baseModel: o.bm, tls: true, port };
  const signal = new AbortController().signal;
  try {
    await waitFor('agent to list adapters', async () => {
      if (!agent.running) throw new Error(`agent exited:\n${agent.output.slice(-3000)}`);
      await o.client.list(target, signal);
      return true;
    }, 60_000, 200);
    // Start-up work out of the figures: module loading, the first reconcile, and what follows them
    // (V8 compiling hot code on its background threads, the collection of start-up garbage), which
    // showed as up to 8 ms a second in an idle phase begun 2 s after the first answer.
    await sleep(WARMUP_S * 1000);
    const pid = agent.child.pid!;
    const cpu = () => procStats(pid).cpuS * 1000;

    const idle = async (): Promise<number> => {
      const c0 = cpu(), t0 = Date.now();
      while (Date.now() - t0 < IDLE_S * 1000) {
        await o.client.list(target, signal);
        await sleep(2_000);
      }
      return (cpu() - c0) / ((Date.now() - t0) / 1000);
    };

    const idleMsPerS = await idle();

    const c0 = cpu(), w0 = nowUs(), t0 = Date.now();
    const lim = new Limiter(PUT_CONCURRENCY);
    let polling = true;
    let loaded = 0;
    const poll = (async () => {
      while (polling) {
        const list = await o.client.list(target, signal);
        loaded = [...list.values()].filter((a) => a.state === 'Loaded').length;
        const failed = [...list.values()].filter((a) => a.state === 'Failed');
        if (failed.length) throw new Error(`adapters failed: ${JSON.stringify(failed.slice(0, 3))}`);
        if (loaded === N) return;
        await sleep(1_000);
      }
    })();
    await Promise.all(Array.from({ length: N }, async (_, i) => {
      await lim.acquire();
      try { await o.client.put(target, `a-${i}`, { source: `s3://adapters/bench/a-${i}/` }, signal); } finally { lim.release(); }
    }));
    await Promise.race([poll, sleep(600_000).then(() => { throw new Error(`only ${loaded}/${N} Loaded after 600 s`); })]);
    polling = false;
    const loadS = (Date.now() - t0) / 1000;
    const cpuMsPerLoad = (cpu() - c0) / N;
    const w1 = nowUs();

    const idleLoadedMsPerS = await idle();
    const sims = await sim.loras();
    if (sims.length !== N) throw new Error(`the simulator holds ${sims.length} adapters, not ${N}`);
    // Loads the agent made again because it thought the engine had lost an adapter (it had not).
    const reloads = agent.output.split('engine lost the adapter').length - 1;
    return { cpuMsPerLoad, idleMsPerS, idleLoadedMsPerS, loadS, reloads, window: [w0, w1], spawnUs, profDir };
  } finally {
    await agent.stop(10_000);
    if (agent.child.exitCode !== 0 && agent.child.signalCode !== null) say(`agent: the agent did not stop cleanly:\n${agent.output.slice(-2000)}`);
    await sim.stop();
    if (profDir && (await readdir(profDir)).length === 0) say('agent: no profile was written');
  }
}

// Exits when done: tsx's esbuild service and the SDK's sockets would keep the process alive.
main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
