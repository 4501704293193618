import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AGENT_ENV, AGENT_PORT, LABEL_BASEMODEL } from '../contracts/names.js';
import { agentServerName } from '../security/keys.js';
import { silentLogger } from '../util/log.js';
import { Poller } from './poller.js';
import { ObjectReader, resolveEnv } from './container-env.js';
import { sandboxNetwork, type SandboxNetwork } from './netns.js';
import { PodNetns } from './pod-netns.js';
import { Proc } from './proc.js';
import { rawRequest } from './raw.js';
import { waitFor } from './wait.js';

// The kubelet's other half in the sandbox. KWOK marks serving pods Running with an address from
// its node's pod CIDR (10.244.N.0/24); this runner gives each such pod a network namespace of its
// own at that address (pod-netns.ts, inside the sandbox network of hack/netns.sh) and starts in it
// what the pod would run: the graft agent on its spec's port, on every address of the pod (as in a
// cluster), and an llm-d-inference-sim process as the engine, on the port the engine container
// names (8000 for vLLM). The agent reaches the engine at 127.0.0.1:<port>, as its env says; the test
// runner and the operator reach both at <podIP>:<port>.
//
// The agent is started from its container spec as a kubelet would: its volume mounts resolved
// (Secret volumes written out as files, emptyDirs per pod, a pvc per claim and a hostPath per node
// shared by the pods that mount them), its env resolved (values with $(VAR) expansion, Secret keys,
// the downward API), and every in-pod path under a mount translated to the folder that plays it.
// A pod whose Secret volume or secretKeyRef is missing is not started (the kubelet would keep it
// in ContainerCreating or CreateContainerConfigError); the next sync tries again.
//
// The simulator takes no API key flag (llm-d-inference-sim v0.10), so it does not check the
// engine key the agent sends; everything else about the key (Secret, mount, env) is real.

type Obj = Record<string, any>;

export type PodRunnerOptions = {
  kubeConfig: KubeConfig;
  simBinary: string;
  // How to run `graft`: [node, dist/cli/main.js] after `make build`, or [tsx, src/cli/main.ts].
  graftCommand: string[];
  workDir: string;
  pollMs?: number;
  logger?: Logger;
  // Extra environment for every agent (the S3 endpoint of the sandbox, for instance); the
  // container's own env wins over it.
  agentEnv?: NodeJS.ProcessEnv;
};

export type RunningPod = {
  key: string;
  uid: string;
  ip: string;
  baseModel: string;
  // https:// when the agent serves TLS (spec.security.agentTLS), else http://.
  agentUrl: string;
  engineUrl: string;
  enginePort: number;
  agent: Proc;
  engine: Proc;
  // The pod's own network namespace (its veth's host end on the sandbox bridge).
  netns: PodNetns;
  // With TLS: the agent's certificate (from its Secret) and the name it carries, for pinning.
  agentCertPem?: string;
  agentServerName?: string;
  // The agent's resolved environment (paths translated), and where each in-pod mount lives here.
  agentEnv: Record<string, string>;
  mounts: Array<{ inPod: string; host: string }>;
};

export class PodRunner {
  readonly pods = new Map<string, RunningPod>();
  private readonly poller: Poller;
  private readonly log: Logger;
  private readonly net: SandboxNetwork;

  constructor(private readonly opts: PodRunnerOptions) {
    this.log = opts.logger ?? silentLogger;
    // Pods get namespaces of their own only inside the sandbox network: refuse anywhere else.
    this.net = sandboxNetwork();
    this.poller = new Poller(() => this.sync(), opts.pollMs ?? 500, (err) => this.log.warn({ err }, 'pod runner sync failed'));
  }

  start(): void {
    this.poller.start();
  }

