// The merge Job's step against a real S3 server (versitygw): the same pure functions the
// controller uses carry status from one step to the next, so this is the AdapterSet loop without
// Kubernetes. The sandbox test (adapterset.test.ts) runs the same steps as real Jobs.
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterSetSpec, type AdapterSetStatus } from '../../src/api/adapterset.js';
import { buildStepRequest, markerUri } from '../../src/controllers/adapterset/decide.js';
import { runStep } from '../../src/controllers/adapterset/step.js';
import { applyResult, withServing } from '../../src/controllers/adapterset/status.js';
import { listObjects } from '../../src/storage/s3-objects.js';
import { emaWeights } from '../../src/merge/methods/ema.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';
import { DISTILBERT, GPT2_CAUSAL, GPT2_SEQCLS } from '../merge/fixtures.js';
import { denseDistance, denseFormula, uploadFixture } from './adapterset-support.js';

const B = 'adapters';
let gw: VersityGw;
let s3: S3Client;
const uris: Record<string, string> = {};

beforeAll(async () => {
  gw = await startVersityGw({ buckets: [B] });
  s3 = gw.client();
  uris.seqcls = await uploadFixture(s3, B, GPT2_SEQCLS, 'tasks/seqcls/');
  uris.causal = await uploadFixture(s3, B, GPT2_CAUSAL, 'tasks/causal/');
  uris.copy = await uploadFixture(s3, B, GPT2_CAUSAL, 'tasks/causal-x2/', 2);
  uris.bert = await uploadFixture(s3, B, DISTILBERT, 'tasks/bert/');
}, 60_000);
afterAll(async () => { s3?.destroy(); await gw?.stop(); });

const keys = async (prefix: string) => (await listObjects(s3, B, prefix)).map((o) => o.key).sort();

async function runAll(spec: AdapterSetSpec, status: AdapterSetStatus, from: number, maxRank = 16) {
  for (let i = from; i < spec.tasks.length; i++) {
    const r = await runStep(buildStepRequest('set', spec, status, i, { maxRank, modelId: 'gpt2' }), s3);
    status = withServing(applyResult(status, r, { time: `T${i}`, job: `j${i}` }), 'set', spec.pins).status;
  }
  return status;
}

describe('AdapterSet step (MOS merge strategy)', () => {
  const tasks = [
    { name: 'seqcls', source: { uri: '' } }, { name: 'causal', source: { uri: '' } }, { name: 'copy', source: { uri: '' } },
  ];
  it('three tasks give three versions equal to the ema formula, densely, at rank ≤ maxRank; a re-run reuses the commit', async () => {
    const spec = AdapterSetSpec.parse({ baseModel: 'bm', output: { uri: `s3://${B}/out/merge/` }, tasks: tasks.map((t) => ({ ...t, source: { uri: uris[t.name] } })) });
    const status = await runAll(spec, {}, 0);
    expect(status.decisions!.map((d) => [d.task, d.action, d.module])).toEqual([['seqcls', 'NewModule', 'm0'], ['causal', 'MergedInto', 'm0'], ['copy', 'MergedInto', 'm0']]);
    const versions = status.modules![0].versions!;
    expect(versions.map((v) => v.tasks.length)).toEqual([1, 2, 3]);
    expect(new Set(versions.map((v) => v.digest)).size).toBe(3);
    // Version 3 reads the running mean of the first two tasks (rank 8 + 8 fits 16: kept exactly) and
    // the new task, not all three.
    expect(status.decisions![2].method).toBe('ema alpha=0.1 via svd rank=16 (cat would need 24 > maxRank 16), over the running mean of the 2 earlier tasks (rank 16, exact)');
    const means = (await keys('out/merge/m0/means/')).filter((k) => k.endsWith('.graft-mean.json'));
    expect(means).toHaveLength(1);
    // θ'_t = (1 − α)·θ_t + α·mean(θ_0 … θ_{t−1}) in delta space, for each t.
    const order = ['seqcls', 'causal', 'copy'];
    for (let t = 1; t <= 3; t++) {
      const w = emaWeights(t, 0.1);
      const formula = await denseFormula(s3, order.slice(0, t).map((n, i) => ({ uri: uris[n], weight: w[i] })));
      const d = await denseDistance(s3, versions[t - 1].uri, formula);
      expect(d.rank).toBeLessThanOrEqual(16);
      // The copy adds no direction: ΔW has rank ≤ 16 everywhere, so svd to 16 is exact up to float32.
      expect(d.rel).toBeLessThan(1e-4);
      console.log(`version ${t}: rank ${d.rank}, max |ΔW − formula| / max |formula| = ${d.rel.toExponential(2)}, truncation error ${status.decisions![t - 1].truncationError}`);
    }
    // The same step again: the committed result is found, nothing is written.
    const before = await keys('out/merge/');
    const again = await runStep(buildStepRequest('set', spec, { ...status, decisions: status.decisions!.slice(0, 2), modules: [{ ...status.modules![0], tasks: ['seqcls', 'causal'] }] }, 2, { maxRank: 16, modelId: 'gpt2' }), s3);
    expect(again).toMatchObject({ reused: true, version: { digest: versions[2].digest, uri: versions[2].uri } });
    expect(await keys('out/merge/')).toEqual(before);
    expect(before).toContain(markerUri(versions[2].uri).slice(`s3://${B}/`.length));
  }, 300_000);

  it('a task of another base model is Rejected with nothing written, and the next task is processed', async () => {
    const spec = AdapterSetSpec.parse({ baseModel: 'bm', output: { uri: `s3://${B}/out/rej/` }, tasks: [
      { name: 'seqcls', source: { uri: uris.seqcls } }, { name: 'bert', source: { uri: uris.bert } }, { name: 'causal', source: { uri: uris.causal } }] });
    let status = await runAll({ ...spec, tasks: spec.tasks.slice(0, 1) }, {}, 0);
    const after1 = await keys('out/rej/');
    const r = await runStep(buildStepRequest('set', spec, status, 1, { maxRank: 16, modelId: 'gpt2' }), s3);
    expect(r).toMatchObject({ action: 'Rejected', base: 'distilbert-base-uncased' });
    expect(r.reason).toContain('trained on distilbert-base-uncased');
    expect(await keys('out/rej/')).toEqual(after1);
    status = withServing(applyResult(status, r, { time: 'T1', job: 'j1' }), 'set', undefined).status;
    status = await runAll(spec, status, 2);
    expect(status.decisions!.map((d) => d.action)).toEqual(['NewModule', 'Rejected', 'MergedInto']);
    expect(status.modules![0].tasks).toEqual(['seqcls', 'causal']);
  }, 120_000);
});

