import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { silentLogger } from '../util/log.js';
import { Proc } from './proc.js';
import { rawRequest } from './raw.js';
import { freePort, waitFor } from './wait.js';

// The kubelet's other half in the sandbox. KWOK marks serving pods Running with a loopback IP;
// this runner starts what the pod would run: the graft agent bound to the pod's own address
// (127.0.x.y:8095, as in a cluster) and an llm-d-inference-sim process as the engine. The
// simulator has no bind-address flag and listens on every interface, so each pod's engine gets its
// own port, and the pod's agent is pointed at it (in a cluster both share localhost:8000).

type Obj = Record<string, any>;

export type PodRunnerOptions = {
  kubeConfig: KubeConfig;
  simBinary: string;
  // How to run `graft`: [node, dist/cli/main.js] after `make build`, or [tsx, src/cli/main.ts].
  graftCommand: string[];
  workDir: string;
  pollMs?: number;
  logger?: Logger;
  // Extra environment for every agent (the S3 endpoint of the sandbox, for instance).
  agentEnv?: NodeJS.ProcessEnv;
};

export type RunningPod = {
  key: string;
  uid: string;
  ip: string;
  baseModel: string;
  agentUrl: string;
  engineUrl: string;
  enginePort: number;
  agent: Proc;
  engine: Proc;
};

const AGENT_PORT = 8095;