  // One pass: start what is missing, stop what is gone.
  async sync(): Promise<void> {
    const res = await rawRequest(this.opts.kubeConfig, 'GET', `/api/v1/pods?labelSelector=${encodeURIComponent(LABEL_BASEMODEL)}`);
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
      if (!this.pods.has(key)) await this.startPod(key, p).catch((err) => this.log.warn({ pod: key, err }, 'could not start pod processes'));
    }
  }

  private async getObject(path: string): Promise<Obj | undefined> {
    const r = await rawRequest(this.opts.kubeConfig, 'GET', path);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    return r.body as Obj;
  }

  private async startPod(key: string, pod: Obj): Promise<void> {
    const ns = pod.metadata.namespace, bmName = pod.metadata.labels[LABEL_BASEMODEL];
    const bm = await this.getObject(`/apis/graft.dev/v1alpha1/namespaces/${ns}/basemodels/${bmName}`);
    if (!bm) return;
    const agentContainer = (pod.spec.initContainers ?? []).find((c: Obj) => c.name === 'graft-agent') as Obj | undefined;
    if (!agentContainer) return;
    const dir = this.workDirOf(key);
    const secrets = new ObjectReader((name) => this.getObject(`/api/v1/namespaces/${ns}/secrets/${name}`));

    const mounts = await this.mountVolumes(pod, agentContainer, dir, secrets);
    if (!mounts) return;
    const resolved = await resolveEnv(agentContainer.env ?? [], pod, { secrets });
    if (!resolved) {
      this.log.info({ pod: key }, 'an env Secret is missing: not starting (CreateContainerConfigError)');
      return;
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(resolved)) env[k] = translatePath(v, mounts);
    const tmp = mounts.find((m) => m.inPod === '/tmp');
    if (tmp) env.TMPDIR = tmp.host;

    const enginePort = engineContainerPort(pod) ?? bm.spec.engine?.port ?? 8000;
    const engine = bm.spec.engine ?? {};
    const a = bm.spec.adapters ?? {};
    const maxCpu = a.maxCpuLoaded ?? a.maxPerPod ?? 8;
    const servedName = bm.spec.model?.name ?? bmName;
    const ip = pod.status.podIP as string;
    const port = Number(env[AGENT_ENV.port] ?? AGENT_PORT);
    env[AGENT_ENV.engine] ??= engine.type ?? 'vllm';
    const netns = await PodNetns.create(this.net, key, pod.metadata.uid, ip);
    const [simCmd, simArgs] = netns.wrap(this.opts.simBinary, [
      '--port', String(enginePort), '--model', servedName, '--force-dummy-tokenizer',
      '--max-loras', String(a.maxLoaded ?? Math.min(4, maxCpu)), '--max-cpu-loras', String(maxCpu),
    ]);
    const sim = new Proc(`engine ${key}`, simCmd, simArgs);
    const [cmd, ...args] = this.opts.graftCommand;
    const [agentCmd, agentArgs] = netns.wrap(cmd!, [...args, 'agent']);
    const agent = new Proc(`agent ${key}`, agentCmd, agentArgs, { env: { ...this.opts.agentEnv, ...env } });
    const tls = !!env[AGENT_ENV.tlsCertFile];
    const rp: RunningPod = {
      key, uid: pod.metadata.uid, ip, baseModel: bmName, enginePort, agent, engine: sim, netns,
      agentUrl: `${tls ? 'https' : 'http'}://${ip}:${port}`, engineUrl: `http://${ip}:${enginePort}`,
      agentEnv: env, mounts,
    };
    if (tls) {
      rp.agentCertPem = await readFile(env[AGENT_ENV.tlsCertFile]!, 'utf8').catch(async (err: unknown) => {
        await Promise.all([agent.kill(), sim.kill()]);
        await netns.destroy();
        throw err;
      });
      rp.agentServerName = agentServerName({ namespace: ns, name: bmName });
    }
    this.pods.set(key, rp);
    this.log.info({ pod: key, ip, enginePort, tls }, 'started agent and engine simulator');
  }

  // The agent container's volume mounts, each played by a folder; undefined when a Secret volume
  // is missing (the kubelet's FailedMount: the pod does not start).
  private async mountVolumes(pod: Obj, container: Obj, dir: string, secrets: ObjectReader): Promise<RunningPod['mounts'] | undefined> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const volumes = new Map<string, Obj>(((pod.spec.volumes ?? []) as Obj[]).map((v) => [v.name, v]));
    const mounts: RunningPod['mounts'] = [];
    for (const m of (container.volumeMounts ?? []) as Obj[]) {
      const v = volumes.get(m.name);
      if (!v) throw new Error(`pod ${key}: mount ${m.name} names no volume`);
      let host: string;
      if (v.secret) {
        host = join(dir, m.mountPath);
        const s = await secrets.get(v.secret.secretName);
        if (!s) {
          if (v.secret.optional) continue;
          this.log.info({ pod: key, secret: v.secret.secretName }, 'a Secret volume is missing: not starting (FailedMount)');
          return undefined;
        }
        await mkdir(host, { recursive: true });
        const items: Array<{ key: string; path: string }> = v.secret.items ?? Object.keys(s.data ?? {}).map((k) => ({ key: k, path: k }));
        for (const it of items) {
          const file = join(host, it.path);
          const bytes = Buffer.from(s.data?.[it.key] ?? '', 'base64');
          await mkdir(dirname(file), { recursive: true });
          await rm(file, { force: true });
          await writeFile(file, bytes, { mode: 0o600 });
        }
      } else if (v.emptyDir) {
        host = join(dir, v.name);
      } else if (v.persistentVolumeClaim) {
        // One folder per claim, shared by every pod that mounts it (a ReadWriteMany volume).
        host = join(this.opts.workDir, '.volumes', 'pvc', pod.metadata.namespace, v.persistentVolumeClaim.claimName);
      } else if (v.hostPath) {
        // One folder per node and path, shared by the pods on that node.
        host = join(this.opts.workDir, '.volumes', 'nodes', pod.spec.nodeName ?? 'node', v.hostPath.path);
      } else {
        this.log.debug({ pod: key, volume: v.name }, 'volume kind not played by the sandbox; skipped');
        continue;
      }
      if (m.subPath) host = join(host, m.subPath);
      await mkdir(host, { recursive: true });
      mounts.push({ inPod: m.mountPath, host });
    }
    return mounts;
  }

  private async stopPod(key: string): Promise<void> {
    const rp = this.pods.get(key);
    if (!rp) return;
    this.pods.delete(key);
    await Promise.all([rp.agent.stop(5_000), rp.engine.stop(5_000)]);
    await rp.netns.destroy();
    // The pod's own folder (emptyDirs, Secret files) goes with it; pvc and hostPath folders stay.
    await rm(this.workDirOf(key), { recursive: true, force: true });
    this.log.info({ pod: key }, 'stopped agent and engine simulator');
  }

  // The folder holding a pod's emptyDir volumes (its cache at cache/ when the cache is an
  // emptyDir) and its Secret files (at their mount paths).
  workDirOf(key: string): string {
    const [ns, name] = key.split('/');
    return join(this.opts.workDir, ns!, name!);
  }

  // Where an in-pod path of a running pod's agent lies here (e.g. its GRAFT_AGENT_CACHE_DIR).
  hostPathOf(key: string, inPod: string): string {
    const rp = this.pods.get(key);
    if (!rp) throw new Error(`no running pod ${key}`);
    return translatePath(inPod, rp.mounts);
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

  // A request to a running pod's agent, over TLS with its certificate pinned when it serves TLS.
  agentRequest(key: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string }> {
    const rp = this.pods.get(key);
    if (!rp) throw new Error(`no running pod ${key}`);
    return agentRequest(rp, method, path, opts);
  }

  // Waits until every running pod's agent answers /healthz.
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    await waitFor('pod agents healthy', async () => {
      for (const rp of this.pods.values()) {
        if (!rp.agent.running) return false;
        const r = await agentRequest(rp, 'GET', '/healthz', {}).catch(() => undefined);
        if (r?.status !== 200) return false;
      }
      return true;
    }, timeoutMs, 200);
  }

  async stop(): Promise<void> {
    await this.poller.stop();
    for (const key of [...this.pods.keys()]) await this.stopPod(key);
  }
}

