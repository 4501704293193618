import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseModelController } from '../../src/controllers/basemodel.js';
import { cacheSelectors } from '../../src/controllers/index.js';
import { adapterRoutingController, gatewayRoutingController } from '../../src/controllers/routing.js';
import { Manager } from '../../src/runtime/manager.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { KeyRing } from '../../src/security/keys.js';
import { createLogger } from '../../src/util/log.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { installGatewayApiCrds } from '../../src/sandbox/gateway.js';
import { gatewayApiCrds } from '../support/gateway.js';
import { waitFor } from '../support/ports.js';

// Routing against a real control plane (API server, controller manager for garbage collection,
// scheduler, KWOK nodes with pod CIDRs in 10.244.0.0/16: KWOK only hands out the addresses, no
// traffic is sent). The BaseModel controller and both routing controllers run in this process;
// the Adapter controller does not: the test writes Adapter status itself, as that controller would
// (placements Loaded with a digest), and watches the EndpointSlice follow. The Gateway API's CRDs
// are absent at first (Routed says so, nothing loops) and installed later.
type Obj = Record<string, any>;
const NS = 'default';
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const g = '/apis/graft.dev/v1alpha1/namespaces/default';
const svcPath = (n = '') => `/api/v1/namespaces/${NS}/services${n ? `/${n}` : ''}`;
const slicePath = (n = '') => `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices${n ? `/${n}` : ''}`;
const routePath = (n = '') => `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes${n ? `/${n}` : ''}`;

