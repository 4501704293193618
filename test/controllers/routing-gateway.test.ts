import { describe, expect, it } from 'vitest';
import { reconcileGatewayRoutes } from '../../src/controllers/routing/gateway.js';
import { routedCondition } from '../../src/controllers/routing/route-status.js';
import { desiredRoutes, NAMES_PER_ROUTE } from '../../src/controllers/routing/routes.js';
import { KubeApiError } from '../../src/runtime/kube-client.js';
import type { KubeObject } from '../../src/runtime/object.js';
import { silentLogger } from '../../src/util/log.js';
import { adapter, baseModel, NS, World } from './routing-fixtures.js';

const signal = new AbortController().signal;
const GW = { name: 'inference', namespace: 'gateways' };
const bmWithGateway = (gateway: Record<string, unknown> | null = GW, extra: Record<string, unknown> = {}) => baseModel('llama', { ...(gateway ? { routing: { gateway } } : {}), ...extra });
const pass = (w: World, deps = w.deps()) => reconcileGatewayRoutes(deps, NS, 'llama', silentLogger, signal);
// An adapter with the Service routing made for it (controlled by it).
function withService(w: World, name: string, spec: Record<string, unknown> = {}): void {
  const a = adapter(name, {}, spec);
  w.put(a);
  w.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: `adapter-${name}`, namespace: NS, uid: `svc-${name}`, ownerReferences: [{ apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', name, uid: a.metadata!.uid!, controller: true }] } });
}
const rulesOf = (r: KubeObject) => (r.spec as { rules: any[] }).rules;

describe('desiredRoutes', () => {
  const bm = bmWithGateway();
  const base = { servedName: 'llama', service: 'llama', port: 8000 };

  it('gives each served name a header rule and a path rule rewritten to /, the base model first', () => {
    const [route, ...more] = desiredRoutes(bm, GW, base, [{ servedName: 'sql', service: 'adapter-sql', port: 8000 }]);
    expect(more).toEqual([]);
    expect(route!.metadata).toMatchObject({ name: 'llama-0', namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'graft', 'graft.dev/basemodel': 'llama' } });
    expect(route!.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'BaseModel', name: 'llama', controller: true })]);
    expect((route!.spec as any).parentRefs).toEqual([{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'inference', namespace: 'gateways' }]);
    expect(rulesOf(route!)).toEqual([
      { matches: [{ headers: [{ type: 'Exact', name: 'X-Gateway-Model-Name', value: 'llama' }] }], backendRefs: [{ name: 'llama', port: 8000 }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/llama/llama/' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }], backendRefs: [{ name: 'llama', port: 8000 }] },
      { matches: [{ headers: [{ type: 'Exact', name: 'X-Gateway-Model-Name', value: 'sql' }] }], backendRefs: [{ name: 'adapter-sql', port: 8000 }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/llama/sql/' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }], backendRefs: [{ name: 'adapter-sql', port: 8000 }] },
    ]);
  });

  it('splits many names over routes of at most 16 rules, deterministically by served name', () => {
    const adapters = Array.from({ length: 20 }, (_, i) => ({ servedName: `a-${String(i).padStart(2, '0')}`, service: `adapter-a-${i}`, port: 8000 }));
    const routes = desiredRoutes(bm, GW, base, [...adapters].reverse());
    expect(routes.map((r) => r.metadata!.name)).toEqual(['llama-0', 'llama-1', 'llama-2']);
    expect(routes.map((r) => rulesOf(r).length)).toEqual([16, 16, 10]);
    expect(NAMES_PER_ROUTE * 2).toBe(16);
    expect(rulesOf(routes[0]!)[0].matches[0].headers[0].value).toBe('llama');
    expect(rulesOf(routes[1]!)[0].matches[0].headers[0].value).toBe('a-07');
    expect(desiredRoutes(bm, GW, base, adapters)).toEqual(routes);
    // Every route stays inside the CRD's total of 128 matches.
    for (const r of routes) expect(rulesOf(r).reduce((n, x) => n + x.matches.length, 0)).toBeLessThanOrEqual(128);
  });
});

describe('reconcileGatewayRoutes', () => {
  it('writes nothing for a BaseModel that names no Gateway', async () => {
    const w = new World(bmWithGateway(null));
    withService(w, 'sql');
    await pass(w);
    expect(w.writes()).toEqual([]);
  });

  it('routes the base model and each adapter whose Service routing made, and only those; a second pass writes nothing', async () => {
    const w = new World(bmWithGateway(GW, { model: { name: 'meta/llama-3', source: { uri: 'gpt2' } } }));
    withService(w, 'sql');
    withService(w, 'chat', { servedName: 'chatty' });
    w.put(adapter('no-service-yet'));
    // A Service of that name someone else made: traffic must not go there.
    w.put(adapter('hijacked'));
    w.put({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'adapter-hijacked', namespace: NS, uid: 'x' } });
    const deps = w.deps();
    await pass(w, deps);
    expect(w.writes().map((c) => `${c.op} ${c.kind}/${c.name}`)).toEqual(['apply HTTPRoute/llama-0']);
    w.sync();
    const values = rulesOf(w.get('HTTPRoute', 'llama-0')!).map((r) => r.matches[0].headers?.[0].value ?? r.matches[0].path.value);
    expect(values).toEqual(['meta/llama-3', '/llama/meta/llama-3/', 'chatty', '/llama/chatty/', 'sql', '/llama/sql/']);
    await pass(w, deps);
    await pass(w, w.deps());
    expect(w.writes()).toHaveLength(1);
  });

  it('gives a served name two Adapters ask for to the older one', async () => {
    const w = new World(bmWithGateway());
    withService(w, 'old', { servedName: 'sql' });
    withService(w, 'young', { servedName: 'sql' });
    w.get('Adapter', 'young')!.metadata!.creationTimestamp = '2026-12-01T10:30:00Z';
    await pass(w); w.sync();
    expect(rulesOf(w.get('HTTPRoute', 'llama-0')!).filter((r) => r.matches[0].headers?.[0].value === 'sql').map((r) => r.backendRefs[0].name)).toEqual(['adapter-old']);
  });

  it('deletes its routes when the Gateway is unset, and the ones no longer needed when adapters go', async () => {
    const w = new World(bmWithGateway());
    for (let i = 0; i < 9; i++) withService(w, `a${i}`);
    await pass(w); w.sync();
    expect([...w.objects.keys()].filter((k) => k.startsWith('HTTPRoute/'))).toEqual(['HTTPRoute/llama-0', 'HTTPRoute/llama-1']);
    const n = w.writes().length;
    w.remove('Adapter', 'a8'); w.remove('Adapter', 'a7');
    await pass(w); w.sync();
    // The first route keeps the base model and a0…a6 as they were: only the second goes.
    expect(w.writes().slice(n).map((c) => `${c.op} ${c.name}`)).toEqual(['delete llama-1']);
    w.put(bmWithGateway(null));
    await pass(w);
    expect(w.writes().slice(-1).map((c) => `${c.op} ${c.name}`)).toEqual(['delete llama-0']);
  });

  it('without the Gateway API: no request at all, and a slow recheck', async () => {
    const w = new World(bmWithGateway());
    w.served = false;
    const r = await pass(w);
    expect(w.calls).toEqual([]);
    expect(r.requeueAfter).toBeGreaterThanOrEqual(30_000);
  });

  it('leaves a route name it does not own alone and reports it', async () => {
    const w = new World(bmWithGateway());
    w.foreign.set('HTTPRoute/llama-0', { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'llama-0', namespace: NS, uid: 'theirs' } });
    const r = await pass(w);
    expect(w.writes()).toEqual([]);
    expect(r.requeueAfter).toBeGreaterThan(0);
    expect(w.events[0]).toMatchObject({ type: 'Warning', reason: 'OwnershipConflict', on: 'BaseModel/llama' });
  });

  it('reports a route the API server refuses as an event on the BaseModel, without failing the pass', async () => {
    const w = new World(bmWithGateway());
    w.applyError = () => new KubeApiError(422, 'PATCH', '/x', { reason: 'Invalid', message: 'spec.rules[1].matches[0].path.value: Invalid value' });
    await pass(w);
    expect(w.events[0]).toMatchObject({ type: 'Warning', reason: 'InvalidRoute', on: 'BaseModel/llama' });
  });
});

