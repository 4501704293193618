import { describe, expect, it } from 'vitest';
import { adapterServiceName, httpRouteName } from '../../src/contracts/names.js';
import { endpointPods, routablePod } from '../../src/controllers/routing/endpoints.js';
import { reconcileAdapterRouting } from '../../src/controllers/routing/reconcile.js';
import { KubeApiError } from '../../src/runtime/kube-client.js';
import { silentLogger } from '../../src/util/log.js';
import { adapter, baseModel, DIGEST_A, DIGEST_B, loaded, NS, pod, World } from './routing-fixtures.js';

const signal = new AbortController().signal;
const pass = (w: World, deps = w.deps(), name = 'sql') => reconcileAdapterRouting(deps, NS, name, silentLogger, signal);
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

describe('adapterServiceName', () => {
  it('is adapter-<name> when that is a DNS-1035 label', () => {
    expect(adapterServiceName('sql-expert')).toBe('adapter-sql-expert');
    expect(adapterServiceName('7b')).toBe('adapter-7b');
  });

  it('cuts long or dotted names to a valid label ending in a hash of the whole name, distinct per name', () => {
    const long = 'a'.repeat(200), long2 = `${'a'.repeat(199)}b`;
    for (const n of [long, long2, 'team.a.sql', 'team-a-sql-'.repeat(6) + 'x']) {
      const s = adapterServiceName(n);
      expect(s.length, s).toBeLessThanOrEqual(63);
      expect(s, n).toMatch(DNS1035);
    }
    expect(adapterServiceName(long)).not.toBe(adapterServiceName(long2));
    // A dot and a dash do not collide.
    expect(adapterServiceName('team.a')).not.toBe(adapterServiceName('team-a'));
    expect(adapterServiceName('team.a')).toBe(adapterServiceName('team.a'));
  });

  it('names HTTPRoutes <bm>-<i>, within 253 characters', () => {
    expect(httpRouteName('llama', 0)).toBe('llama-0');
    expect(httpRouteName('x'.repeat(253), 12).length).toBeLessThanOrEqual(253);
  });
});

describe('endpointPods', () => {
  const pods = new Map([['p1', '10.244.1.2'], ['p2', '10.244.1.3'], ['p3', '10.244.2.2']].map(([n, ip]) => [n, { name: n, uid: `u-${n}`, address: ip }]));
  const look = (n: string) => pods.get(n);

  it('lists the pods where the current version is Loaded, in name order', () => {
    const status = { digest: DIGEST_A, placements: [loaded('p3'), { pod: 'p1', state: 'Loading', digest: DIGEST_A }, loaded('p2')] };
    expect(endpointPods(status as never, look).map((p) => p.name)).toEqual(['p2', 'p3']);
  });

  it('keeps the old version\'s pods during a roll until a ready pod has the new one Loaded, then only the new', () => {
    // The new version is staging everywhere: status.digest is absent (the Adapter controller drops it).
    expect(endpointPods({ placements: [loaded('p1', DIGEST_A), { pod: 'p2', state: 'Staging' }] } as never, look).map((p) => p.name)).toEqual(['p1']);
    // The new version is loaded on p2 only.
    expect(endpointPods({ digest: DIGEST_B, placements: [loaded('p1', DIGEST_A), loaded('p2', DIGEST_B)] } as never, look).map((p) => p.name)).toEqual(['p2']);
    // Loaded on a pod that is not ready does not count: the old copy keeps serving.
    expect(endpointPods({ digest: DIGEST_B, placements: [loaded('p1', DIGEST_A), loaded('gone', DIGEST_B)] } as never, look).map((p) => p.name)).toEqual(['p1']);
  });

  it('lists nobody without placements, or when none is Loaded', () => {
    expect(endpointPods(undefined, look)).toEqual([]);
    expect(endpointPods({ digest: DIGEST_A, placements: [{ pod: 'p1', state: 'Failed', digest: DIGEST_A }, { pod: 'p2', state: 'Unloading', digest: DIGEST_A }] } as never, look)).toEqual([]);
  });

  it('takes only Ready, live pods with an address that are the BaseModel\'s own', () => {
    const own = () => true;
    expect(routablePod(pod('a', '10.244.1.2'), own)).toEqual({ name: 'a', uid: 'uid-pod-a', address: '10.244.1.2', nodeName: 'node-1' });
    expect(routablePod(pod('a', '10.244.1.2', { ready: false }), own)).toBeUndefined();
    expect(routablePod(pod('a', '10.244.1.2', { deleting: true }), own)).toBeUndefined();
    expect(routablePod(pod('a', ''), own)).toBeUndefined();
    expect(routablePod(pod('a', '10.244.1.2'), () => false)).toBeUndefined();
    expect(routablePod(undefined, own)).toBeUndefined();
  });

  it('leaves out pods whose address the API server refuses in an EndpointSlice (loopback, link-local, unspecified)', () => {
    const own = () => true;
    for (const ip of ['127.0.1.2', '169.254.3.4', '0.0.0.0', '::1', 'fe80::1', '::']) expect(routablePod(pod('a', ip), own), ip).toBeUndefined();
    for (const ip of ['10.244.1.2', '192.168.0.9', 'fd00::5', '2001:db8::1']) expect(routablePod(pod('a', ip), own)?.address, ip).toBe(ip);
  });
});

