import { describe, expect, it } from 'vitest';
import { AdapterSetSpec } from '../../src/api/adapterset.js';
import { buildStepRequest, chooseMerge, decideExpand, markerUri, nextTaskIndex, versionKey, versionUri } from '../../src/controllers/adapterset/decide.js';

const merge = { method: 'ema' as const, alpha: 0.1, majoritySign: 'total' as const, seed: 0, dropExtraTensors: true };
const expand = { threshold: 2, noveltyThreshold: 0.5, newModule: 'm2' };

describe('decideExpand (SEMA)', () => {
  it('the first task starts the pool', () => {
    expect(decideExpand({ ...expand, modules: [], novelty: {}, newModule: 'm0' })).toMatchObject({ action: 'NewModule', module: 'm0' });
  });
  it('a shift score above the threshold makes a new module; at or below merges into the closest', () => {
    const base = { ...expand, modules: ['m0', 'm1'], novelty: { m0: 0.9, m1: 0.3 } };
    expect(decideExpand({ ...base, shiftScore: 2.5 })).toMatchObject({ action: 'NewModule', module: 'm2', score: 2.5, scoreKind: 'shift', threshold: 2 });
    expect(decideExpand({ ...base, shiftScore: 2 })).toMatchObject({ action: 'MergedInto', module: 'm1', score: 2 });
    expect(decideExpand({ ...base, shiftScore: 1, closest: 'm0' })).toMatchObject({ action: 'MergedInto', module: 'm0' });
    expect(decideExpand({ ...base, shiftScore: 1, closest: 'nope' })).toMatchObject({ module: 'm1' });
  });
  it('without a shift score the lowest novelty against any module decides', () => {
    expect(decideExpand({ ...expand, modules: ['m0', 'm1'], novelty: { m0: 0.95, m1: 0.7 } })).toMatchObject({ action: 'NewModule', score: 0.7, scoreKind: 'novelty', threshold: 0.5 });
    expect(decideExpand({ ...expand, modules: ['m0', 'm1'], novelty: { m0: 0.95, m1: 0.1 } })).toMatchObject({ action: 'MergedInto', module: 'm1', score: 0.1 });
  });
  it('at the budget a novel task merges into the closest module: BudgetExhausted', () => {
    const c = decideExpand({ ...expand, modules: ['m0', 'm1'], novelty: { m0: 0.95, m1: 0.8 }, maxModules: 2 });
    expect(c).toMatchObject({ action: 'BudgetExhausted', module: 'm1' });
    expect(c.reason).toContain('expand.maxModules (2)');
  });
});

describe('chooseMerge (MOS ema by default)', () => {
  it('ema is exact through cat while the summed rank fits maxRank, svd to maxRank beyond', () => {
    expect(chooseMerge(merge, 16, 16)).toEqual({ method: 'ema', alpha: 0.1, label: 'ema alpha=0.1 via cat rank=16 (exact)' });
    expect(chooseMerge(merge, 24, 16)).toMatchObject({ method: 'ema', rank: 16, label: 'ema alpha=0.1 via svd rank=16 (cat would need 24 > maxRank 16)' });
    expect(chooseMerge({ ...merge, method: 'cat' }, 24, 16)).toMatchObject({ method: 'svd', rank: 16 });
    expect(chooseMerge({ ...merge, method: 'ties', density: 0.3 }, 24, 16)).toMatchObject({ method: 'ties', rank: 16, density: 0.3 });
  });
  it('a configured rank above maxRank is an error naming the field', () => {
    expect(chooseMerge({ ...merge, rank: 32 }, 8, 16)).toEqual({ error: expect.stringContaining('spec.merge.rank 32') });
  });
});

describe('versions are content-addressed', () => {
  it('the key depends on the inputs, their weights and the merge as run, not on the label', () => {
    const a = [{ digest: 'sha256:a', weight: 1 }, { digest: 'sha256:b', weight: 1 }];
    const c = { method: 'ema' as const, alpha: 0.1, label: 'x' };
    expect(versionKey(a, c)).toBe(versionKey(a, { ...c, label: 'y' }));
    expect(versionKey(a, c)).not.toBe(versionKey([...a].reverse(), c));
    expect(versionKey(a, c)).not.toBe(versionKey(a, { ...c, alpha: 0.2 }));
    expect(versionKey(a, c)).not.toBe(versionKey([a[0], { ...a[1], weight: 2 }], c));
    const uri = versionUri('s3://bkt/out', 'm0', 'k1');
    expect(uri).toBe('s3://bkt/out/m0/k1/');
    expect(markerUri(uri)).toBe('s3://bkt/out/m0/k1.graft-version.json');
  });
});

describe('steps', () => {
  const spec = AdapterSetSpec.parse({
    baseModel: 'bm', output: { uri: 's3://bkt/out/' }, merge: { weights: [1, 2, 3] },
    tasks: [{ name: 't1', source: { uri: 's3://bkt/t1/' } }, { name: 't2', source: { uri: 's3://bkt/t2/' }, weight: 0.5 }, { name: 't3', source: { uri: 's3://bkt/t3/' }, shift: { score: 3 } }],
  });
  it('the next task is the first without a decision; a step carries each module\'s inputs with digests and weights', () => {
    const status = {
      decisions: [{ task: 't1', action: 'NewModule' as const, module: 'm0', taskDigest: 'sha256:1', reason: '', time: '' },
        { task: 't2', action: 'MergedInto' as const, module: 'm0', taskDigest: 'sha256:2', reason: '', time: '' }],
      modules: [{ name: 'm0', tasks: ['t1', 't2'], digest: 'sha256:v2', uri: 's3://bkt/out/m0/x/' }],
      baseModelName: 'gpt2',
    };
    expect(nextTaskIndex(spec, {})).toBe(0);
    expect(nextTaskIndex(spec, status)).toBe(2);
    const req = buildStepRequest('set', spec, status, 2, { maxRank: 16, modelId: 'other' });
    expect(req.task).toEqual({ task: 't3', uri: 's3://bkt/t3/', digest: undefined, weight: 3, shiftScore: 3, closest: undefined });
    expect(req.modules).toEqual([{ name: 'm0', served: { uri: 's3://bkt/out/m0/x/', digest: 'sha256:v2' }, inputs: [
      { task: 't1', uri: 's3://bkt/t1/', digest: 'sha256:1', weight: 1 }, { task: 't2', uri: 's3://bkt/t2/', digest: 'sha256:2', weight: 1 }] }]);
    expect(req.expectBase).toBe('gpt2'); // what accepted tasks had wins over the BaseModel's model id
    expect(req.newModule).toBe('m1');
    expect(req.merge.meanRank).toBeUndefined(); // the Job uses maxRank
    const withMeanRank = AdapterSetSpec.parse({ ...spec, merge: { ...spec.merge, meanRank: 32 } });
    expect(buildStepRequest('set', withMeanRank, status, 2, { maxRank: 16 }).merge.meanRank).toBe(32);
  });
});
