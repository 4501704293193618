// The kubelet, in the sandbox, for pods whose image is Graft's own (an AdapterSet's merge Job; the
// operator installed from the chart): KWOK marks them Running, and this runs their container as a
// local `graft` process with the pod's own arguments and environment, then reports the exit as
// the pod's phase (Succeeded or Failed) with the container's termination message, as a kubelet
// would, so the Job controller of the sandbox's kube-controller-manager completes the Job.
//
// What a kubelet does that is mirrored here: env values, $(VAR) references to earlier variables,
// valueFrom.secretKeyRef / configMapKeyRef (read from the API; optional keys may be missing) and
// fieldRef; the termination message file (GRAFT_TERMINATION_LOG points the process at a file per
// pod, the stand-in for the kubelet's bind mount at terminationMessagePath) with
// FallbackToLogsOnError; SIGTERM then SIGKILL when the pod is deleted. The process gets only the
// pod's environment (plus PATH), never the test process's; TMPDIR and a HOME under /tmp point into
// the pod's own folder, the stand-in for an emptyDir at /tmp.
//
// For the operator installed from the chart or install.yaml (a Deployment's pods), also:
// - the service account token (service-account.ts): a pod that mounts its token gets a kubeconfig
//   with a TokenRequest token of its ServiceAccount, through KUBECONFIG;
// - HOSTNAME is the pod's name, as the container runtime sets it (os.hostname() stays the
//   machine's: the operator's Lease identity is "<machine>_<uuid>", found in the pod's log);
// - the pod network: each pod runs in a network namespace of its own at its pod IP (pod-netns.ts),
//   kept across container restarts and removed with the pod, so ":8080" in its arguments binds the
//   pod's own port, as in a cluster; URLs naming a Service (NAME.NS.svc) become one of its ready
//   endpoints from the Service's EndpointSlices (pod-network.ts; no cluster DNS or kube-proxy here),
//   and the pod waits to start while such a Service has none;
// - restartPolicy: a pod with Always (or OnFailure, after a failure) is not finished when its
//   process exits: its container status gets the kubelet's lastState.terminated, restartCount + 1
//   and state.waiting CrashLoopBackOff with Ready False, the phase stays Running, and the process is
//   started again after the kubelet's back-off (10 s doubling to 5 min). That is what the
//   Deployment controller reads: the pod is unavailable, and the ReplicaSet does not replace it.
//   Readiness probes are not run: KWOK marks a pod Ready when it starts (kwok-stages.ts), so a
//   rolling update does not wait for the new operator's /readyz.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { silentLogger } from '../util/log.js';
import { Poller } from './poller.js';
import { ObjectReader, resolveEnv } from './container-env.js';
import { sandboxNetwork, type SandboxNetwork } from './netns.js';
import { rawRequest } from './raw.js';
import { endpointFromSlices, resolveServiceUrls } from './pod-network.js';
import { PodNetns } from './pod-netns.js';
import { mountsToken, serviceAccountKubeconfig } from './service-account.js';

type Obj = Record<string, any>;

export type GraftPodsOptions = {
  kubeConfig: KubeConfig;
  // The image that means "Graft": pods whose every container runs it are run here.
  image: string;
  // How to run `graft` (see graftCommand in pod-runner.ts).
  graftCommand: string[];
  workDir: string;
  pollMs?: number;
  logger?: Logger;
};

type Running = { key: string; uid: string; child: ChildProcess; dir: string; startedAt: string; output: string; exited: Promise<void>; deleting: boolean; peakRssMb: number };

const LOG_TAIL = 2048;
const MESSAGE_MAX = 4096;

export class GraftPods {
  readonly running = new Map<string, Running>(); // by pod uid
  private readonly finished = new Set<string>();
  // Pods whose process exited and is started again (restartPolicy), by uid: restarts so far and
  // when the back-off ends.
  private readonly backoff = new Map<string, { restarts: number; until: number }>();
  // Every pod this runner ran to completion, with its exit, for tests.
  readonly exits: { key: string; uid: string; code: number | null; message: string; peakRssMb: number; output: string }[] = [];
  // Each pod's network namespace, by uid: made at its first start, kept across restarts.
  private readonly netns = new Map<string, PodNetns>();
  // Pods held back because a Service they name has no endpoint yet, by uid (logged once).
  private readonly waiting = new Set<string>();
  private readonly poller: Poller;
  private readonly log: Logger;
  private readonly net: SandboxNetwork;

