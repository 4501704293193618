import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  adapterObj, adPath, bmPath, cond, dumpOnFailure, gpt2BaseModel, isReady, kube, loadedPods, sample, servingPods, startSandbox, waitAdapter, waitPods,
  agentAdapters, NS, type Obj, type Sandbox,
} from '../support/sandbox.js';

// Issue 9, item 10: a bad version stops the roll. Before the fix, a pod that failed the new
// version counted as neither serving nor in flight, so the roll went on to every pod. Real
// control plane, KWOK pods, versitygw, the real agent (TLS) and the engine simulator.
const corrupt = (f: string, b: Buffer) => {
  if (f !== 'adapter_model.safetensors') return b;
  const c = Buffer.from(b);
  c.writeBigUInt64LE(200_000_000n, 0); // a header length over the cap: refused, for good
  return c;
};

describe('a bad version stops the roll (issue 9, item 10)', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'roll/v1/');
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'roll/v2/', corrupt);
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'roll/v3/');
    await kube(sb).post(bmPath(), gpt2BaseModel('gpt2', sb.gw));
    await waitPods(sb, 'gpt2', 3);
  });
  afterEach(async (c) => dumpOnFailure(sb, c.task.result?.state === 'fail'));
  afterAll(async () => { await sb?.stop(); });

  it('halts at the pod that failed, keeps the old version serving on the others, and resumes with a good version', async () => {
    const k = kube(sb);
    await k.post(adPath(), adapterObj('roll', 'gpt2', { source: { uri: 's3://adapters/roll/v1/' }, replicas: 3 }));
    const v1 = await waitAdapter(sb, 'roll', 'Ready on 3 pods', (a) => isReady(a, 3));
    const serving = sample(() => servingPods(sb, 'roll', 'gpt2'), 100);

    await k.patch(adPath('roll'), { spec: { source: { uri: 's3://adapters/roll/v2/' } } });
    const stalled = await waitAdapter(sb, 'roll', 'Stalled on the bad version', (a) => cond(a, 'Stalled')?.status === 'True' && a!.status.observedGeneration === 2, 60_000);
    expect(cond(stalled, 'Stalled')).toMatchObject({ reason: 'SafetensorsHeaderTooLarge' });
    expect(cond(stalled, 'Stalled')!.message).toContain('the roll is halted: 2 of 3 pods still serve the previous version');
    // Give a broken roll time to go on: it must not.
    await new Promise((r) => setTimeout(r, 6_000));
    const held = (await k.get(adPath('roll')))!;
    const states = (held.status.placements as Obj[]).map((p) => p.state).sort();
    expect(states).toEqual(['Failed', 'Loaded', 'Loaded']);
    const failedPod = (held.status.placements as Obj[]).find((p) => p.state === 'Failed')!.pod;
    for (const pod of loadedPods(held)) {
      const e = (await agentAdapters(sb, `${NS}/${pod}`)).find((x) => x.name === 'roll')!;
      expect(e).toMatchObject({ state: 'Loaded', source: 's3://adapters/roll/v1/', digest: v1.status.digest });
    }
    expect(loadedPods(held)).not.toContain(failedPod);

    // A good version resumes the roll, one pod at a time.
    await k.patch(adPath('roll'), { spec: { source: { uri: 's3://adapters/roll/v3/' } } });
    const v3 = await waitAdapter(sb, 'roll', 'Ready on v3', (a) => isReady(a, 3) && a!.status.digest !== v1.status.digest
      && (a!.status.placements as Obj[]).every((p) => p.digest === a!.status.digest));
    const seen = await serving.stop();
    const min = Math.min(...seen.map((s) => s.length));
    console.log(`item 10: ${seen.length} samples of the pods serving "roll"; fewest at once: ${min} of 3`);
    expect(min).toBeGreaterThanOrEqual(2);
    expect(loadedPods(v3)).toEqual(loadedPods(v1));
    const reasons = (await k.events('roll')).map((e) => `${e.type} ${e.reason}`);
    expect(reasons).toEqual(expect.arrayContaining(['Normal Loaded', 'Warning SafetensorsHeaderTooLarge', 'Normal RolledOut']));
  });
});
