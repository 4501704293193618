import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../support/ports.js';
import { CACHE_MOUNT } from '../../src/contracts/names.js';
import { agentAdapters, gpt2BaseModel, startSandbox, type Sandbox } from '../support/sandbox.js';

// The Adapter loop end to end: a real control plane with KWOK pods, versitygw, one graft agent and
// one engine simulator per serving pod, and `graft operator`.
type Obj = Record<string, any>;
const NS = 'default';
const adPath = (name = '') => `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters${name ? `/${name}` : ''}`;
const bmPath = (name = '') => `/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels${name ? `/${name}` : ''}`;
const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c: Obj) => c.type === type);

describe('Adapter controller (e2e)', () => {
  let sb: Sandbox;
  const get = async (path: string) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'GET', path);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  const post = async (path: string, body: Obj) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'POST', path, body);
    expect(r.status, r.text).toBe(201);
  };
  const patch = async (path: string, body: Obj) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'PATCH', path, body, 'application/merge-patch+json');
    expect(r.status, r.text).toBe(200);
  };
  const adapter = (name: string, spec: Obj) => ({ apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name }, spec: { baseModel: 'gpt2', ...spec } });
  const isReady = (a: Obj | undefined, replicas: number) => cond(a, 'Ready')?.status === 'True' && a!.status.readyReplicas === replicas
    && a!.status.observedGeneration === a!.metadata.generation;
  const waitReady = (name: string, replicas: number, timeout = 90_000) =>
    waitFor(`${name} Ready on ${replicas} pods`, async () => isReady(await get(adPath(name)), replicas), timeout, 250);
  // The pods whose engine (simulator) serves `name`.
  const servingPods = async (name: string, bm = 'gpt2') => {
    const out: string[] = [];
    for (const rp of sb.runner.pods.values()) {
      if (rp.baseModel !== bm) continue;
      const r = await fetch(`${rp.engineUrl}/v1/models`).catch(() => undefined);
      if (!r?.ok) continue;
      const models = (await r.json()) as { data: { id: string }[] };
      if (models.data.some((m) => m.id === name)) out.push(rp.key.split('/')[1]);
    }
    return out.sort();
  };
  const loadedPods = (a: Obj) => (a.status.placements as Obj[]).filter((p) => p.state === 'Loaded').map((p) => p.pod).sort();

  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'tigrinya/v1/');
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'seqcls/v1/');
    await sb.upload('distilbert-imdb', 'adapters', 'distilbert/');
    await post(bmPath(), gpt2BaseModel('gpt2', sb.gw));
    await waitFor('3 serving pods with agents', async () => [...sb.runner.pods.values()].filter((p) => p.baseModel === 'gpt2').length === 3, 60_000);
    await sb.runner.waitHealthy();
  });
  afterEach(async (ctx) => {
    // On a failure, the operator's last words and the adapters' status are the quickest clues.
    if (ctx.task.result?.state !== 'fail') return;
    console.error(`operator log:\n${sb.operator.proc.output.slice(-6000)}`);
    const list = (await get(adPath()))!.items as Obj[];
    for (const a of list) console.error(`${a.metadata.name}: ${JSON.stringify(a.status)}`);
  });
  afterAll(async () => { await sb?.stop(); });

  it('places 10 adapters with replicas 2 on distinct pods that really serve them', async () => {
    for (let i = 0; i < 10; i++) {
      await post(adPath(), adapter(`ad-${i}`, { source: { uri: `s3://adapters/${i % 2 ? 'seqcls' : 'tigrinya'}/v1/` }, replicas: 2 }));
    }
    for (let i = 0; i < 10; i++) await waitReady(`ad-${i}`, 2);
    for (let i = 0; i < 10; i++) {
      const a = (await get(adPath(`ad-${i}`)))!;
      const pods = loadedPods(a);
      expect(pods).toHaveLength(2);
      expect(new Set(pods).size).toBe(2);
      expect(await servingPods(`ad-${i}`)).toEqual(pods);
      expect(a.status.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(a.status.rank).toBe(8);
      expect(a.status.sizeBytes).toBeGreaterThan(1_000_000);
      expect(a.metadata.finalizers).toContain('graft.dev/unload');
    }
    const metrics = await sb.operator.metrics();
    expect(metrics).toMatch(/graft_adapter_placements\{state="Loaded"\} 20/);
    expect(metrics, metrics.split('\n').filter((l) => l.startsWith('graft_')).join('\n')).toMatch(/graft_adapter_ready_seconds_count 10/);
  });

  it('re-places the adapters of a deleted pod', async () => {
    const before = (await get(adPath('ad-0')))!;
    const victim = loadedPods(before)[0];
    const r = await rawRequest(sb.cp.kubeConfig, 'DELETE', `/api/v1/namespaces/${NS}/pods/${victim}`);
    expect(r.status).toBe(200);
    await waitFor('ad-0 off the deleted pod and Ready', async () => {
      const a = await get(adPath('ad-0'));
      return isReady(a, 2) && !loadedPods(a!).includes(victim);
    }, 90_000, 250);
    for (let i = 0; i < 10; i++) await waitReady(`ad-${i}`, 2);
    for (let i = 0; i < 10; i++) {
      const a = (await get(adPath(`ad-${i}`)))!;
      expect(loadedPods(a)).not.toContain(victim);
      expect(await servingPods(`ad-${i}`)).toEqual(loadedPods(a));
    }
  });

  it('loads the adapters again when an engine restarts', async () => {
    const a = (await get(adPath('ad-1')))!;
    const pod = loadedPods(a)[0];
    await sb.runner.restartEngine(`${NS}/${pod}`);
    expect(await servingPods('ad-1')).not.toContain(pod);
    await waitFor('the agent to load ad-1 again', async () => (await servingPods('ad-1')).includes(pod), 15_000, 200);
    await waitReady('ad-1', 2);
    expect(loadedPods((await get(adPath('ad-1')))!)).toEqual(loadedPods(a));
  });

  it('rolls a new version across the pods, never with fewer than one serving', async () => {
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'tigrinya/v2/');
    const before = (await get(adPath('ad-2')))!;
    let minServing = Infinity;
    let stop = false;
    const watch = (async () => {
      while (!stop) {
        minServing = Math.min(minServing, (await servingPods('ad-2')).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await patch(adPath('ad-2'), { spec: { source: { uri: 's3://adapters/tigrinya/v2/' } } });
    await waitFor('ad-2 on v2 everywhere', async () => {
      const a = await get(adPath('ad-2'));
      return isReady(a, 2) && a!.status.digest !== before.status.digest && a!.status.placements.every((p: Obj) => p.digest === a!.status.digest);
    }, 90_000, 250);
    stop = true;
    await watch;
    expect(minServing).toBeGreaterThanOrEqual(1);
    const after = (await get(adPath('ad-2')))!;
    expect(after.status.rank).toBe(8);
    expect(loadedPods(after)).toEqual(loadedPods(before));
  });

  it('unloads a deleted adapter everywhere and removes its cache', async () => {
    const a = (await get(adPath('ad-3')))!;
    const pods = loadedPods(a);
    // The agent's cache root is <cache>/adapters, and it keeps each name under adapters/<name>.
    const folder = (key: string) => join(sb.runner.hostPathOf(key, `${CACHE_MOUNT}/adapters`), 'adapters', 'ad-3');
    for (const pod of pods) expect(existsSync(folder(`${NS}/${pod}`)), `ad-3 staged on ${pod}`).toBe(true);
    const r = await rawRequest(sb.cp.kubeConfig, 'DELETE', adPath('ad-3'));
    expect(r.status).toBe(200);
    await waitFor('ad-3 gone', async () => !(await get(adPath('ad-3'))), 60_000, 250);
    expect(await servingPods('ad-3')).toEqual([]);
    for (const pod of pods) {
      const key = `${NS}/${pod}`;
      expect((await agentAdapters(sb, key)).map((e) => e.name)).not.toContain('ad-3');
      expect(existsSync(folder(key))).toBe(false);
    }
  });

  it('stalls a corrupt adapter with its reason and leaves the others alone', async () => {
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'broken/', (f, b) => {
      if (f !== 'adapter_model.safetensors') return b;
      const c = Buffer.from(b);
      c.writeBigUInt64LE(200_000_000n, 0); // a header length over the 100 MB cap
      return c;
    });
    await post(adPath(), adapter('broken', { source: { uri: 's3://adapters/broken/' } }));
    await post(adPath(), adapter('wrong-base', { source: { uri: 's3://adapters/distilbert/' } }));
    await waitFor('broken Stalled', async () => cond(await get(adPath('broken')), 'Stalled')?.status === 'True', 60_000, 250);
    await waitFor('wrong-base Stalled', async () => cond(await get(adPath('wrong-base')), 'Stalled')?.status === 'True', 60_000, 250);
    expect(cond(await get(adPath('broken')), 'Stalled').reason).toBe('SafetensorsHeaderTooLarge');
    expect(cond(await get(adPath('wrong-base')), 'Stalled').reason).toBe('BaseModelMismatch');
    expect(await servingPods('broken')).toEqual([]);
    for (const i of [0, 1, 2, 4]) expect(isReady(await get(adPath(`ad-${i}`)), 2)).toBe(true);
    const events = (await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/events.k8s.io/v1/namespaces/${NS}/events?fieldSelector=regarding.name=broken`)).body as Obj;
    expect(events.items.map((e: Obj) => e.reason)).toContain('SafetensorsHeaderTooLarge');
    for (const n of ['broken', 'wrong-base']) await rawRequest(sb.cp.kubeConfig, 'DELETE', adPath(n));
  });

  it('leaves the lowest priorities Unschedulable when capacity is short, and places them when it grows', async () => {
    await post(bmPath(), gpt2BaseModel('small', sb.gw, { replicas: 1, adapters: { maxPerPod: 2, maxRank: 16 } }));
    await waitFor('the small pod', async () => [...sb.runner.pods.values()].some((p) => p.baseModel === 'small'), 60_000);
    for (const [name, priority] of [['p-low', 0], ['p-mid', 5], ['p-high', 10]] as const) {
      await post(adPath(), { ...adapter(name, { source: { uri: 's3://adapters/seqcls/v1/' }, priority }), spec: { baseModel: 'small', source: { uri: 's3://adapters/seqcls/v1/' }, priority } });
    }
    await waitReady('p-high', 1);
    await waitReady('p-mid', 1);
    await waitFor('p-low Unschedulable', async () => cond(await get(adPath('p-low')), 'Stalled')?.reason === 'Unschedulable', 60_000, 250);
    expect(cond(await get(adPath('p-low')), 'Stalled').message).toContain('placed 0 of 1');
    await patch(bmPath('small'), { spec: { adapters: { maxPerPod: 3 } } });
    await waitReady('p-low', 1, 120_000);
    await waitReady('p-high', 1, 120_000);
  });

  it('keeps placements across an operator restart and converges', async () => {
    const before = new Map<string, string[]>();
    for (const i of [0, 1, 2, 4, 5]) before.set(`ad-${i}`, loadedPods((await get(adPath(`ad-${i}`)))!));
    // Three more with one replica each (room for them without moving anyone), then a restart
    // while they load.
    for (let i = 10; i < 13; i++) await post(adPath(), adapter(`ad-${i}`, { source: { uri: 's3://adapters/seqcls/v1/' }, replicas: 1 }));
    await sb.restartOperator();
    for (let i = 10; i < 13; i++) await waitReady(`ad-${i}`, 1);
    for (const [name, pods] of before) {
      await waitReady(name, 2);
      expect(loadedPods((await get(adPath(name)))!)).toEqual(pods);
    }
  });
});
