import { rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_ENV } from '../../src/contracts/names.js';
import {
  adapterObj, adPath, agentAdapters, bmPath, cond, dumpOnFailure, gpt2BaseModel, isReady, kube, NS, podsOf, startSandbox, waitAdapter, waitPods,
  type Obj, type Sandbox,
} from '../support/sandbox.js';

// Issue 9, item 15: errors that retrying does not fix are not retried forever. A real fault: the
// pod's staging folder is replaced by a file, so every download fails in the file system. The
// agent retries with backoff a bounded number of times (4 here, GRAFT_AGENT_MAX_ATTEMPTS), then
// gives up with RetriesExhausted; the Adapter shows it with the agent's message, and stays put.
// Also item 7, operator side: a source outside the BaseModel's allowedSources is refused before
// any agent hears of it.
const MAX_ATTEMPTS = 4;

describe('bounded retries end with a reason (issue 9, item 15)', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ agentEnv: { GRAFT_AGENT_MAX_ATTEMPTS: String(MAX_ATTEMPTS) } });
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'errs/v1/');
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'errs/v1-again/');
    await kube(sb).post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 1 }));
    await kube(sb).post(bmPath(), gpt2BaseModel('fenced', sb.gw, { replicas: 1, adapters: { maxPerPod: 8, maxRank: 16, allowedSources: ['s3://adapters/errs/'] } }));
    await waitPods(sb, 'gpt2', 1);
    await waitPods(sb, 'fenced', 1);
  });
  afterEach(async (c) => dumpOnFailure(sb, c.task.result?.state === 'fail'));
  afterAll(async () => { await sb?.stop(); });

  it('stalls with RetriesExhausted after the agent\'s bounded retries, and recovers on a new spec once fixed', async () => {
    const k = kube(sb);
    const pod = podsOf(sb, 'gpt2')[0]!;
    const cache = sb.runner.pods.get(`${NS}/${pod}`)!.agentEnv[AGENT_ENV.cacheDir]!;
    const staging = join(cache, '.staging');
    await rm(staging, { recursive: true, force: true });
    await writeFile(staging, 'not a folder');

    const t0 = Date.now();
    await k.post(adPath(), adapterObj('errs', 'gpt2', { source: { uri: 's3://adapters/errs/v1/' }, replicas: 1 }));
    const retrying = await waitAdapter(sb, 'errs', 'retrying a disk error', (a) => cond(a, 'Reconciling')?.reason === 'DiskError' || cond(a, 'Stalled')?.status === 'True', 60_000);
    const stalled = await waitAdapter(sb, 'errs', 'Stalled RetriesExhausted', (a) => cond(a, 'Stalled')?.status === 'True', 120_000);
    const took = Date.now() - t0;
    console.log(`item 15: retrying (${cond(retrying, 'Reconciling')?.reason ?? cond(retrying, 'Stalled')?.reason}), then Stalled after ${took} ms: ${cond(stalled, 'Stalled')!.message}`);
    expect(cond(stalled, 'Stalled')).toMatchObject({ reason: 'RetriesExhausted' });
    expect(cond(stalled, 'Stalled')!.message).toMatch(/DiskError/);
    expect((stalled.status.placements as Obj[])[0]).toMatchObject({ pod, state: 'Failed' });
    const entry = (await agentAdapters(sb, `${NS}/${pod}`)).find((e) => e.name === 'errs')!;
    expect(entry).toMatchObject({ state: 'Failed', attempts: MAX_ATTEMPTS, error: { reason: 'RetriesExhausted' } });
    // Nothing tries again by itself: not the agent, and not the operator.
    await new Promise((r) => setTimeout(r, 8_000));
    expect((await agentAdapters(sb, `${NS}/${pod}`)).find((e) => e.name === 'errs')).toMatchObject({ attempts: MAX_ATTEMPTS, updatedAt: entry.updatedAt });
    expect(cond(await k.get(adPath('errs')), 'Stalled')).toMatchObject({ status: 'True', reason: 'RetriesExhausted' });
    const warnings = (await k.events('errs')).filter((e) => e.type === 'Warning').map((e) => e.reason);
    expect(warnings).toEqual(['RetriesExhausted']);

    // Fixed, then a new spec (as the message says) loads it.
    await rm(staging, { force: true });
    await mkdir(staging);
    await k.patch(adPath('errs'), { spec: { source: { uri: 's3://adapters/errs/v1-again/' } } });
    await waitAdapter(sb, 'errs', 'Ready after the fix', (a) => isReady(a, 1), 60_000);
  });

  it('refuses a source outside the BaseModel\'s allowedSources without sending it to any agent (item 7)', async () => {
    const k = kube(sb);
    await k.post(adPath(), adapterObj('inside', 'fenced', { source: { uri: 's3://adapters/errs/v1/' }, replicas: 1 }));
    await k.post(adPath(), adapterObj('outside', 'fenced', { source: { uri: 's3://adapters/other/' }, replicas: 1 }));
    await waitAdapter(sb, 'inside', 'Ready', (a) => isReady(a, 1));
    const out = await waitAdapter(sb, 'outside', 'Stalled SourceNotAllowed', (a) => cond(a, 'Stalled')?.status === 'True');
    expect(cond(out, 'Stalled')).toMatchObject({ reason: 'SourceNotAllowed' });
    expect(cond(out, 'Stalled')!.message).toContain('s3://adapters/errs/');
    expect(out.status.placements).toEqual([]);
    const pod = podsOf(sb, 'fenced')[0]!;
    expect((await agentAdapters(sb, `${NS}/${pod}`)).map((e) => e.name)).toEqual(['inside']);
  });
});
