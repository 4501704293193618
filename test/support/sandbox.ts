import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { graftCommand, PodRunner } from '../../src/sandbox/pod-runner.js';
import { GraftPods } from '../../src/sandbox/graft-pods.js';
import { waitFor } from '../../src/sandbox/wait.js';
import type { AdapterStatus as AgentAdapter } from '../../src/contracts/agent-api.js';
import { KeyRing } from '../../src/security/keys.js';
import { DEFAULT_MASTER_KEY_SECRET, MASTER_KEY_FIELD } from '../../src/security/master-key.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import type { FakeNode } from '../../src/sandbox/nodes.js';
import { startOperator, type OperatorProc } from './operator.js';
import { toolPath } from './tools.js';
import { createLogger } from '../../src/util/log.js';
import { sandboxNetwork } from '../../src/sandbox/netns.js';
import { startVersityGw, type VersityGw } from './versitygw.js';

import { FIXTURES } from './fixtures-dir.js';

export { FIXTURES };
const repoRoot = join(import.meta.dirname, '..', '..');
// The image the sandbox's operator is told is Graft's (--agent-image).
export const GRAFT_IMAGE = 'ghcr.io/graft-dev/graft:e2e';

// Everything `make demo` runs, for e2e tests: a control plane with KWOK nodes, an S3 server, the
// pod runner (agent + engine simulator per serving pod) and `graft operator`.
export type Sandbox = {
  cp: ControlPlane;
  gw: VersityGw;
  runner: PodRunner;
  graftPods: GraftPods; // runs pods of Graft's own image (merge Jobs) as local processes
  operator: OperatorProc;
  upload(fixture: string, bucket: string, prefix: string, edit?: (file: string, bytes: Buffer) => Buffer): Promise<void>;
  restartOperator(): Promise<void>;
  stop(): Promise<void>;
};

export type SandboxOptions = {
  agentEnv?: NodeJS.ProcessEnv; operatorArgs?: string[];
  // Arguments for the node process that runs the operator (a benchmark's --cpu-prof, for one).
  operatorNodeArgs?: string[]; graft?: 'source' | 'compiled'; nodes?: FakeNode[]; s3Port?: number; s3SecretName?: string; operatorKubeconfig?: (cp: ControlPlane) => Promise<string>;
  // false: no `graft operator` process of the sandbox's own (an install test's operator runs as a pod).
  operator?: boolean;
  // false: the CRDs are not installed (the chart or install.yaml brings them).
  crds?: boolean;
};
// A sandbox started with `operator: false`.
export type BareSandbox = Omit<Sandbox, 'operator' | 'restartOperator'>;