describe('routing (e2e)', () => {
  let cp: ControlPlane;
  let mgr: Manager;
  const call = async (method: string, path: string, body?: unknown, type?: string) => {
    const r = await rawRequest(cp.kubeConfig, method, path, body, type);
    if (r.status >= 300 && !(method === 'DELETE' && r.status === 404)) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 400)}`);
    return r.body as Obj;
  };
  const get = async (path: string) => { const r = await rawRequest(cp.kubeConfig, 'GET', path); return r.status === 200 ? (r.body as Obj) : undefined; };
  const merge = (path: string, body: Obj) => call('PATCH', path, body, 'application/merge-patch+json');
  const setStatus = (adapter: string, status: Obj) => merge(`${g}/adapters/${adapter}/status`, { status });
  const slicePods = async (adapter: string) => {
    const s = await get(slicePath(`adapter-${adapter}`));
    return s ? ((s.endpoints ?? []) as Obj[]).map((e) => `${e.targetRef.name}=${e.addresses[0]}`).sort() : undefined;
  };
  // Waits until the slice lists exactly these pods; returns how long it took (printed, never asserted).
  const expectSlice = async (adapter: string, pods: string[], what: string) => {
    const want = pods.map((p) => `${p}=${ips.get(p)}`).sort();
    const t0 = Date.now();
    let last: string[] | undefined;
    await waitFor(`${adapter}'s EndpointSlice: ${what}`, async () => JSON.stringify(last = await slicePods(adapter)) === JSON.stringify(want), 20_000, 20)
      .catch((err: Error) => { throw new Error(`${err.message}; last: ${JSON.stringify(last)}; want ${JSON.stringify(want)}`); });
    const ms = Date.now() - t0;
    latencies.push(ms);
    return ms;
  };
  const latencies: number[] = [];
  const ips = new Map<string, string>();
  let pods: string[] = [];
  const bmEvents = async () => ((await get(`/apis/events.k8s.io/v1/namespaces/${NS}/events?fieldSelector=regarding.name=llama`))?.items ?? []) as Obj[];
  const cond = (o: Obj | undefined, type: string) => (o?.status?.conditions ?? []).find((c: Obj) => c.type === type);
  // Writes (every verb but GET) this process sent, by resource.
  const writes = async () => {
    const out: Record<string, number> = {};
    for (const v of (await mgr.metrics.kubeRequests.get()).values) {
      if (v.labels.method === 'GET') continue;
      const k = `${v.labels.method} ${v.labels.resource}`;
      out[k] = (out[k] ?? 0) + v.value;
    }
    return out;
  };
  const diff = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.keys(b).filter((k) => (b[k] ?? 0) !== (a[k] ?? 0)).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]));
  const waitRunningPods = async (n: number) => {
    await waitFor(`${n} ready serving pods`, async () => {
      const list = ((await get(`/api/v1/namespaces/${NS}/pods?labelSelector=graft.dev/basemodel=llama`))?.items ?? []) as Obj[];
      const ready = list.filter((p) => !p.metadata.deletionTimestamp && p.status?.podIP && (p.status.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True'));
      for (const p of ready) ips.set(p.metadata.name, p.status.podIP);
      pods = ready.map((p) => p.metadata.name as string).sort();
      return pods.length === n;
    }, 60_000, 200);
  };
  const adapterObj = (name: string, spec: Obj = {}) => ({ apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name }, spec: { baseModel: 'llama', source: { uri: `s3://adapters/${name}/` }, ...spec } });

  beforeAll(async () => {
    cp = await startControlPlane({ e2e: true, nodes: [{ name: 'gpu-node-1', podCIDR: '10.244.1.0/24', gpus: 8 }, { name: 'gpu-node-2', podCIDR: '10.244.2.0/24', gpus: 8 }] });
    // A resync every 2 s: every quiet period below sees many passes over unchanged objects.
    mgr = new Manager({ kubeConfig: cp.kubeConfig, cacheSelectors, resyncMs: 2_000, logger: process.env.GRAFT_TEST_VERBOSE ? createLogger({ name: 'operator', level: 'debug', destination: process.stderr }) : undefined });
    mgr.add(baseModelController({ agentImage: 'ghcr.io/graft-dev/graft:e2e', keyRing: new KeyRing(randomBytes(32)), operatorNamespace: NS, operatorPodLabels: { app: 'graft' } }));
    mgr.add(adapterRoutingController());
    mgr.add(gatewayRoutingController());
    await mgr.start();
    await call('POST', `${g}/basemodels`, {
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'llama' },
      spec: { model: { source: { uri: 'gpt2' } }, replicas: 3, routing: { gateway: { name: 'inference', namespace: 'gateways' } } },
    });
    await waitRunningPods(3);
  }, 180_000);

  afterAll(async () => {
    if (latencies.length) console.log(`routing: EndpointSlice followed each status change in ${latencies.join(', ')} ms (max ${Math.max(...latencies)})`);
    await mgr?.stop();
    await cp?.stop();
  });

  it('says Routed=False GatewayAPINotInstalled while the Gateway API is not installed, and writes nothing in a loop', async () => {
    await waitFor('Routed=False GatewayAPINotInstalled', async () => cond(await get(`${g}/basemodels/llama`), 'Routed')?.reason === 'GatewayAPINotInstalled', 30_000, 200);
    expect(cond(await get(`${g}/basemodels/llama`), 'Routed')).toMatchObject({ status: 'False', message: expect.stringContaining('install the Gateway API CRDs') });
    await waitFor('a Warning event GatewayAPINotInstalled', async () => (await bmEvents()).some((e) => e.type === 'Warning' && e.reason === 'GatewayAPINotInstalled'), 10_000, 100);
    expect(mgr.readiness()).toEqual({ ready: true, reason: '' });
    // Everything settled: no hot loop.
    await new Promise((r) => setTimeout(r, 3_000));
    const w0 = await writes();
    await new Promise((r) => setTimeout(r, 6_000));
    expect(diff(w0, await writes())).toEqual({});
  });

  it('gives an Adapter a selector-less Service and one EndpointSlice that follows its placements', async () => {
    await call('POST', `${g}/adapters`, adapterObj('sql'));
    await waitFor('the Service', async () => !!(await get(svcPath('adapter-sql'))), 20_000, 50);
    const svc = (await get(svcPath('adapter-sql')))!;
    expect(svc.spec.selector).toBeUndefined();
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 8000, targetPort: 8000, protocol: 'TCP' }]);
    expect(svc.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Adapter', name: 'sql', controller: true })]);
    await expectSlice('sql', [], 'empty before any placement');
    const slice = (await get(slicePath('adapter-sql')))!;
    expect(slice.metadata.labels).toMatchObject({ 'kubernetes.io/service-name': 'adapter-sql', 'endpointslice.kubernetes.io/managed-by': 'routing.graft.dev' });
    expect(slice.ports).toEqual([{ name: 'http', port: 8000, protocol: 'TCP' }]);
    expect(slice.addressType).toBe('IPv4');

    const [p1, p2, p3] = pods as [string, string, string];
    await setStatus('sql', { digest: A, placements: [{ pod: p1, state: 'Loaded', digest: A }, { pod: p2, state: 'Loading', digest: A }] });
    await expectSlice('sql', [p1], 'the one Loaded pod');
    await setStatus('sql', { digest: A, placements: [{ pod: p1, state: 'Loaded', digest: A }, { pod: p2, state: 'Loaded', digest: A }] });
    await expectSlice('sql', [p1, p2], 'both Loaded pods');
    // Placements move: p1 → p3.
    await setStatus('sql', { digest: A, placements: [{ pod: p2, state: 'Loaded', digest: A }, { pod: p3, state: 'Loaded', digest: A }, { pod: p1, state: 'Unloading', digest: A }] });
    await expectSlice('sql', [p2, p3], 'after the placement moved');
    const e = ((await get(slicePath('adapter-sql')))!.endpoints as Obj[])[0]!;
    expect(e).toMatchObject({ conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: p2 } });
  });

  it('writes one EndpointSlice per placement change and nothing at all in a quiet period', async () => {
    const [, p2, p3] = pods as [string, string, string];
    await new Promise((r) => setTimeout(r, 1_000));
    const w0 = await writes();
    await setStatus('sql', { digest: A, placements: [{ pod: p2, state: 'Loaded', digest: A }, { pod: p3, state: 'Loading', digest: A }] });
    await expectSlice('sql', [p2], 'p3 reloading');
    await new Promise((r) => setTimeout(r, 3_000)); // resyncs run meanwhile
    expect(diff(w0, await writes())).toEqual({ 'PATCH endpointslices': 1 });
    // A quiet period with a resync every 2 s: no write of any kind.
    const w1 = await writes();
    await new Promise((r) => setTimeout(r, 8_000));
    expect(diff(w1, await writes())).toEqual({});
    // The status changed in a field routing does not read: nothing either.
    await setStatus('sql', { digest: A, readyReplicas: 1, placements: [{ pod: p2, state: 'Loaded', digest: A }, { pod: p3, state: 'Loading', digest: A }] });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(diff(w1, await writes())).toEqual({});
  });

  it('drops a pod that turns NotReady or is deleted, and takes it back when Ready again', async () => {
    const [p1, p2, p3] = pods as [string, string, string];
    await setStatus('sql', { digest: A, placements: [p1, p2, p3].map((pod) => ({ pod, state: 'Loaded', digest: A })) });
    await expectSlice('sql', [p1, p2, p3], 'all three');
    const ready = (status: 'True' | 'False') => call('PATCH', `/api/v1/namespaces/${NS}/pods/${p2}/status`, {
      status: { conditions: [{ type: 'Ready', status, reason: status === 'True' ? '' : 'ContainersNotReady', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] },
    }, 'application/strategic-merge-patch+json');
    await ready('False');
    await expectSlice('sql', [p1, p3], 'p2 NotReady');
    await ready('True');
    await expectSlice('sql', [p1, p2, p3], 'p2 Ready again');
    await call('DELETE', `/api/v1/namespaces/${NS}/pods/${p1}`);
    await expectSlice('sql', [p2, p3], 'p1 deleted (the placement still names it)');
    await waitRunningPods(3); // the ReplicaSet replaces it
  });

  it('during a rolling update lists the old version\'s pods until a pod has the new one Loaded, then only those', async () => {
    const [q1, q2] = pods.filter((p) => ips.has(p)) as [string, string];
    await setStatus('sql', { digest: A, placements: [{ pod: q1, state: 'Loaded', digest: A }, { pod: q2, state: 'Loaded', digest: A }] });
    await expectSlice('sql', [q1, q2], 'version A on both');
    // spec.source changed: the Adapter controller drops status.digest until a pod has the new version.
    await merge(`${g}/adapters/sql`, { spec: { source: { uri: 's3://adapters/sql-v2/' } } });
    await setStatus('sql', { digest: null, placements: [{ pod: q1, state: 'Staging' }, { pod: q2, state: 'Loaded', digest: A }] });
    await expectSlice('sql', [q2], 'only the pod still serving A');
    await setStatus('sql', { digest: B, placements: [{ pod: q1, state: 'Loaded', digest: B }, { pod: q2, state: 'Loaded', digest: A }] });
    await expectSlice('sql', [q1], 'only the pod serving B');
    await setStatus('sql', { digest: B, placements: [{ pod: q1, state: 'Loaded', digest: B }, { pod: q2, state: 'Loaded', digest: B }] });
    await expectSlice('sql', [q1, q2], 'B everywhere');
  });

  it('leaves a Service it does not own byte-identical and reports OwnershipConflict on the Adapter', async () => {
    const theirs = await call('POST', svcPath(), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'adapter-taken' }, spec: { selector: { app: 'theirs' }, ports: [{ port: 80 }] } });
    await call('POST', `${g}/adapters`, adapterObj('taken'));
    await waitFor('the OwnershipConflict event', async () => {
      const evs = (await get(`/apis/events.k8s.io/v1/namespaces/${NS}/events?fieldSelector=regarding.name=taken`))?.items as Obj[] | undefined;
      return !!evs?.some((e) => e.reason === 'OwnershipConflict' && e.type === 'Warning' && /Service default\/adapter-taken already exists and is not controlled by this Adapter/.test(e.note));
    }, 20_000, 100);
    await setStatus('taken', { digest: A, placements: [{ pod: pods[0], state: 'Loaded', digest: A }] });
    await new Promise((r) => setTimeout(r, 3_000));
    const now = (await get(svcPath('adapter-taken')))!;
    expect(now.metadata.resourceVersion).toBe(theirs.metadata.resourceVersion);
    expect(now).toEqual(theirs);
    expect(await get(slicePath('adapter-taken'))).toBeUndefined();
  });

  it('removes the Service and EndpointSlice as soon as the Adapter is being deleted, and with it through garbage collection', async () => {
    // A finalizer keeps the Adapter (as the Adapter controller's unload finalizer does).
    await merge(`${g}/adapters/sql`, { metadata: { finalizers: ['graft.dev/test-hold'] } });
    await call('DELETE', `${g}/adapters/sql`);
    await waitFor('the Service and EndpointSlice gone', async () => !(await get(svcPath('adapter-sql'))) && !(await get(slicePath('adapter-sql'))), 20_000, 50);
    expect(await get(`${g}/adapters/sql`)).toBeDefined();
    await merge(`${g}/adapters/sql`, { metadata: { finalizers: null } });
    // Without a finalizer the garbage collector removes them with the Adapter.
    await call('POST', `${g}/adapters`, adapterObj('short'));
    await waitFor('short\'s EndpointSlice', async () => !!(await get(slicePath('adapter-short'))), 20_000, 50);
    await call('DELETE', `${g}/adapters/short`);
    await waitFor('short\'s Service and EndpointSlice gone', async () => !(await get(svcPath('adapter-short'))) && !(await get(slicePath('adapter-short'))), 30_000, 100);
  });

  it('writes HTTPRoutes once the Gateway API is installed, and reflects their status in Routed', async () => {
    for (const n of ['chat', 'code']) await call('POST', `${g}/adapters`, adapterObj(n, n === 'chat' ? { servedName: 'chatty' } : {}));
    await installGatewayApiCrds(cp.kubeConfig, gatewayApiCrds());
    // The optional informer looks again within 15 s; the gateway controller within 30 s.
    await waitFor('HTTPRoute llama-0', async () => !!(await get(routePath('llama-0'))), 60_000, 200);
    const routeValues = async () => (((await get(routePath('llama-0')))?.spec?.rules ?? []) as Obj[]).map((r) => r.matches[0].headers?.[0]?.value ?? r.matches[0].path.value);
    await waitFor('every served name routed', async () => (await routeValues()).length === 6, 20_000, 100);
    const route = (await get(routePath('llama-0')))!;
    expect(await routeValues()).toEqual(['llama', '/llama/llama/', 'chatty', '/llama/chatty/', 'code', '/llama/code/']);
    expect(route.spec.parentRefs).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'inference', namespace: 'gateways' }]);
    expect(route.spec.rules[3]).toMatchObject({
      matches: [{ path: { type: 'PathPrefix', value: '/llama/chatty/' } }],
      filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }],
      backendRefs: [expect.objectContaining({ name: 'adapter-chat', port: 8000 })],
    });
    // "taken" has no Service of its own: it is not routed (its name's Service is someone else's).
    expect(JSON.stringify(route.spec.rules)).not.toContain('adapter-taken');
    await waitFor('Routed Unknown (no Gateway controller yet)', async () => cond(await get(`${g}/basemodels/llama`), 'Routed')?.status === 'Unknown', 20_000, 100);

    // A Gateway controller's verdict, written as one would.
    const verdict = (accepted: Obj) => call('PATCH', `${routePath('llama-0')}/status`, { status: { parents: [{
      parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'inference', namespace: 'gateways' }, controllerName: 'example.com/gateway',
      conditions: [accepted, { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: '', observedGeneration: route.metadata.generation, lastTransitionTime: '2026-12-01T11:00:00Z' }],
    }] } }, 'application/merge-patch+json');
    await verdict({ type: 'Accepted', status: 'True', reason: 'Accepted', message: '', observedGeneration: route.metadata.generation, lastTransitionTime: '2026-12-01T11:00:00Z' });
    await waitFor('Routed True', async () => cond(await get(`${g}/basemodels/llama`), 'Routed')?.status === 'True', 20_000, 100);
    await verdict({ type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners', message: 'no listener admits routes from namespace default', observedGeneration: route.metadata.generation, lastTransitionTime: '2026-12-01T11:00:01Z' });
    await waitFor('Routed False NotAllowedByListeners', async () => cond(await get(`${g}/basemodels/llama`), 'Routed')?.reason === 'NotAllowedByListeners', 20_000, 100);
    await waitFor('a Warning event NotAllowedByListeners', async () => (await bmEvents()).some((e) => e.type === 'Warning' && e.reason === 'NotAllowedByListeners' && /no listener admits/.test(e.note)), 10_000, 100);

    // Quiet again: nothing written.
    await new Promise((r) => setTimeout(r, 2_000));
    const w0 = await writes();
    await new Promise((r) => setTimeout(r, 6_000));
    expect(diff(w0, await writes())).toEqual({});

    // An adapter goes: its rules go; the Gateway unset: the route goes and so does Routed.
    await call('DELETE', `${g}/adapters/code`);
    await waitFor('code unrouted', async () => (await routeValues()).length === 4, 30_000, 100);
    await merge(`${g}/basemodels/llama`, { spec: { routing: null } });
    await waitFor('HTTPRoute gone', async () => !(await get(routePath('llama-0'))), 20_000, 100);
    await waitFor('Routed removed', async () => !cond(await get(`${g}/basemodels/llama`), 'Routed'), 20_000, 100);
  });
});
