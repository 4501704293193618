import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../src/sandbox/raw.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { startOperator, requestsByMethod, type OperatorProc } from '../support/operator.js';
import { waitFor } from '../support/ports.js';

// What a BaseModel may not do, against a real control plane (controller manager, scheduler, KWOK)
// and `graft operator` as its own process: take over objects it does not own, use a node folder
// the operator's admin has not allowed, or run pods that the `restricted` Pod Security Standard
// (the API server's own PodSecurity admission) refuses.
type Obj = Record<string, any>;
const NS = 'default';
const ALLOWED = '/var/lib/graft-cache';
const path = {
  bm: (ns: string, name = '') => `/apis/graft.dev/v1alpha1/namespaces/${ns}/basemodels${name ? `/${name}` : ''}`,
  dep: (ns: string, name = '') => `/apis/apps/v1/namespaces/${ns}/deployments${name ? `/${name}` : ''}`,
  svc: (ns: string, name = '') => `/api/v1/namespaces/${ns}/services${name ? `/${name}` : ''}`,
  np: (ns: string, name = '') => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies${name ? `/${name}` : ''}`,
  secret: (ns: string, name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`,
};

describe('BaseModel refusals (e2e)', () => {
  let cp: ControlPlane;
  let op: OperatorProc;
  const get = async (p: string) => {
    const r = await rawRequest(cp.kubeConfig, 'GET', p);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  const post = async (p: string, o: Obj) => {
    const r = await rawRequest(cp.kubeConfig, 'POST', p, o);
    expect(r.status, r.text).toBe(201);
    return r.body as Obj;
  };
  const baseModel = (name: string, spec: Obj) => ({ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name }, spec: { model: { source: { uri: 'org/model' } }, ...spec } });
  const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c: Obj) => c.type === type);
  const waitStalled = (ns: string, name: string, reason: string, timeout = 30_000) => waitFor(`${name} Stalled with ${reason}`, async () => {
    const s = cond(await get(path.bm(ns, name)), 'Stalled');
    return s?.status === 'True' && s.reason === reason;
  }, timeout, 200);
  const waitReady = (ns: string, name: string, timeout = 60_000) => waitFor(`${name} Ready`, async () => {
    const o = await get(path.bm(ns, name));
    return cond(o, 'Ready')?.status === 'True' && o!.status.observedGeneration === o!.metadata.generation;
  }, timeout, 200);
  const events = async (ns: string, name: string) => {
    const r = await rawRequest(cp.kubeConfig, 'GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events?fieldSelector=regarding.name=${name}`);
    return ((r.body as Obj).items ?? []) as Obj[];
  };
  // Nothing of a BaseModel's own was made: no Secret, no NetworkPolicy, and the named children absent.
  const nothingMade = async (ns: string, name: string, children: Array<'dep' | 'svc'>) => {
    for (const s of ['agent-token', 'agent-tls', 'engine-key']) expect(await get(path.secret(ns, `${name}-${s}`)), `Secret ${name}-${s}`).toBeUndefined();
    expect(await get(path.np(ns, `${name}-graft`))).toBeUndefined();
    for (const c of children) expect(await get(path[c](ns, name)), `${c} ${name}`).toBeUndefined();
  };

  beforeAll(async () => {
    cp = await startControlPlane({ e2e: true });
    op = await startOperator(cp.kubeconfigPath, ['--leader-elect=false', '--agent-image', 'ghcr.io/graft-dev/graft:e2e', '--sync-period', '5s', '--allowed-host-paths', ALLOWED]);
  });
  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  it('refuses to take over a Service it does not own (invisible to its caches), then recovers once it is gone', async () => {
    const foreign = await post(path.svc(NS), {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'payments', labels: { app: 'payments' } },
      spec: { selector: { app: 'payments' }, ports: [{ name: 'web', port: 80, targetPort: 8080 }] },
    });
    await post(path.bm(NS), baseModel('payments', {}));
    await waitStalled(NS, 'payments', 'OwnershipConflict');
    const stalled = cond(await get(path.bm(NS, 'payments')), 'Stalled');
    expect(stalled.message).toContain('Service default/payments already exists and is not controlled by this BaseModel (it has no controller)');
    expect(stalled.message).toContain('Give the BaseModel another name');
    await waitFor('a Warning event', async () => (await events(NS, 'payments')).some((e) => e.type === 'Warning' && e.reason === 'OwnershipConflict'), 30_000);
    // Over a few resyncs: the Service exactly as it was, and nothing else made.
    await new Promise((r) => setTimeout(r, 11_000));
    expect(await get(path.svc(NS, 'payments'))).toEqual(foreign);
    await nothingMade(NS, 'payments', ['dep']);

    // Its owner removes it: the BaseModel gets its children.
    expect((await rawRequest(cp.kubeConfig, 'DELETE', path.svc(NS, 'payments'))).status).toBe(200);
    await waitReady(NS, 'payments');
    expect((await get(path.svc(NS, 'payments')))!.metadata.ownerReferences[0]).toMatchObject({ kind: 'BaseModel', name: 'payments' });
  });

  it('refuses to take over a Deployment that carries Graft\'s labels but not its owner', async () => {
    const labels = { 'app.kubernetes.io/managed-by': 'graft', 'graft.dev/basemodel': 'search' };
    await post(path.dep(NS), {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'search', labels },
      spec: { replicas: 0, selector: { matchLabels: { app: 'search' } }, template: { metadata: { labels: { app: 'search' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
    });
    // The Deployment controller writes its status once; compare after that.
    await waitFor('the foreign Deployment observed', async () => (await get(path.dep(NS, 'search')))?.status?.observedGeneration === 1, 30_000, 200);
    await new Promise((r) => setTimeout(r, 1_000));
    const foreign = (await get(path.dep(NS, 'search')))!;
    await post(path.bm(NS), baseModel('search', {}));
    await waitStalled(NS, 'search', 'OwnershipConflict');
    expect(cond(await get(path.bm(NS, 'search')), 'Stalled').message).toContain('Deployment default/search already exists and is not controlled by this BaseModel');
    await new Promise((r) => setTimeout(r, 11_000));
    const after = (await get(path.dep(NS, 'search')))!;
    expect(after.metadata.resourceVersion).toBe(foreign.metadata.resourceVersion);
    expect(after).toEqual(foreign);
    await nothingMade(NS, 'search', ['svc']);
  });

  it('refuses a hostPath cache outside --allowed-host-paths and allows one inside', async () => {
    await post(path.bm(NS), baseModel('etc-cache', { storage: { cache: { medium: 'hostPath', path: '/etc/graft' } } }));
    await post(path.bm(NS), baseModel('dotdot-cache', { storage: { cache: { medium: 'hostPath', path: `${ALLOWED}/../../etc` } } }));
    for (const name of ['etc-cache', 'dotdot-cache']) {
      await waitStalled(NS, name, 'HostPathNotAllowed');
      const m = cond(await get(path.bm(NS, name)), 'Stalled').message;
      expect(m).toContain('spec.storage.cache.path');
      expect(m).toContain(`--allowed-host-paths flag: ${ALLOWED}`);
      await nothingMade(NS, name, ['dep', 'svc']);
    }
    await post(path.bm(NS), baseModel('node-cache', { storage: { cache: { medium: 'hostPath', path: `${ALLOWED}/models` } } }));
    await waitReady(NS, 'node-cache');
    const pod = (await get(path.dep(NS, 'node-cache')))!.spec.template.spec;
    expect(pod.volumes[0]).toEqual({ name: 'cache', hostPath: { path: `${ALLOWED}/models`, type: 'DirectoryOrCreate' } });
    // A folder shared by the pods of a node: each pod stages adapters in a folder of its own.
    const agent = pod.initContainers[0];
    expect(agent.env[0]).toEqual({ name: 'GRAFT_POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } });
    expect(agent.env.find((e: Obj) => e.name === 'GRAFT_AGENT_CACHE_DIR').value).toBe('/var/cache/graft/pods/$(GRAFT_POD_NAME)/adapters');
  });

  it('runs pods that the restricted Pod Security Standard admits, for vLLM and SGLang with every default on', async () => {
    const ns = 'restricted';
    await post('/api/v1/namespaces', {
      apiVersion: 'v1', kind: 'Namespace',
      metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } },
    });
    await post(path.bm(ns), baseModel('vllm', { replicas: 2 }));
    await post(path.bm(ns), baseModel('sglang', { engine: { type: 'sglang', port: 30000 }, model: { source: { uri: 's3://models/qwen/' } } }));
    // Each default off on its own, except the non-root engine, still passes.
    await post(path.bm(ns), baseModel('defaults-off', { security: { agentTLS: false, engineAPIKey: false, networkPolicy: false } }));
    // The control: a root engine is refused by the admission, so the check above can fail.
    await post(path.bm(ns), baseModel('root-engine', { security: { engineNonRoot: false } }));

    for (const name of ['vllm', 'sglang', 'defaults-off']) await waitReady(ns, name);
    const pods = await rawRequest(cp.kubeConfig, 'GET', `/api/v1/namespaces/${ns}/pods`);
    const byBm = new Map<string, number>();
    for (const p of (pods.body as Obj).items as Obj[]) byBm.set(p.metadata.labels['graft.dev/basemodel'], (byBm.get(p.metadata.labels['graft.dev/basemodel']) ?? 0) + 1);
    expect(Object.fromEntries(byBm)).toEqual({ vllm: 2, sglang: 1, 'defaults-off': 1 });
    const sglangPod = ((pods.body as Obj).items as Obj[]).find((p) => p.metadata.labels['graft.dev/basemodel'] === 'sglang')!;
    expect(sglangPod.spec.initContainers.map((c: Obj) => c.name)).toEqual(['graft-agent', 'graft-stage-base']);

    await waitStalled(ns, 'root-engine', 'FailedCreate', 60_000);
    const m = cond(await get(path.bm(ns, 'root-engine')), 'Stalled').message;
    console.log(`restricted admission of a root engine: ${m}`);
    expect(m).toContain('violates PodSecurity "restricted:latest"');
    expect(m).toContain('runAsNonRoot');
    const rsEvents = await rawRequest(cp.kubeConfig, 'GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`);
    const failed = ((rsEvents.body as Obj).items as Obj[]).filter((e) => e.reason === 'FailedCreate');
    expect(failed.length).toBeGreaterThan(0);
    for (const e of failed) expect(`${e.regarding.kind} ${e.regarding.name}: ${e.note}`).toMatch(/^(ReplicaSet root-engine-\S+|BaseModel root-engine): /);
  });

  it('writes nothing over 20 s of resyncs while refusing', async () => {
    await new Promise((r) => setTimeout(r, 3_000));
    const before = requestsByMethod(await op.metrics());
    await new Promise((r) => setTimeout(r, 20_000));
    const after = requestsByMethod(await op.metrics());
    const delta = Object.fromEntries(Object.keys({ ...before, ...after }).map((m) => [m, (after[m] ?? 0) - (before[m] ?? 0)]));
    console.log(`quiet 20 s with conflicts, refused hostPaths and a refused root engine: requests by verb ${JSON.stringify(delta)}`);
    for (const verb of ['POST', 'PUT', 'PATCH', 'DELETE']) expect(delta[verb] ?? 0, `${verb} requests`).toBe(0);
  }, 60_000);
});