// The port of the engine container's "http" port (what the BaseModel's Deployment names), or its
// first port.
function engineContainerPort(pod: Obj): number | undefined {
  const c = ((pod.spec.containers ?? []) as Obj[]).find((x) => x.name === 'engine') ?? pod.spec.containers?.[0];
  const ports = (c?.ports ?? []) as Obj[];
  return (ports.find((p) => p.name === 'http') ?? ports[0])?.containerPort as number | undefined;
}

// An in-pod path under a mount, as the folder that plays the mount (the longest mount wins).
export function translatePath(value: string, mounts: ReadonlyArray<{ inPod: string; host: string }>): string {
  if (!value.startsWith('/')) return value;
  let best: { inPod: string; host: string } | undefined;
  for (const m of mounts) {
    const p = m.inPod.replace(/\/+$/, '');
    if ((value === p || value.startsWith(`${p}/`)) && (!best || p.length > best.inPod.length)) best = { inPod: p, host: m.host };
  }
  return best ? best.host + value.slice(best.inPod.length) : value;
}

function agentRequest(rp: RunningPod, method: string, path: string, opts: { headers?: Record<string, string>; body?: string }): Promise<{ status: number; text: string }> {
  if (!rp.agentCertPem) {
    return fetch(`${rp.agentUrl}${path}`, { method, headers: opts.headers, body: opts.body }).then(async (r) => ({ status: r.status, text: await r.text() }));
  }
  const url = new URL(path, rp.agentUrl);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      method, host: url.hostname, port: url.port, path: url.pathname + url.search, headers: opts.headers,
      ca: rp.agentCertPem, servername: rp.agentServerName, timeout: 10_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`agent ${rp.key}: timed out`)));
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
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
