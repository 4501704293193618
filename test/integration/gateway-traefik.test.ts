import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxNetwork } from '../../src/sandbox/netns.js';
import { PodNetns } from '../../src/sandbox/pod-netns.js';
import { TRAEFIK_CONTROLLER } from '../../src/sandbox/gateway.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { echoBackend, startSandboxGateway, type SandboxGateway } from '../support/gateway.js';
import type { Proc } from '../../src/sandbox/proc.js';
import { waitFor } from '../support/ports.js';

// The sandbox's Gateway API data plane on its own: Traefik (built from the Go module proxy) with
// its kubernetesgateway provider against the real API server, signed in as its own
// ServiceAccount. HTTPRoutes written by hand, to selector-less Services whose EndpointSlices are
// written by hand, as Graft's routing controller writes them. The backends are plain HTTP servers
// in network namespaces of their own at pod addresses (run under hack/netns.sh); Traefik, like the
// API server, runs in the sandbox's parent namespace and reaches them over its bridge.
type Obj = Record<string, any>;
const NS = 'default';
const GW = '/apis/gateway.networking.k8s.io/v1';

describe('Traefik as the sandbox Gateway (e2e)', () => {
  let cp: ControlPlane;
  let gw: SandboxGateway;
  const backends: Proc[] = [];
  const netns: PodNetns[] = [];
  const call = async (method: string, path: string, body?: Obj, ok = [200, 201]) => {
    const r = await rawRequest(cp.kubeConfig, method, path, body, method === 'PATCH' ? 'application/merge-patch+json' : undefined);
    if (!ok.includes(r.status)) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 500)}`);
    return r.body as Obj;
  };
  const routeParent = (route: Obj | undefined) => ((route?.status?.parents ?? []) as Obj[]).find((p) => p.controllerName === TRAEFIK_CONTROLLER);
  const condOf = (p: Obj | undefined, type: string) => ((p?.conditions ?? []) as Obj[]).find((c) => c.type === type);
  const waitRoute = async (name: string, want: { Accepted: string; ResolvedRefs: string; reason?: string }) => {
    let last: Obj | undefined;
    await waitFor(`HTTPRoute ${name}: ${JSON.stringify(want)}`, async () => {
      last = await call('GET', `${GW}/namespaces/${NS}/httproutes/${name}`);
      const p = routeParent(last);
      return condOf(p, 'Accepted')?.status === want.Accepted && condOf(p, 'ResolvedRefs')?.status === want.ResolvedRefs
        && condOf(p, 'Accepted')?.observedGeneration === last.metadata.generation
        && (!want.reason || condOf(p, 'ResolvedRefs')?.reason === want.reason);
    }, 30_000, 200).catch((err: Error) => { throw new Error(`${err.message}\nlast status: ${JSON.stringify(last?.status)}\n--- traefik\n${gw.proc.output.slice(-3000)}`); });
    return routeParent(last)!;
  };
  // A selector-less Service with one named port and an EndpointSlice listing `addresses` as ready.
  const backend = async (name: string, addresses: string[], port: number) => {
    await call('POST', `/api/v1/namespaces/${NS}/services`, {
      apiVersion: 'v1', kind: 'Service', metadata: { name },
      spec: { ports: [{ name: 'http', port: 80, targetPort: port, protocol: 'TCP' }] },
    });
    await call('POST', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'graft-test' } },
      addressType: 'IPv4',
      endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    });
  };
  const route = (name: string, rules: Obj[]) => ({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name },
    spec: { parentRefs: [{ name: gw.ref.name, namespace: gw.ref.namespace, sectionName: gw.ref.sectionName }], rules },
  });
  const toService = (name: string) => [{ name, port: 80 }];

  beforeAll(async () => {
    cp = await startControlPlane({ crds: false });
    gw = await startSandboxGateway(cp);
  });
  afterAll(async () => {
    for (const b of backends) await b.stop();
    for (const n of netns) await n.destroy();
    await gw?.stop();
    await cp?.stop();
  });

  it('runs Traefik as its own ServiceAccount, not as admin, and Programs the Gateway', async () => {
    const g = await call('GET', `${GW}/namespaces/${NS}/gateways/${gw.ref.name}`);
    expect(g.status.addresses).toEqual([{ type: 'IPAddress', value: '127.0.0.1' }]);
    const cls = await call('GET', `${GW}/gatewayclasses/${gw.className}`);
    expect(condOf(cls.status, 'Accepted')?.status).toBe('True');
    // What the ServiceAccount may do: read routes and write their status, not change the routes
    // or read anything outside the watched namespace.
    const may = async (verb: string, resource: string, namespace?: string, group = '') => {
      const r = await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
        spec: { user: 'system:serviceaccount:default:traefik', groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'], resourceAttributes: { verb, resource, namespace, group } },
      });
      return r.status.allowed === true;
    };
    expect(await may('watch', 'httproutes', NS, 'gateway.networking.k8s.io')).toBe(true);
    expect(await may('update', 'httproutes', NS, 'gateway.networking.k8s.io')).toBe(false);
    expect(await may('list', 'secrets', 'kube-system')).toBe(false);
    expect(await may('create', 'pods', NS)).toBe(false);
    expect(gw.proc.output).toContain('Creating cluster-external Provider client');
  });

  it('accepts a route with header and path-prefix rules and resolves its Service refs', async () => {
    // 10.244.200.0/24 is the sandbox's pod range; nothing is sent to this address here.
    await backend('echo-a', ['10.244.200.10'], 8000);
    await call('POST', `${GW}/namespaces/${NS}/httproutes`, route('models', [
      { matches: [{ headers: [{ type: 'Exact', name: 'X-Gateway-Model-Name', value: 'a' }] }], backendRefs: toService('echo-a') },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/bm/a/' } }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }],
        backendRefs: toService('echo-a'),
      },
    ]));
    const p = await waitRoute('models', { Accepted: 'True', ResolvedRefs: 'True' });
    expect(p.parentRef).toMatchObject({ name: gw.ref.name, sectionName: 'http' });
  });

  it('sends requests to the backend by header and by path prefix, rewritten to /', async () => {
    // Each backend in a network namespace of its own at a pod address, as a sandbox pod is.
    const [a, b] = await Promise.all([['a', '10.244.200.10'], ['b', '10.244.200.11']].map(async ([name, ip]) => {
      const ns = await PodNetns.create(sandboxNetwork(), `${NS}/echo-${name}`, randomUUID(), ip!);
      netns.push(ns);
      const p = echoBackend(name!, ip!, 8000, (cmd, args) => ns.wrap(cmd, args));
      backends.push(p);
      return p;
    }));
    await waitFor('the echo backends', () => a.output.includes('listening') && b.output.includes('listening'), 10_000, 50);
    await backend('echo-b', ['10.244.200.11'], 8000);
    await call('POST', `${GW}/namespaces/${NS}/httproutes`, route('models-b', [
      { matches: [{ headers: [{ type: 'Exact', name: 'X-Gateway-Model-Name', value: 'b' }] }], backendRefs: toService('echo-b') },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/bm/b/' } }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }],
        backendRefs: toService('echo-b'),
      },
    ]));
    await waitRoute('models-b', { Accepted: 'True', ResolvedRefs: 'True' });
    const get = async (path: string, model?: string) => {
      const r = await fetch(`${gw.url}${path}`, { headers: model ? { 'X-Gateway-Model-Name': model } : {} });
      return { status: r.status, body: r.status === 200 ? (await r.json()) as Obj : await r.text() };
    };
    // Status is written before the data plane takes the new configuration up (gateway.ts).
    await waitFor('traffic through the new route', async () => (await get('/v1/chat/completions', 'b')).status === 200, 10_000, 50);
    expect(await get('/v1/chat/completions', 'a')).toEqual({ status: 200, body: { backend: 'a', path: '/v1/chat/completions', model: 'a' } });
    expect(await get('/v1/chat/completions', 'b')).toEqual({ status: 200, body: { backend: 'b', path: '/v1/chat/completions', model: 'b' } });
    expect(await get('/bm/a/v1/models')).toEqual({ status: 200, body: { backend: 'a', path: '/v1/models', model: null } });
    expect(await get('/bm/b/v1/chat/completions?x=1')).toEqual({ status: 200, body: { backend: 'b', path: '/v1/chat/completions?x=1', model: null } });
    // No rule for it: Traefik's 404, no backend asked.
    expect((await get('/v1/chat/completions', 'c')).status).toBe(404);
    expect((await get('/bm/c/v1/models')).status).toBe(404);
  });

  it('follows EndpointSlice changes: an endpoint marked not ready takes no more requests', async () => {
    const slice = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/echo-b-1`;
    await call('PATCH', slice, { endpoints: [{ addresses: ['10.244.200.11'], conditions: { ready: false } }] });
    await waitFor('echo-b without ready endpoints', async () => (await fetch(`${gw.url}/bm/b/`)).status === 503, 10_000, 50);
    await call('PATCH', slice, { endpoints: [{ addresses: ['10.244.200.10'], conditions: { ready: true } }] });
    await waitFor('echo-b moved to backend a', async () => {
      const r = await fetch(`${gw.url}/bm/b/x`);
      return r.status === 200 && ((await r.json()) as Obj).backend === 'a';
    }, 10_000, 50);
  });

  it('reports a missing Service as ResolvedRefs False (BackendNotFound)', async () => {
    await call('POST', `${GW}/namespaces/${NS}/httproutes`, route('dangling', [
      { matches: [{ path: { type: 'PathPrefix', value: '/nowhere/' } }], backendRefs: toService('no-such-service') },
    ]));
    await waitRoute('dangling', { Accepted: 'True', ResolvedRefs: 'False', reason: 'BackendNotFound' });
  });
});