describe('AdapterSet step: the running mean of earlier tasks', () => {
  it('truncated to meanRank, the decision\'s truncationError bounds the version\'s true distance from the formula; a rerun finds the version first, and lost means are remade to the same bytes', async () => {
    // seqcls and causal have rank 8 each: their mean needs rank 16, kept at meanRank 8 it is truncated.
    const names = ['seqcls', 'causal', 'copy', 'seqcls-2'];
    const src = { seqcls: uris.seqcls, causal: uris.causal, copy: uris.copy, 'seqcls-2': uris.seqcls } as Record<string, string>;
    const spec = AdapterSetSpec.parse({ baseModel: 'bm', output: { uri: `s3://${B}/out/mean/` }, merge: { meanRank: 8 },
      tasks: names.map((n, i) => ({ name: n, source: { uri: src[n] }, weight: i === 2 ? 2 : 1 })) });
    const status = await runAll(spec, {}, 0);
    const d = status.decisions!;
    expect(d.map((x) => x.action)).toEqual(['NewModule', 'MergedInto', 'MergedInto', 'MergedInto']);
    expect(d[2].method).toContain('over the running mean of the 2 earlier tasks (rank 8, truncated to meanRank 8)');
    expect(d[3].method).toContain('over the running mean of the 3 earlier tasks (rank 8, truncated to meanRank 8)');
    const versions = status.modules![0].versions!;
    for (let t = 3; t <= 4; t++) {
      const w = emaWeights(t, 0.1).map((e, i) => e * (i === 2 ? 2 : 1));
      const formula = await denseFormula(s3, names.slice(0, t).map((n, i) => ({ uri: src[n], weight: w[i] })));
      const dist = await denseDistance(s3, versions[t - 1].uri, formula);
      const bound = d[t - 1].truncationError!;
      console.log(`running mean at rank 8, version ${t}: true ‖V − F‖/‖F‖ ${dist.frobenius.toExponential(3)}, recorded bound ${bound.toExponential(3)}`);
      // The mean lost something, so the version is not the formula, and the bound says so and holds.
      expect(dist.frobenius).toBeGreaterThan(1e-3);
      expect(bound).toBeGreaterThanOrEqual(dist.frobenius * (1 - 1e-6));
      expect(bound).toBeLessThan(1);
    }
    const means = (await keys('out/mean/m0/means/')).filter((k) => k.endsWith('.graft-mean.json'));
    expect(means).toHaveLength(2); // M_2 and M_3 (M_1 is the first task itself)
    // Running the last step again finds its committed version before reading any mean.
    const partial = { ...status, decisions: d.slice(0, 3), modules: [{ ...status.modules![0], tasks: names.slice(0, 3), versions: versions.slice(0, 3) }] };
    const again = await runStep(buildStepRequest('set', spec, partial, 3, { maxRank: 16, modelId: 'gpt2' }), s3);
    expect(again).toMatchObject({ reused: true, version: { digest: versions[3].digest } });
    // With the means and that version gone (only its marker: the files stay as leftovers), the step
    // remakes the chain of means from the tasks and lands on the same bytes.
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    const del = (key: string) => s3.send(new DeleteObjectCommand({ Bucket: B, Key: key }));
    for (const k of await keys('out/mean/m0/means/')) await del(k);
    await del(markerUri(versions[3].uri).slice(`s3://${B}/`.length));
    const remade = await runStep(buildStepRequest('set', spec, partial, 3, { maxRank: 16, modelId: 'gpt2' }), s3);
    expect(remade.reused).toBeUndefined();
    expect(remade).toMatchObject({ version: { digest: versions[3].digest, uri: versions[3].uri }, truncationError: d[3].truncationError });
    expect((await keys('out/mean/m0/means/')).filter((k) => k.endsWith('.graft-mean.json'))).toEqual(means);
  }, 300_000);
});