describe('routedCondition', () => {
  const bm = bmWithGateway();
  const route = (name: string, parents: unknown[], generation = 1): KubeObject => ({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute',
    metadata: { name, namespace: NS, generation, ownerReferences: [{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'llama', uid: 'uid-bm-llama', controller: true }] },
    status: { parents },
  });
  const parent = (accepted: [string, string, string?], resolved: [string, string] = ['True', 'ResolvedRefs'], ref: Record<string, string> = { name: 'inference', namespace: 'gateways' }, gen = 1) => ({
    parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', ...ref }, controllerName: 'traefik.io/gateway-controller',
    conditions: [
      { type: 'Accepted', status: accepted[0], reason: accepted[1], message: accepted[2] ?? '', observedGeneration: gen },
      { type: 'ResolvedRefs', status: resolved[0], reason: resolved[1], message: '', observedGeneration: gen },
    ],
  });

  it('is absent without a Gateway, and says so when the Gateway API is not installed', () => {
    expect(routedCondition(bm, undefined, true, [])).toBeUndefined();
    expect(routedCondition(bm, GW, false, [])).toMatchObject({ status: 'False', reason: 'GatewayAPINotInstalled' });
  });

  it('is True when every route is Accepted with its refs resolved, for its current generation', () => {
    expect(routedCondition(bm, GW, true, [route('llama-0', [parent(['True', 'Accepted'])]), route('llama-1', [parent(['True', 'Accepted'])])]))
      .toMatchObject({ type: 'Routed', status: 'True', reason: 'Accepted', message: '2 HTTPRoutes accepted by Gateway gateways/inference' });
  });

  it('is Unknown while a route has no word from the Gateway for its current generation, or is not written yet', () => {
    expect(routedCondition(bm, GW, true, [])).toMatchObject({ status: 'Unknown', reason: 'RoutePending' });
    expect(routedCondition(bm, GW, true, [route('llama-0', [])])).toMatchObject({ status: 'Unknown', reason: 'RoutePending' });
    expect(routedCondition(bm, GW, true, [route('llama-0', [parent(['True', 'Accepted'], undefined, undefined, 1)], 2)])).toMatchObject({ status: 'Unknown' });
    // Status for another parent does not count.
    expect(routedCondition(bm, GW, true, [route('llama-0', [parent(['True', 'Accepted'], undefined, { name: 'other', namespace: 'gateways' })])])).toMatchObject({ status: 'Unknown' });
  });

  it('is False with the Gateway\'s reason when a route is refused or a backend does not resolve', () => {
    expect(routedCondition(bm, GW, true, [route('llama-0', [parent(['False', 'NotAllowedByListeners', 'no listener admits routes from ns'])])]))
      .toMatchObject({ status: 'False', reason: 'NotAllowedByListeners', message: expect.stringContaining('no listener admits routes from ns') });
    expect(routedCondition(bm, GW, true, [route('llama-0', [parent(['True', 'Accepted'], ['False', 'BackendNotFound'])])]))
      .toMatchObject({ status: 'False', reason: 'BackendNotFound' });
  });
});
