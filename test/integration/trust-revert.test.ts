import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  adapterObj, adPath, agentAdapters, bmPath, cond, dumpOnFailure, gpt2BaseModel, isReady, kube, loadedPods, NS, servingPods, startSandbox,
  waitAdapter, waitPods, type Obj, type Sandbox,
} from '../support/sandbox.js';

// Issue 9, item 9: revert works. v1 Loaded, v2 fails (a bad file), v1 put back: before the fix
// the agent kept the pod Failed with no error and no engine call, and the Adapter showed
// "loaded on 1 of 2" forever.
const corrupt = (f: string, b: Buffer) => {
  if (f !== 'adapter_model.safetensors') return b;
  const c = Buffer.from(b);
  c.writeBigUInt64LE(200_000_000n, 0);
  return c;
};

describe('revert after a bad version (issue 9, item 9)', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'rev/v1/');
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'rev/v2/', corrupt);
    await kube(sb).post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 2 }));
    await waitPods(sb, 'gpt2', 2);
  });
  afterEach(async (c) => dumpOnFailure(sb, c.task.result?.state === 'fail'));
  afterAll(async () => { await sb?.stop(); });

  it('is Loaded everywhere again after v1 → v2 (corrupt) → v1', async () => {
    const k = kube(sb);
    await k.post(adPath(), adapterObj('rev', 'gpt2', { source: { uri: 's3://adapters/rev/v1/' }, replicas: 2 }));
    const v1 = await waitAdapter(sb, 'rev', 'Ready on 2 pods', (a) => isReady(a, 2));

    await k.patch(adPath('rev'), { spec: { source: { uri: 's3://adapters/rev/v2/' } } });
    const bad = await waitAdapter(sb, 'rev', 'Stalled on v2', (a) => cond(a, 'Stalled')?.status === 'True' && a!.status.observedGeneration === 2, 60_000);
    expect(cond(bad, 'Stalled')!.reason).toBe('SafetensorsHeaderTooLarge');
    const failedPod = (bad.status.placements as Obj[]).find((p) => p.state === 'Failed')!.pod as string;

    const t0 = Date.now();
    await k.patch(adPath('rev'), { spec: { source: { uri: 's3://adapters/rev/v1/' } } });
    const back = await waitAdapter(sb, 'rev', 'Ready on v1 again', (a) => isReady(a, 2), 60_000);
    console.log(`item 9: Ready again ${Date.now() - t0} ms after the revert`);
    expect(back.status.digest).toBe(v1.status.digest);
    expect(loadedPods(back)).toEqual(loadedPods(v1));
    expect(await servingPods(sb, 'rev', 'gpt2')).toEqual(loadedPods(v1));
    const e = (await agentAdapters(sb, `${NS}/${failedPod}`)).find((x) => x.name === 'rev')!;
    expect(e).toMatchObject({ state: 'Loaded', source: 's3://adapters/rev/v1/', digest: v1.status.digest });
    expect(e.error).toBeUndefined();
  });
});