describe('reconcileAdapterRouting', () => {
  const world = () => new World(baseModel(), pod('p1', '10.244.1.2'), pod('p2', '10.244.2.2'), adapter('sql', { digest: DIGEST_A, placements: [loaded('p1'), loaded('p2')] }));
  const slice = (w: World) => w.get('EndpointSlice', 'adapter-sql') as any;

  it('creates a selector-less Service and one EndpointSlice of the Loaded ready pods on the engine port, both owned by the Adapter', async () => {
    const w = world();
    await pass(w);
    expect(w.writes().map((c) => `${c.op} ${c.kind}/${c.name}`)).toEqual(['apply Service/adapter-sql', 'apply EndpointSlice/adapter-sql']);
    w.sync();
    const svc = w.get('Service', 'adapter-sql') as any;
    expect(svc.spec).toEqual({ type: 'ClusterIP', ports: [{ name: 'http', port: 8000, targetPort: 8000, protocol: 'TCP' }] });
    expect(svc.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'graft', 'graft.dev/basemodel': 'llama' });
    expect(svc.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Adapter', name: 'sql', uid: 'uid-ad-sql', controller: true })]);
    const s = slice(w);
    expect(s.metadata.labels).toMatchObject({ 'kubernetes.io/service-name': 'adapter-sql', 'endpointslice.kubernetes.io/managed-by': 'routing.graft.dev', 'app.kubernetes.io/managed-by': 'graft' });
    expect(s.addressType).toBe('IPv4');
    expect(s.ports).toEqual([{ name: 'http', port: 8000, protocol: 'TCP' }]);
    expect(s.endpoints).toEqual([
      { addresses: ['10.244.1.2'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: NS, name: 'p1', uid: 'uid-pod-p1' }, nodeName: 'node-1' },
      { addresses: ['10.244.2.2'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: NS, name: 'p2', uid: 'uid-pod-p2' }, nodeName: 'node-1' },
    ]);
  });

  it('uses the BaseModel\'s engine port', async () => {
    const w = new World(baseModel('llama', { engine: { port: 9001 } }), pod('p1', '10.244.1.2'), adapter('sql', { digest: DIGEST_A, placements: [loaded('p1')] }));
    await pass(w);
    w.sync();
    expect((w.get('Service', 'adapter-sql') as any).spec.ports[0].port).toBe(9001);
    expect(slice(w).ports[0].port).toBe(9001);
  });

  it('writes nothing on a pass over an unchanged world, also before the cache has seen its own writes', async () => {
    const w = world();
    const deps = w.deps();
    await pass(w, deps);
    const n = w.writes().length;
    await pass(w, deps); // the cache has not caught up yet
    expect(w.writes().length).toBe(n);
    w.sync();
    await pass(w, deps);
    await pass(w, w.deps()); // a new process: the cache alone decides
    expect(w.writes().length).toBe(n);
  });

  it('writes the EndpointSlice once per placement change, and follows pod loss', async () => {
    const w = world();
    const deps = w.deps();
    await pass(w, deps); w.sync();
    const before = w.writes().length;
    w.put(adapter('sql', { digest: DIGEST_A, placements: [loaded('p1')] }));
    await pass(w, deps); await pass(w, deps); w.sync(); await pass(w, deps);
    expect(w.writes().slice(before).map((c) => `${c.op} ${c.kind}`)).toEqual(['apply EndpointSlice']);
    expect(slice(w).endpoints.map((e: any) => e.targetRef.name)).toEqual(['p1']);
    // The pod turns NotReady, then is deleted.
    w.put(pod('p1', '10.244.1.2', { ready: false }));
    await pass(w, deps); w.sync();
    expect(slice(w).endpoints).toEqual([]);
    w.put(pod('p1', '10.244.1.2'));
    await pass(w, deps); w.sync();
    expect(slice(w).endpoints).toHaveLength(1);
    w.remove('Pod', 'p1');
    await pass(w, deps); w.sync();
    expect(slice(w).endpoints).toEqual([]);
    expect(w.writes().slice(before).filter((c) => c.kind === 'EndpointSlice')).toHaveLength(4);
  });

  it('lists no pod that is not the BaseModel\'s own, whatever its label and the placements say', async () => {
    const w = world();
    w.put(pod('p2', '10.244.2.2', { rsUid: 'uid-someone-else' }));
    await pass(w); w.sync();
    expect(slice(w).endpoints.map((e: any) => e.targetRef.name)).toEqual(['p1']);
  });

  it('leaves a Service it does not own byte-identical and reports OwnershipConflict on the Adapter', async () => {
    const w = world();
    const theirs = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'adapter-sql', namespace: NS, uid: 'their-uid', resourceVersion: '7' }, spec: { selector: { app: 'theirs' } } };
    w.foreign.set('Service/adapter-sql', theirs);
    const r = await pass(w);
    expect(w.writes()).toEqual([]);
    expect(r.requeueAfter).toBeGreaterThan(0);
    expect(w.events).toEqual([expect.objectContaining({ type: 'Warning', reason: 'OwnershipConflict', on: 'Adapter/sql' })]);
    expect(w.events[0]!.note).toContain('Service ns/adapter-sql already exists and is not controlled by this Adapter (it has no controller)');
    // A Service controlled by someone else (a BaseModel named adapter-sql, say) is not taken over either.
    const w2 = world();
    w2.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'adapter-sql', namespace: NS, uid: 'u2', ownerReferences: [{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'adapter-sql', uid: 'uid-bm-x', controller: true }] } });
    await pass(w2);
    expect(w2.writes()).toEqual([]);
    expect(w2.events[0]!.note).toContain('controlled by BaseModel adapter-sql');
  });

  it('waits without writing while the BaseModel is missing or invalid', async () => {
    const w = world();
    w.remove('BaseModel', 'llama');
    await pass(w);
    w.put(baseModel('llama', { engine: { port: 0 } }));
    await pass(w);
    expect(w.writes()).toEqual([]);
  });

  it('removes the Service and EndpointSlice as soon as the Adapter is being deleted', async () => {
    const w = world();
    await pass(w); w.sync();
    const a = adapter('sql', { digest: DIGEST_A, placements: [loaded('p1')] });
    a.metadata!.deletionTimestamp = '2026-12-01T11:00:00Z';
    w.put(a);
    await pass(w);
    expect(w.writes().filter((c) => c.op === 'delete').map((c) => `${c.kind}/${c.name}`)).toEqual(['EndpointSlice/adapter-sql', 'Service/adapter-sql']);
    expect(w.get('Service', 'adapter-sql')).toBeUndefined();
  });

  it('reports an EndpointSlice the API server refuses once, and does not send it again until it changes', async () => {
    const w = world();
    w.applyError = (b) => (b.kind === 'EndpointSlice' ? new KubeApiError(422, 'PATCH', '/x', { reason: 'Invalid', message: 'endpoints[0].addresses[0]: Invalid value: "127.0.1.2": may not be in the loopback range' }) : undefined);
    const deps = w.deps();
    await pass(w, deps); w.sync();
    await pass(w, deps); await pass(w, deps);
    expect(w.writes().map((c) => `${c.op} ${c.kind}`)).toEqual(['apply Service', 'apply EndpointSlice']);
    expect(w.events.map((e) => e.reason)).toEqual(['RoutingRefused']);
    expect(w.events[0]!.note).toContain('loopback');
    w.put(adapter('sql', { digest: DIGEST_A, placements: [loaded('p1')] }));
    await pass(w, deps);
    expect(w.writes().map((c) => `${c.op} ${c.kind}`)).toEqual(['apply Service', 'apply EndpointSlice', 'apply EndpointSlice']);
  });

  it('replaces a slice whose address type no longer fits (addressType is immutable)', async () => {
    const w = new World(baseModel(), pod('p1', 'fd00::5'), adapter('sql', { digest: DIGEST_A, placements: [] }));
    await pass(w); w.sync();
    expect(slice(w).addressType).toBe('IPv4');
    w.put(adapter('sql', { digest: DIGEST_A, placements: [loaded('p1')] }));
    await pass(w); w.sync();
    expect(w.writes().slice(-2).map((c) => `${c.op} ${c.kind}`)).toEqual(['delete EndpointSlice', 'apply EndpointSlice']);
    expect(slice(w).addressType).toBe('IPv6');
    expect(slice(w).endpoints[0].addresses).toEqual(['fd00::5']);
  });
});
