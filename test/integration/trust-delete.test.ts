import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/ports.js';
import {
  adapterObj, adPath, agentAdapters, bmPath, cond, dumpOnFailure, gpt2BaseModel, isReady, kube, loadedPods, NS, podsOf, servingPods, startSandbox,
  waitAdapter, waitPods, type Sandbox,
} from '../support/sandbox.js';

// Issue 9, item 11: deleting never hangs, and never leaves an adapter loaded behind.
const HOLD = 'test.graft.dev/hold';

describe('Adapter deletion (issue 9, item 11)', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'del/v1/');
    await kube(sb).post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 2 }));
    await kube(sb).post(bmPath(), gpt2BaseModel('gone', sb.gw, { replicas: 2 }));
    await waitPods(sb, 'gpt2', 2);
    await waitPods(sb, 'gone', 2);
  });
  afterEach(async (c) => dumpOnFailure(sb, c.task.result?.state === 'fail'));
  afterAll(async () => { await sb?.stop(); });

  it('deletes a younger Adapter that lost a served-name conflict, and leaves the holder serving', async () => {
    const k = kube(sb);
    await k.post(adPath(), adapterObj('holder', 'gpt2', { source: { uri: 's3://adapters/del/v1/' }, servedName: 'x', replicas: 2 }));
    const holder = await waitAdapter(sb, 'holder', 'Ready', (a) => isReady(a, 2));
    await k.post(adPath(), adapterObj('late', 'gpt2', { source: { uri: 's3://adapters/del/v1/' }, servedName: 'x' }));
    await waitAdapter(sb, 'late', 'Stalled ServedNameConflict', (a) => cond(a, 'Stalled')?.reason === 'ServedNameConflict');
    const t0 = Date.now();
    await k.del(adPath('late'));
    // Before the fix its finalizer waited for "x" to leave every pod: the holder's copies.
    await waitFor('late gone', async () => !(await k.get(adPath('late'))), 30_000, 200);
    console.log(`item 11: the conflicting Adapter was gone ${Date.now() - t0} ms after its deletion`);
    expect(isReady(await k.get(adPath('holder')), 2)).toBe(true);
    expect(await servingPods(sb, 'x', 'gpt2')).toEqual(loadedPods(holder));
  });

  it('unloads the Adapters of a deleted BaseModel from its pods before their finalizers go (kubectl delete -f dir/)', async () => {
    const k = kube(sb);
    await k.post(adPath(), adapterObj('g1', 'gone', { source: { uri: 's3://adapters/del/v1/' }, replicas: 2 }));
    await waitAdapter(sb, 'g1', 'Ready', (a) => isReady(a, 2));
    // Hold the Deployment (and so its pods) while the garbage collector deletes it, as a slow
    // node or a long grace period would.
    await k.jsonPatch(`/apis/apps/v1/namespaces/${NS}/deployments/gone`, [{ op: 'add', path: '/metadata/finalizers', value: [HOLD] }]);
    const pods = podsOf(sb, 'gone');
    await k.del(bmPath('gone'));
    await k.del(adPath('g1'));
    await waitFor('g1 gone', async () => !(await k.get(adPath('g1'))), 60_000, 100);
    // Before the fix the finalizer went at once (no BaseModel), and these pods still served g1.
    expect(podsOf(sb, 'gone')).toEqual(pods);
    for (const pod of pods) expect((await agentAdapters(sb, `${NS}/${pod}`)).map((e) => e.name)).not.toContain('g1');
    expect(await servingPods(sb, 'g1', 'gone')).toEqual([]);
    await k.jsonPatch(`/apis/apps/v1/namespaces/${NS}/deployments/gone`, [{ op: 'remove', path: '/metadata/finalizers' }]);
    await waitFor('the pods of the deleted BaseModel gone', () => podsOf(sb, 'gone').length === 0, 60_000, 200);
  });
});