export async function startSandbox(opts: SandboxOptions & { operator: false }): Promise<BareSandbox>;
export async function startSandbox(opts?: SandboxOptions): Promise<Sandbox>;
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox | BareSandbox> {
  const from = opts.graft ?? 'source';
  // Before anything starts: the pods need the sandbox network (hack/netns.sh).
  sandboxNetwork();
  const gw = await startVersityGw({ buckets: ['adapters'], port: opts.s3Port });
  const cp = await startControlPlane({ e2e: true, crds: opts.crds, nodes: opts.nodes ?? sandboxNodes() }).catch(async (err) => { await gw.stop(); throw err; });
  const workDir = await mkdtemp(join(tmpdir(), 'graft-pods-'));
  const runner = new PodRunner({ kubeConfig: cp.kubeConfig, simBinary: toolPath('llm-d-inference-sim'), graftCommand: graftCommand(repoRoot, from), workDir, pollMs: 300, agentEnv: opts.agentEnv });
  runner.start();
  const graftPods = new GraftPods({
    kubeConfig: cp.kubeConfig, image: GRAFT_IMAGE, graftCommand: graftCommand(repoRoot, from), workDir, pollMs: 300,
    logger: process.env.GRAFT_TEST_VERBOSE ? createLogger({ name: 'graft-pods', level: 'debug', destination: process.stderr }) : undefined,
  });
  graftPods.start();
  const secret = await rawRequest(cp.kubeConfig, 'POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: opts.s3SecretName ?? 's3-creds' },
    stringData: { AWS_ACCESS_KEY_ID: gw.accessKey, AWS_SECRET_ACCESS_KEY: gw.secretKey },
  });
  if (secret.status !== 201) throw new Error(`creating s3-creds: ${secret.text}`);
  const args = ['--agent-image', GRAFT_IMAGE, '--sync-period', '30s', ...(opts.operatorArgs ?? ['--leader-elect=false'])];
  const operatorKubeconfig = opts.operatorKubeconfig ? await opts.operatorKubeconfig(cp) : cp.kubeconfigPath;
  let operator = opts.operator === false ? undefined as unknown as OperatorProc : await startOperator(operatorKubeconfig, args, {}, from, opts.operatorNodeArgs);
  const sb: Sandbox = {
    cp, gw, runner, graftPods, operator,
    async upload(fixture, bucket, prefix, edit) {
      const c = gw.client();
      try {
        for (const f of await readdir(join(FIXTURES, fixture))) {
          let body: Buffer = await readFile(join(FIXTURES, fixture, f));
          if (edit) body = edit(f, body);
          await c.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${f}`, Body: body }));
        }
      } finally { c.destroy(); }
    },
    async restartOperator() {
      await sb.operator.stop();
      operator = await startOperator(operatorKubeconfig, args, {}, from, opts.operatorNodeArgs);
      sb.operator = operator;
    },
    async stop() {
      if (sb.operator) await sb.operator.stop().catch(() => {});
      await runner.stop();
      await graftPods.stop();
      await cp.stop();
      await gw.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
  return sb;
}

// Two fake GPU nodes with pod CIDRs in the sandbox network (10.244.N.0/24 and 10.244.N+1.0/24, N
// odd and picked at random): two sandboxes that share one sandbox network (hack/netns.sh) then do
// not hand out the same pod addresses.
export function sandboxNodes(): FakeNode[] {
  const n = 1 + 2 * Math.floor(Math.random() * 127);
  return [
    { name: 'gpu-node-1', podCIDR: `10.244.${n}.0/24`, gpus: 8 },
    { name: 'gpu-node-2', podCIDR: `10.244.${n + 1}.0/24`, gpus: 8 },
  ];
}

// The BaseModel the e2e tests and the demo serve adapters on: gpt2 (the fixtures' base model).
export function gpt2BaseModel(name: string, gw: VersityGw, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name },
    spec: {
      model: { source: { uri: 'gpt2' } }, replicas: 3, adapters: { maxPerPod: 8, maxRank: 16 },
      storage: { s3: { endpoint: gw.endpoint, forcePathStyle: true, credentialsSecretRef: { name: 's3-creds' } } },
      ...spec,
    },
  };
}

// --- Helpers the Adapter scenarios share -------------------------------------------------------

export type Obj = Record<string, any>;
export const NS = 'default';
export const adPath = (name = '', ns = NS) => `/apis/graft.dev/v1alpha1/namespaces/${ns}/adapters${name ? `/${name}` : ''}`;
export const bmPath = (name = '', ns = NS) => `/apis/graft.dev/v1alpha1/namespaces/${ns}/basemodels${name ? `/${name}` : ''}`;
export const podPath = (name = '', ns = NS) => `/api/v1/namespaces/${ns}/pods${name ? `/${name}` : ''}`;
export const cond = (o: Obj | undefined, type: string): Obj | undefined => o?.status?.conditions?.find((c: Obj) => c.type === type);

export function adapterObj(name: string, baseModel: string, spec: Obj): Obj {
  return { apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name }, spec: { baseModel, ...spec } };
}

// The API as a test uses it: admin credentials, plain JSON, failures thrown with the answer.
export function kube(sb: Pick<Sandbox, 'cp'>) {
  const call = async (method: string, path: string, body?: unknown, contentType?: string, ok: number[] = [200, 201]) => {
    const r = await rawRequest(sb.cp.kubeConfig, method, path, body, contentType);
    if (!ok.includes(r.status)) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 500)}`);
    return r.body as Obj;
  };
  return {
    async get(path: string): Promise<Obj | undefined> {
      const r = await rawRequest(sb.cp.kubeConfig, 'GET', path);
      return r.status === 200 ? (r.body as Obj) : undefined;
    },
    post: (path: string, body: Obj) => call('POST', path, body),
    patch: (path: string, body: Obj) => call('PATCH', path, body, 'application/merge-patch+json'),
    jsonPatch: (path: string, ops: Obj[]) => call('PATCH', path, ops, 'application/json-patch+json'),
    del: (path: string, body?: Obj) => call('DELETE', path, body, undefined, [200, 202, 404]),
    // Events about one object, oldest first.
    async events(name: string, ns = NS): Promise<Obj[]> {
      const r = await call('GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events?fieldSelector=regarding.name=${name}`);
      return (r.items as Obj[]).sort((a, b) => (a.eventTime < b.eventTime ? -1 : 1));
    },
  };
}

export function isReady(a: Obj | undefined, replicas?: number): boolean {
  return cond(a, 'Ready')?.status === 'True' && (replicas === undefined || a!.status.readyReplicas === replicas)
    && a!.status.observedGeneration === a!.metadata.generation;
}

export async function waitAdapter(sb: Pick<Sandbox, 'cp'>, name: string, what: string, pred: (a: Obj | undefined) => boolean, timeoutMs = 90_000): Promise<Obj> {
  let last: Obj | undefined;
  await waitFor(`${name}: ${what}`, async () => pred(last = await kube(sb).get(adPath(name))), timeoutMs, 200)
    .catch((err: Error) => { throw new Error(`${err.message}\nlast status: ${JSON.stringify(last?.status)}`); });
  return last!;
}

export const loadedPods = (a: Obj) => ((a.status?.placements ?? []) as Obj[]).filter((p) => p.state === 'Loaded').map((p) => p.pod as string).sort();

// The pods of `bm` whose engine (simulator) really serves `name`.
export async function servingPods(sb: Pick<Sandbox, 'runner'>, name: string, bm: string): Promise<string[]> {
  const out: string[] = [];
  for (const rp of [...sb.runner.pods.values()]) {
    if (rp.baseModel !== bm) continue;
    const r = await fetch(`${rp.engineUrl}/v1/models`).catch(() => undefined);
    if (!r?.ok) continue;
    const models = (await r.json()) as { data: { id: string }[] };
    if (models.data.some((m) => m.id === name)) out.push(rp.key.split('/')[1]!);
  }
  return out.sort();
}

// What a pod's agent reports, asked as the operator asks: TLS pinned to its certificate, and the
// token the operator derives from its master key (the BaseModel's token Secret may be gone).
export async function agentAdapters(sb: Pick<Sandbox, 'cp' | 'runner'>, podKey: string): Promise<AgentAdapter[]> {
  const rp = sb.runner.pods.get(podKey);
  if (!rp) throw new Error(`no running pod ${podKey}`);
  const [ns] = podKey.split('/');
  const token = (await keyRingOf(sb)).agentToken({ namespace: ns!, name: rp.baseModel });
  const r = await sb.runner.agentRequest(podKey, 'GET', '/v1/adapters', { headers: { authorization: `Bearer ${token}` } });
  if (r.status !== 200) throw new Error(`agent ${podKey}: HTTP ${r.status}: ${r.text}`);
  return (JSON.parse(r.text) as { adapters: AgentAdapter[] }).adapters;
}

// The operator's key ring, from the master key Secret it made in its namespace.
export async function keyRingOf(sb: Pick<Sandbox, 'cp'>, ns = NS): Promise<KeyRing> {
  const s = await kube(sb).get(`/api/v1/namespaces/${ns}/secrets/${DEFAULT_MASTER_KEY_SECRET}`);
  if (!s) throw new Error(`no master key Secret ${ns}/${DEFAULT_MASTER_KEY_SECRET} (is the operator running?)`);
  return new KeyRing(Buffer.from(s.data[MASTER_KEY_FIELD], 'base64'));
}

// The running pods of a BaseModel, by pod name.
export function podsOf(sb: Pick<Sandbox, 'runner'>, bm: string): string[] {
  return [...sb.runner.pods.values()].filter((p) => p.baseModel === bm).map((p) => p.key.split('/')[1]!).sort();
}

export async function waitPods(sb: Pick<Sandbox, 'runner'>, bm: string, n: number, timeoutMs = 90_000): Promise<void> {
  await waitFor(`${n} running pods of ${bm}`, () => podsOf(sb, bm).length === n, timeoutMs, 200);
  await sb.runner.waitHealthy().catch((err: Error) => {
    const agents = [...sb.runner.pods.values()].map((rp) => `--- agent ${rp.key} (${rp.agent.running ? 'running' : 'exited'}):\n${rp.agent.output.slice(-2000)}`);
    throw new Error(`${err.message}\n${agents.join('\n')}`);
  });
}

// Watches a condition of the world every `everyMs` until stopped: for properties that must hold
// throughout (at least one replica serving, never Stalled).
export function sample<T>(probe: () => Promise<T>, everyMs = 100): { values: T[]; stop(): Promise<T[]> } {
  const values: T[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try { values.push(await probe()); } catch { /* a probe that fails is no sample */ }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return { values, stop: async () => { stopped = true; await loop; return values; } };
}

// On a failed test: the operator's last log lines and every Adapter's status.
export async function dumpOnFailure(sb: Sandbox | undefined, failed: boolean): Promise<void> {
  if (!failed || !sb) return;
  console.error(`operator log:\n${sb.operator.proc.output.slice(-8000)}`);
  const list = (await kube(sb).get(adPath()))?.items as Obj[] | undefined;
  for (const a of list ?? []) console.error(`${a.metadata.name}: ${JSON.stringify(a.status)}`);
}
