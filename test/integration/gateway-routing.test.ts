import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adapterServiceName, MODEL_NAME_HEADER } from '../../src/contracts/names.js';
import { TRAEFIK_CONTROLLER } from '../../src/sandbox/gateway.js';
import { startSandboxGateway, type SandboxGateway } from '../support/gateway.js';
import { waitFor } from '../support/ports.js';
import {
  adapterObj, adPath, bmPath, cond, dumpOnFailure, gpt2BaseModel, isReady, keyRingOf, kube, loadedPods, NS, podsOf,
  startSandbox, waitAdapter, waitPods, type Obj, type Sandbox,
} from '../support/sandbox.js';

// Chat completions through a real Gateway API data plane (Traefik, sandbox/gateway.ts) to the
// pods Graft's routing controller lists for each adapter: by the header X-Gateway-Model-Name and
// by the path prefix /<basemodel>/<served name>/, to adapters on different pods; none fails
// during a rolling update of an adapter under a steady request loop; a deleted adapter's route is
// gone. Pods have real addresses in the sandbox network (hack/netns.sh).
const GW_API = '/apis/gateway.networking.k8s.io/v1';
const ADAPTERS = ['ad-a', 'ad-b', 'ad-c'];

describe('routing through the Gateway (e2e)', () => {
  let sb: Sandbox;
  let gw: SandboxGateway;
  let engineKey: string;
  const k = () => kube(sb);

  // One chat completion through the gateway: by header (to the gateway's root) or by path prefix.
  const chat = async (model: string, how: 'header' | 'path'): Promise<{ status: number; body: Obj | string }> => {
    const url = how === 'header' ? `${gw.url}/v1/chat/completions` : `${gw.url}/gpt2/${model}/v1/chat/completions`;
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${engineKey}` };
    if (how === 'header') headers[MODEL_NAME_HEADER] = model;
    const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }) });
    const text = await r.text();
    try { return { status: r.status, body: JSON.parse(text) as Obj }; } catch { return { status: r.status, body: text }; }
  };
  const expectServed = async (model: string, how: 'header' | 'path') => {
    const r = await chat(model, how);
    expect(r.status, `${how} ${model}: ${JSON.stringify(r.body)}`).toBe(200);
    expect((r.body as Obj).model).toBe(model);
  };
  const routes = async () => ((await k().get(`${GW_API}/namespaces/${NS}/httproutes?labelSelector=graft.dev/basemodel=gpt2`))?.items ?? []) as Obj[];
  const headerValues = (rs: Obj[]) => rs.flatMap((r) => (r.spec.rules as Obj[]).flatMap((rule) => (rule.matches ?? []) as Obj[]))
    .flatMap((m) => ((m.headers ?? []) as Obj[]).map((h) => h.value as string)).sort();
  const routesAccepted = (rs: Obj[]) => rs.length > 0 && rs.every((r) => {
    const p = ((r.status?.parents ?? []) as Obj[]).find((x) => x.controllerName === TRAEFIK_CONTROLLER);
    const c = (t: string) => ((p?.conditions ?? []) as Obj[]).find((x) => x.type === t && x.observedGeneration === r.metadata.generation);
    return c('Accepted')?.status === 'True' && c('ResolvedRefs')?.status === 'True';
  });
  // The adapter's EndpointSlice lists exactly its Loaded pods' addresses.
  const sliceMatches = async (name: string) => {
    const a = await k().get(adPath(name));
    const slice = await k().get(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/${adapterServiceName(name)}`);
    if (!a || !slice) return false;
    const ips = new Set(((slice.endpoints ?? []) as Obj[]).map((e) => e.addresses[0]));
    const want = loadedPods(a).map((p) => sb.runner.pods.get(`${NS}/${p}`)?.ip);
    return want.length > 0 && want.length === ips.size && want.every((ip) => ip && ips.has(ip));
  };

  beforeAll(async () => {
    sb = await startSandbox();
    gw = await startSandboxGateway(sb.cp);
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'tigrinya/v1/');
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'seqcls/v1/');
    await k().post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 3, routing: { gateway: { name: gw.ref.name, sectionName: gw.ref.sectionName } } }));
    await waitPods(sb, 'gpt2', 3);
    engineKey = (await keyRingOf(sb)).engineKey({ namespace: NS, name: 'gpt2' });
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    await dumpOnFailure(sb, true);
    console.error(`HTTPRoutes: ${JSON.stringify((await routes()).map((r) => ({ spec: r.spec, status: r.status })))}`);
    console.error(`traefik:\n${gw.proc.output.slice(-4000)}`);
  });
  afterAll(async () => {
    await gw?.stop();
    await sb?.stop();
  });

  it('routes by header and by path to three adapters on three different pods, and the base model to its Service', async () => {
    for (const [i, name] of ADAPTERS.entries()) {
      await k().post(adPath(), adapterObj(name, 'gpt2', { source: { uri: `s3://adapters/${i % 2 ? 'seqcls' : 'tigrinya'}/v1/` }, replicas: 1 }));
    }
    const hosts: string[] = [];
    for (const name of ADAPTERS) hosts.push(...loadedPods(await waitAdapter(sb, name, 'Ready on 1 pod', (a) => isReady(a, 1))));
    // One replica each on three pods: a request that succeeds went to the one pod that hosts it
    // (the simulator answers 404 for a model it has not loaded).
    expect(new Set(hosts).size).toBe(3);
    expect(hosts.sort()).toEqual(podsOf(sb, 'gpt2'));
    for (const name of ADAPTERS) await waitFor(`${name}'s EndpointSlice lists its pod`, () => sliceMatches(name), 30_000, 200);
    await waitFor('the HTTPRoutes Accepted with every name', async () => {
      const rs = await routes();
      return routesAccepted(rs) && headerValues(rs).join(',') === ['gpt2', ...ADAPTERS].sort().join(',');
    }, 30_000, 200);
    await waitFor('the BaseModel Routed', async () => cond(await k().get(bmPath('gpt2')), 'Routed')?.status === 'True', 30_000, 200);
    // Route status and the EndpointSlices are written before Traefik takes them up (up to 2 s).
    for (const name of [...ADAPTERS, 'gpt2']) {
      await waitFor(`${name} served through the gateway`, async () => (await chat(name, 'header')).status === 200 && (await chat(name, 'path')).status === 200, 15_000, 100);
    }
    for (let round = 0; round < 3; round++) {
      for (const name of ADAPTERS) {
        await expectServed(name, 'header');
        await expectServed(name, 'path');
      }
    }
    await expectServed('gpt2', 'header');
    await expectServed('gpt2', 'path');
  });

  it('loses no request while an adapter rolls to a new version on two pods', async () => {
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'tigrinya/v2/');
    await k().post(adPath(), adapterObj('rolling', 'gpt2', { source: { uri: 's3://adapters/tigrinya/v1/' }, replicas: 2 }));
    const before = await waitAdapter(sb, 'rolling', 'Ready on 2 pods', (a) => isReady(a, 2));
    await waitFor('rolling routed', async () => (await chat('rolling', 'header')).status === 200, 30_000, 200);
    const results: { status: number; how: string; body?: unknown }[] = [];
    let stop = false;
    const loop = (async () => {
      let i = 0;
      while (!stop) {
        const how = i++ % 2 ? 'header' : 'path';
        const r = await chat('rolling', how).catch((err: Error) => ({ status: 0, body: err.message }));
        results.push({ status: r.status, how, ...(r.status === 200 ? {} : { body: r.body }) });
      }
    })();
    await k().patch(adPath('rolling'), { spec: { source: { uri: 's3://adapters/tigrinya/v2/' } } });
    await waitAdapter(sb, 'rolling', 'v2 Loaded on 2 pods', (a) => isReady(a, 2) && a!.status.digest !== before.status.digest
      && (a!.status.placements as Obj[]).every((p) => p.digest === a!.status.digest && p.state === 'Loaded'));
    await waitFor('the EndpointSlice on the v2 pods', () => sliceMatches('rolling'), 30_000, 200);
    // A little longer under load after the switch: the old copies' unload happens after it.
    const settled = results.length;
    await waitFor('50 more requests', () => results.length >= settled + 50, 30_000, 50);
    stop = true;
    await loop;
    const failed = results.filter((r) => r.status !== 200);
    console.log(`rolling update: ${results.length} requests through the gateway, ${failed.length} failed`);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    expect(results.length).toBeGreaterThan(100);
  });

  it('removes a deleted adapter\'s rules and Service; the gateway then answers 404 for it', async () => {
    await expectServed('ad-b', 'header');
    await k().del(adPath('ad-b'));
    await waitFor('ad-b gone from the HTTPRoutes', async () => !headerValues(await routes()).includes('ad-b'), 60_000, 200);
    await waitFor('ad-b\'s Service gone', async () => !(await k().get(`/api/v1/namespaces/${NS}/services/${adapterServiceName('ad-b')}`)), 60_000, 200);
    await waitFor('the gateway to forget ad-b', async () => (await chat('ad-b', 'header')).status === 404 && (await chat('ad-b', 'path')).status === 404, 30_000, 200);
    // The others still answer.
    await expectServed('ad-a', 'header');
    await expectServed('ad-c', 'path');
  });
});