  constructor(private readonly opts: GraftPodsOptions) {
    this.log = opts.logger ?? silentLogger;
    // Pods get namespaces of their own only inside the sandbox network: refuse anywhere else.
    this.net = sandboxNetwork();
    this.poller = new Poller(() => this.sync(), opts.pollMs ?? 300, (err) => this.log.warn({ err }, 'graft pods sync failed'));
  }

  start(): void {
    this.poller.start();
  }

  isGraftPod(p: Obj): boolean {
    const cs: Obj[] = p.spec?.containers ?? [];
    return cs.length > 0 && cs.every((c) => c.image === this.opts.image) && !p.metadata?.labels?.['graft.dev/basemodel'];
  }

  async sync(): Promise<void> {
    const res = await rawRequest(this.opts.kubeConfig, 'GET', '/api/v1/pods');
    if (res.status !== 200) throw new Error(`listing pods: HTTP ${res.status}`);
    const pods = ((res.body as Obj).items as Obj[]).filter((p) => this.isGraftPod(p));
    const live = new Map(pods.map((p) => [p.metadata.uid as string, p]));
    for (const r of this.running.values()) {
      const p = live.get(r.uid);
      if ((!p || p.metadata.deletionTimestamp) && !r.deleting) {
        r.deleting = true;
        this.log.info({ pod: r.key }, 'pod deleted: stopping its process');
        void this.kill(r, Math.min(5, p?.spec?.terminationGracePeriodSeconds ?? 5) * 1000);
      }
    }
    for (const uid of this.backoff.keys()) if (!live.has(uid)) this.backoff.delete(uid);
    for (const uid of this.waiting) if (!live.has(uid)) this.waiting.delete(uid);
    // A pod's namespace goes when the pod is gone (or being deleted) and its process has exited.
    for (const [uid, ns] of this.netns) {
      const p = live.get(uid);
      if ((!p || p.metadata.deletionTimestamp || this.finished.has(uid)) && !this.running.has(uid)) {
        this.netns.delete(uid);
        await ns.destroy();
      }
    }
    for (const p of pods) {
      const uid = p.metadata.uid as string;
      if (this.running.has(uid) || this.finished.has(uid) || p.metadata.deletionTimestamp) continue;
      if ((this.backoff.get(uid)?.until ?? 0) > Date.now()) continue;
      if (p.status?.phase !== 'Running' || !p.status?.podIP) continue;
      await this.startPod(p).catch((err) => this.log.warn({ err, pod: `${p.metadata.namespace}/${p.metadata.name}` }, 'could not start pod process'));
    }
  }

  // The container's env as a kubelet resolves it (container-env.ts), Secrets and ConfigMaps read
  // from the API once per start.
  private async resolveEnv(pod: Obj, c: Obj): Promise<Record<string, string> | undefined> {
    const ns = pod.metadata.namespace;
    const reader = (kind: string) => new ObjectReader(async (name) => {
      const got = await rawRequest(this.opts.kubeConfig, 'GET', `/api/v1/namespaces/${ns}/${kind}/${name}`);
      return got.status === 200 ? (got.body as Obj) : undefined;
    });
    const env = await resolveEnv(c.env ?? [], pod, { secrets: reader('secrets'), configMaps: reader('configmaps') });
    if (!env) this.log.warn({ pod: `${ns}/${pod.metadata.name}` }, 'an env reference is missing: the container cannot start yet');
    return env;
  }

