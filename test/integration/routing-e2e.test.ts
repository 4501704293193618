import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/ports.js';
import {
  adapterObj, adPath, bmPath, dumpOnFailure, gpt2BaseModel, isReady, kube, loadedPods, servingPods, startSandbox, waitAdapter, waitPods,
  type Obj, type Sandbox,
} from '../support/sandbox.js';

// Routing with the whole operator and real agents and engine simulators on the sandbox's pod
// network: an Adapter's EndpointSlice lists exactly the pods whose engine serves it, and a chat
// completion sent to each address it lists is answered by that adapter.
const slicePath = (n: string) => `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/${n}`;

describe('routing with real agents (e2e)', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'routing/v1/');
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'routing/v2/');
    await kube(sb).post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 3 }));
    await waitPods(sb, 'gpt2', 3);
  }, 180_000);
  afterEach(async (c) => dumpOnFailure(sb, c.task.result?.state === 'fail'));
  afterAll(async () => { await sb?.stop(); });

  it('lists the pods whose engine serves the adapter, and each answers for it', async () => {
    const k = kube(sb);
    await k.post(adPath(), adapterObj('tig', 'gpt2', { source: { uri: 's3://adapters/routing/v1/' }, replicas: 2 }));
    const a = await waitAdapter(sb, 'tig', 'Ready on 2 pods', (x) => isReady(x, 2));
    const serving = await servingPods(sb, 'tig', 'gpt2');
    expect(serving).toEqual(loadedPods(a));
    let slice: Obj | undefined;
    await waitFor('the EndpointSlice lists the serving pods', async () => {
      slice = await k.get(slicePath('adapter-tig'));
      return JSON.stringify(((slice?.endpoints ?? []) as Obj[]).map((e) => e.targetRef.name).sort()) === JSON.stringify(serving);
    }, 20_000, 100);
    const port = (slice!.ports as Obj[])[0]!.port as number;
    for (const e of slice!.endpoints as Obj[]) {
      const res = await fetch(`http://${e.addresses[0]}:${port}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tig', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 }),
      });
      const body = (await res.json()) as Obj;
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.model).toBe('tig');
    }
  });

  it('keeps answering through a rolling update, sending only to the pods the EndpointSlice lists', async () => {
    const k = kube(sb);
    // A client that balances over the slice as kube-proxy or a gateway does: it follows the slice
    // (polled every 50 ms) and sends each request to the next address it lists.
    let stop = false, ok = 0;
    const failures: string[] = [];
    const seen = new Set<string>();
    let endpoints: string[] = [];
    const listsSeen: string[] = [];
    const follow = (async () => {
      while (!stop) {
        const s = await k.get(slicePath('adapter-tig'));
        const port = (s?.ports as Obj[] | undefined)?.[0]?.port;
        endpoints = ((s?.endpoints ?? []) as Obj[]).map((e) => `${e.addresses[0]}:${port}`);
        if (listsSeen.at(-1)?.split(' ')[0] !== endpoints.join(',')) {
          const st = (await k.get(adPath('tig')))?.status;
          listsSeen.push(`${endpoints.join(',')} (${st?.digest?.slice(7, 13)}: ${((st?.placements ?? []) as Obj[]).map((p) => `${p.pod.slice(-5)} ${p.state} ${p.digest?.slice(7, 13)}`).join('; ')})`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor('the client has read the slice', () => endpoints.length === 2, 10_000, 20);
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const list = endpoints;
        if (!list.length) { failures.push('no endpoint listed'); await new Promise((r) => setTimeout(r, 50)); continue; }
        const addr = list[i % list.length]!;
        seen.add(addr);
        try {
          const res = await fetch(`http://${addr}/v1/chat/completions`, {
            method: 'POST', headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'tig', messages: [{ role: 'user', content: 'hello' }], max_tokens: 2 }),
          });
          const text = await res.text();
          if (res.status === 200) ok++; else failures.push(`${addr}: HTTP ${res.status} ${text.slice(0, 200)}`);
        } catch (err) {
          failures.push(`${addr}: ${(err as Error).message}`);
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 1_000));
    const before = (await k.get(adPath('tig')))!.status.digest as string;
    await k.patch(adPath('tig'), { spec: { source: { uri: 's3://adapters/routing/v2/' } } });
    const rolled = await waitAdapter(sb, 'tig', 'Ready on the new version', (x) => isReady(x, 2) && !!x?.status?.digest && x.status.digest !== before, 120_000);
    await waitFor('the slice lists the pods with the new version', async () => {
      const s = await k.get(slicePath('adapter-tig'));
      return JSON.stringify(((s?.endpoints ?? []) as Obj[]).map((e) => e.targetRef.name).sort()) === JSON.stringify(loadedPods(rolled));
    }, 20_000, 100);
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await Promise.all([follow, load]);
    const lists = listsSeen;
    console.log(`routing e2e: ${ok} requests answered through the roll, ${failures.length} failed, over ${seen.size} addresses; the slice went ${lists.join(' → ')}`);
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
  }, 180_000);
});