export class PodRunner {
  readonly pods = new Map<string, RunningPod>();
  private timer?: NodeJS.Timeout;
  private busy = false;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly opts: PodRunnerOptions) {
    this.log = opts.logger ?? silentLogger;
  }

  start(): void {
    const tick = async () => {
      if (this.busy || this.stopped) return;
      this.busy = true;
      try { await this.sync(); } catch (err) { this.log.warn({ err: String(err) }, 'pod runner sync failed'); }
      this.busy = false;
    };
    void tick();
    this.timer = setInterval(tick, this.opts.pollMs ?? 500);
  }

  // One pass: start what is missing, stop what is gone.
  async sync(): Promise<void> {
    const res = await rawRequest(this.opts.kubeConfig, 'GET', '/api/v1/pods?labelSelector=graft.dev%2Fbasemodel');
    if (res.status !== 200) throw new Error(`listing pods: HTTP ${res.status}`);
    const wanted = new Map<string, Obj>();
    for (const p of (res.body as Obj).items as Obj[]) {
      const running = p.status?.phase === 'Running' && p.status?.podIP && !p.metadata.deletionTimestamp;
      const crashing = (p.status?.containerStatuses ?? []).some((c: Obj) => c.state?.waiting);
      if (running && !crashing) wanted.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
    }
    for (const [key, rp] of this.pods) {
      const p = wanted.get(key);
      if (!p || p.metadata.uid !== rp.uid) await this.stopPod(key);
    }
    for (const [key, p] of wanted) {
      if (!this.pods.has(key)) await this.startPod(key, p).catch((err) => this.log.warn({ pod: key, err: String(err) }, 'could not start pod processes'));
    }
  }

  private async startPod(key: string, pod: Obj): Promise<void> {
    const ns = pod.metadata.namespace, bmName = pod.metadata.labels['graft.dev/basemodel'];
    const bmRes = await rawRequest(this.opts.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${ns}/basemodels/${bmName}`);
    if (bmRes.status !== 200) return;
    const bm = bmRes.body as Obj;
    const tokenRes = await rawRequest(this.opts.kubeConfig, 'GET', `/api/v1/namespaces/${ns}/secrets/${bmName}-agent-token`);
    if (tokenRes.status !== 200) return;
    const dir = join(this.opts.workDir, ns, pod.metadata.name);
    await mkdir(join(dir, 'cache'), { recursive: true });
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, Buffer.from((tokenRes.body as Obj).data.token, 'base64'), { mode: 0o600 });

    const agentContainer = (pod.spec.initContainers ?? []).find((c: Obj) => c.name === 'graft-agent');
    const env: NodeJS.ProcessEnv = { ...this.opts.agentEnv };
    for (const e of agentContainer?.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const credsRef = bm.spec.storage?.s3?.credentialsSecretRef?.name;
    if (credsRef) {
      const creds = await rawRequest(this.opts.kubeConfig, 'GET', `/api/v1/namespaces/${ns}/secrets/${credsRef}`);
      if (creds.status === 200) {
        await mkdir(join(dir, 's3'), { recursive: true });
        for (const [k, v] of Object.entries((creds.body as Obj).data ?? {})) await writeFile(join(dir, 's3', k), Buffer.from(v as string, 'base64'), { mode: 0o600 });
        env.GRAFT_S3_CREDENTIALS_DIR = join(dir, 's3');
      }
    }

    const enginePort = await freePort();
    const engine = bm.spec.engine ?? {};
    const a = bm.spec.adapters ?? {};
    const maxCpu = a.maxCpuLoaded ?? a.maxPerPod ?? 8;
    const servedName = bm.spec.model?.name ?? bmName;
    const sim = new Proc(`engine ${key}`, this.opts.simBinary, [
      '--port', String(enginePort), '--model', servedName, '--force-dummy-tokenizer',
      '--max-loras', String(a.maxLoaded ?? Math.min(4, maxCpu)), '--max-cpu-loras', String(maxCpu),
    ]);
    const ip = pod.status.podIP as string;
    const [cmd, ...args] = this.opts.graftCommand;
    const agent = new Proc(`agent ${key}`, cmd, [...args, 'agent'], {
      env: {
        ...env,
        GRAFT_AGENT_HOST: ip, GRAFT_AGENT_PORT: String(AGENT_PORT), GRAFT_AGENT_TOKEN_FILE: tokenFile,
        GRAFT_AGENT_CACHE_DIR: join(dir, 'cache'), GRAFT_AGENT_ENGINE: engine.type ?? 'vllm',
        GRAFT_AGENT_ENGINE_URL: `http://127.0.0.1:${enginePort}`,
      },
    });
    const rp: RunningPod = {
      key, uid: pod.metadata.uid, ip, baseModel: bmName, enginePort, agent, engine: sim,
      agentUrl: `http://${ip}:${AGENT_PORT}`, engineUrl: `http://127.0.0.1:${enginePort}`,
    };
    this.pods.set(key, rp);
    this.log.info({ pod: key, ip, enginePort }, 'started agent and engine simulator');
  }

  private async stopPod(key: string): Promise<void> {
    const rp = this.pods.get(key);
    if (!rp) return;
    this.pods.delete(key);
    await Promise.all([rp.agent.stop(5_000), rp.engine.stop(5_000)]);
    const [ns, name] = key.split('/');
    await rm(join(this.opts.workDir, ns, name), { recursive: true, force: true });
    this.log.info({ pod: key }, 'stopped agent and engine simulator');
  }

  // The folder holding a pod's agent cache and token.
  workDirOf(key: string): string {
    const [ns, name] = key.split('/');
    return join(this.opts.workDir, ns, name);
  }

  // Kills a pod's engine and starts it again on the same port: an engine restart, which forgets
  // every loaded adapter.
  async restartEngine(key: string): Promise<void> {
    const rp = this.pods.get(key);
    if (!rp) throw new Error(`no running pod ${key}`);
    await rp.engine.kill();
    rp.engine = new Proc(rp.engine.name, rp.engine.cmd, rp.engine.args, rp.engine.opts);
    await waitFor(`engine of ${key}`, async () => (await fetch(`${rp.engineUrl}/v1/models`)).ok, 30_000, 100);
  }

  // Waits until every running pod's agent answers /healthz.
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor('pod agents healthy', async () => {
      for (const rp of this.pods.values()) {
        if (!rp.agent.running) return false;
        const r = await fetch(`${rp.agentUrl}/healthz`).catch(() => undefined);
        if (!r?.ok) return false;
      }
      return true;
    }, timeoutMs, 200);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 50));
    for (const key of [...this.pods.keys()]) await this.stopPod(key);
  }
}

// The command that runs `graft` from this checkout: the TypeScript source (tests: always what is in
// src/), or the compiled CLI (`make build`; quicker to start, used by the demo and benchmarks).
export function graftCommand(repoRoot: string, from: 'source' | 'compiled' = 'source'): string[] {
  if (from === 'compiled') {
    const compiled = join(repoRoot, 'dist', 'cli', 'main.js');
    if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`make build\` first`);
    return [process.execPath, compiled];
  }
  return [process.execPath, '--import', 'tsx', join(repoRoot, 'src', 'cli', 'main.ts')];
}