  private async startPod(pod: Obj): Promise<void> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (pod.spec.containers.length !== 1) throw new Error(`${key}: only pods with one container are run (this one has ${pod.spec.containers.length})`);
    const c = pod.spec.containers[0];
    const env = await this.resolveEnv(pod, c);
    if (!env) return;
    const dir = join(this.opts.workDir, pod.metadata.namespace, `${pod.metadata.name}-${pod.metadata.uid}`);
    await mkdir(join(dir, 'tmp'), { recursive: true });
    // The image's entrypoint is graft: a command naming graft is replaced by this checkout's.
    const cmd: string[] = c.command ?? [];
    const podArgs: string[] = [...(cmd.length && /(^|\/)graft$/.test(cmd[0]) ? cmd.slice(1) : cmd), ...(c.args ?? [])];
    const { args, unresolved } = await resolveServiceUrls(podArgs, (ns, svc, port) => this.endpoint(ns, svc, port));
    if (unresolved.length) {
      if (!this.waiting.has(pod.metadata.uid)) this.log.info({ pod: key, services: unresolved }, 'a Service the pod names has no ready endpoint yet: holding the start back');
      this.waiting.add(pod.metadata.uid);
      return;
    }
    this.waiting.delete(pod.metadata.uid);
    let netns = this.netns.get(pod.metadata.uid);
    if (!netns) {
      netns = await PodNetns.create(this.net, key, pod.metadata.uid, pod.status.podIP);
      this.netns.set(pod.metadata.uid, netns);
    }
    const kubeconfig = mountsToken(pod) ? await serviceAccountKubeconfig(this.opts.kubeConfig, pod, dir) : undefined;
    const tmp = join(dir, 'tmp');
    const procEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOSTNAME: pod.spec.hostname ?? pod.metadata.name,
      ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}), ...env, TMPDIR: tmp,
      HOME: !env.HOME || env.HOME.startsWith('/tmp') ? tmp : env.HOME,
      GRAFT_TERMINATION_LOG: join(dir, 'termination-log'),
    };
    const [bin, ...pre] = this.opts.graftCommand;
    // The checkout is the working directory: `--import tsx` resolves from there.
    const [nsCmd, nsArgs] = netns.wrap(bin!, [...pre, ...args]);
    const child = spawn(nsCmd, nsArgs, { env: procEnv, cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    const r: Running = { key, uid: pod.metadata.uid, child, dir, startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), output: '', exited: Promise.resolve(), deleting: false, peakRssMb: 0 };
    const keep = (b: Buffer) => {
      r.output = (r.output + b.toString()).slice(-262_144);
      if (process.env.GRAFT_TEST_VERBOSE) process.stderr.write(`[${key}] ${b}`);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('error', (err) => keep(Buffer.from(`could not start ${bin}: ${err.message}\n`)));
    live.add(child);
    child.on('exit', () => live.delete(child));
    const sampler = setInterval(() => { void peakRssMb(child.pid).then((mb) => { r.peakRssMb = Math.max(r.peakRssMb, mb); }); }, 100);
    r.exited = new Promise((resolve) => child.on('exit', (code) => { clearInterval(sampler); void this.onExit(pod, c, r, code).finally(resolve); }));
    this.running.set(r.uid, r);
    this.log.info({ pod: key, args: args.slice(0, 2) }, 'started graft pod process');
    const restarts = this.backoff.get(r.uid)?.restarts;
    if (restarts !== undefined) await this.reportRestarted(pod, c, r, restarts);
  }

  // A ready endpoint of a Service port, from the Service and its EndpointSlices (pod-network.ts).
  private async endpoint(ns: string, svc: string, port: number) {
    const s = await rawRequest(this.opts.kubeConfig, 'GET', `/api/v1/namespaces/${ns}/services/${svc}`);
    const l = await rawRequest(this.opts.kubeConfig, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${svc}`)}`);
    return endpointFromSlices(s.status === 200 ? (s.body as Obj) : undefined, l.status === 200 ? ((l.body as Obj).items as Obj[]) : [], port);
  }

  private async patchStatus(pod: Obj, key: string, status: Obj): Promise<void> {
    const res = await rawRequest(this.opts.kubeConfig, 'PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, { status }, 'application/merge-patch+json');
    if (res.status !== 200) this.log.warn({ pod: key, status: res.status, body: res.text.slice(0, 300) }, 'could not report the pod\'s status');
  }

  // restartPolicy Always, or OnFailure after a failure: the container is started again.
  private restarts(pod: Obj, code: number | null): boolean {
    const policy = pod.spec.restartPolicy ?? 'Always';
    return policy === 'Always' || (policy === 'OnFailure' && code !== 0);
  }

  // The kubelet's report of a container that exited and waits for its restart.
  private async reportBackoff(pod: Obj, c: Obj, r: Running, terminated: Obj, restarts: number, delayMs: number): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.patchStatus(pod, r.key, {
      phase: 'Running',
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: r.startedAt },
        { type: 'Initialized', status: 'True', lastTransitionTime: r.startedAt },
        { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${c.name}]`, lastTransitionTime: now },
        { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${c.name}]`, lastTransitionTime: now },
      ],
      containerStatuses: [{
        name: c.name, image: c.image, imageID: '', ready: false, started: false, restartCount: restarts,
        lastState: { terminated },
        state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delayMs / 1000)}s restarting failed container=${c.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})` } },
      }],
    });
  }

  private async reportRestarted(pod: Obj, c: Obj, r: Running, restarts: number): Promise<void> {
    const cur = await rawRequest(this.opts.kubeConfig, 'GET', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`);
    const last = ((cur.body as Obj)?.status?.containerStatuses as Obj[] | undefined)?.find((s) => s.name === c.name)?.lastState;
    await this.patchStatus(pod, r.key, {
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: r.startedAt },
        { type: 'Initialized', status: 'True', lastTransitionTime: r.startedAt },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: r.startedAt },
        { type: 'Ready', status: 'True', lastTransitionTime: r.startedAt },
      ],
      containerStatuses: [{
        name: c.name, image: c.image, imageID: '', ready: true, started: true, restartCount: restarts,
        ...(last ? { lastState: last } : {}), state: { running: { startedAt: r.startedAt } },
      }],
    });
  }

  private async onExit(pod: Obj, c: Obj, r: Running, code: number | null): Promise<void> {
    this.running.delete(r.uid);
    const restart = !r.deleting && !this.poller.stopped && this.restarts(pod, code);
    if (!restart) this.finished.add(r.uid);
    let message = (await readFile(join(r.dir, 'termination-log'), 'utf8').catch(() => '')).slice(0, MESSAGE_MAX);
    if (!message && code !== 0 && c.terminationMessagePolicy === 'FallbackToLogsOnError') message = r.output.slice(-LOG_TAIL);
    this.exits.push({ key: r.key, uid: r.uid, code, message, peakRssMb: r.peakRssMb, output: r.output.slice(-LOG_TAIL) });
    if (restart) {
      const restarts = (this.backoff.get(r.uid)?.restarts ?? 0) + 1;
      const delayMs = Math.min(10_000 * 2 ** (restarts - 1), 300_000);
      this.backoff.set(r.uid, { restarts, until: Date.now() + delayMs });
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const terminated: Obj = { exitCode: code ?? 137, reason: code === 0 ? 'Completed' : 'Error', startedAt: r.startedAt, finishedAt: now };
      if (message) terminated.message = message;
      await this.reportBackoff(pod, c, r, terminated, restarts, delayMs);
      this.log.info({ pod: r.key, code, restarts, delayMs }, 'graft pod process exited: restarting after the back-off');
    } else if (!r.deleting && !this.poller.stopped) {
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const ok = code === 0;
      const terminated: Obj = { exitCode: code ?? 137, reason: ok ? 'Completed' : code === null ? 'Killed' : 'Error', startedAt: r.startedAt, finishedAt: now };
      if (message) terminated.message = message;
      const body = {
        status: {
          phase: ok ? 'Succeeded' : 'Failed',
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: r.startedAt },
            { type: 'Initialized', status: 'True', lastTransitionTime: r.startedAt },
            { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
            { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
          ],
          containerStatuses: [{ name: c.name, image: c.image, imageID: '', ready: false, started: false, restartCount: 0, state: { terminated } }],
        },
      };
      const res = await rawRequest(this.opts.kubeConfig, 'PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, body, 'application/merge-patch+json');
      if (res.status !== 200) this.log.warn({ pod: r.key, status: res.status, body: res.text.slice(0, 300) }, 'could not report the pod\'s exit');
      this.log.info({ pod: r.key, code }, 'graft pod process exited');
    }
    await rm(r.dir, { recursive: true, force: true });
  }

  private async kill(r: Running, graceMs: number): Promise<void> {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return;
    r.child.kill('SIGTERM');
    const t = setTimeout(() => r.child.kill('SIGKILL'), graceMs);
    await r.exited;
    clearTimeout(t);
  }

  async stop(): Promise<void> {
    await this.poller.stop();
    await Promise.all([...this.running.values()].map((r) => this.kill(r, 2_000)));
    for (const ns of this.netns.values()) await ns.destroy();
    this.netns.clear();
  }
}

// The process's resident-memory high-water mark (VmHWM): a lower bound of
// its peak, sampled every 100 ms while it runs.
async function peakRssMb(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : 0;
}

// Processes still running when the test process exits are killed with it.
const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