describe('AdapterSet step: what is a rejection and what is a failure', () => {
  const spec = () => AdapterSetSpec.parse({ baseModel: 'bm', output: { uri: `s3://${B}/out/x/` }, tasks: [{ name: 'gone', source: { uri: `s3://${B}/tasks/nothing-here/` } }] });
  it('a task with nothing at its source is Rejected; S3 refusing the Job\'s credentials is a failure (the Job retries), not a rejection', async () => {
    const r = await runStep(buildStepRequest('set', spec(), {}, 0, { maxRank: 16 }), s3);
    expect(r).toMatchObject({ action: 'Rejected' });
    expect(r.reason).toContain('nothing found under s3://adapters/tasks/nothing-here/');
    const { createS3Client } = await import('../../src/storage/s3-client.js');
    const saved = { ...process.env };
    process.env.AWS_ACCESS_KEY_ID = 'nobody'; process.env.AWS_SECRET_ACCESS_KEY = 'wrong';
    const bad = createS3Client({ endpoint: gw.endpoint, region: 'us-east-1', forcePathStyle: true, maxSockets: 4, maxAttempts: 1 });
    process.env.AWS_ACCESS_KEY_ID = saved.AWS_ACCESS_KEY_ID; process.env.AWS_SECRET_ACCESS_KEY = saved.AWS_SECRET_ACCESS_KEY;
    if (saved.AWS_ACCESS_KEY_ID === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    if (saved.AWS_SECRET_ACCESS_KEY === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    const withTask = AdapterSetSpec.parse({ ...spec(), tasks: [{ name: 'causal', source: { uri: uris.causal } }] });
    await expect(runStep(buildStepRequest('set', withTask, {}, 0, { maxRank: 16 }), bad)).rejects.toThrow();
    bad.destroy();
  }, 60_000);
});

describe('AdapterSet step (SEMA expand strategy)', () => {
  it('shift scores and the computed novelty pick the modules; the budget forces a merge into the closest', async () => {
    const spec = AdapterSetSpec.parse({ baseModel: 'bm', strategy: 'Expand', output: { uri: `s3://${B}/out/expand/` }, expand: { maxModules: 3 }, tasks: [
      { name: 'causal', source: { uri: uris.causal } },
      { name: 'copy', source: { uri: uris.copy } }, // no score: novelty ≈ 0 against causal → merged
      { name: 'seqcls', source: { uri: uris.seqcls } }, // no score: novel → a new module
      { name: 'low', source: { uri: uris.seqcls }, shift: { score: 0.5 } }, // below 2 → merged
      { name: 'shifted', source: { uri: uris.causal }, shift: { score: 3 } }, // above 2: new, though its weights match m0
      { name: 'high', source: { uri: uris.causal }, shift: { score: 5 } }, // above 2, pool full
    ] });
    const status = await runAll(spec, {}, 0);
    const d = status.decisions!;
    expect(d.map((x) => [x.task, x.action, x.module])).toEqual([
      ['causal', 'NewModule', 'm0'], ['copy', 'MergedInto', 'm0'], ['seqcls', 'NewModule', 'm1'], ['low', 'MergedInto', 'm1'],
      ['shifted', 'NewModule', 'm2'], ['high', 'BudgetExhausted', expect.stringMatching(/^m[02]$/)]]);
    // The given score wins over the weights (novelty ≈ 0 against m0). At the budget the closest
    // module by novelty takes the task: m0 or m2, which both hold causal's directions, never m1.
    expect(d[4]).toMatchObject({ scoreKind: 'shift', score: 3, threshold: 2 });
    expect(d[1]).toMatchObject({ scoreKind: 'novelty', threshold: 0.5 });
    expect(d[1].score!).toBeLessThan(0.01);
    expect(d[2].score!).toBeGreaterThan(0.8);
    expect(d[3]).toMatchObject({ scoreKind: 'shift', score: 0.5, threshold: 2 });
    // A new module serves the task adapter itself.
    expect(status.modules![0].versions![0].uri).toBe(uris.causal);
    console.log('expand decisions:', d.map((x) => `${x.task}: ${x.action} ${x.module} (${x.scoreKind ?? '-'} ${x.score?.toFixed(4) ?? '-'})`).join('; '));
  }, 180_000);
});
