import { describe, expect, it } from 'vitest';
import { MAX_LISTED_VERSIONS, type AdapterSetStatus } from '../../src/api/adapterset.js';
import { applyResult, childName, jobName, servedVersion, withServing } from '../../src/controllers/adapterset/status.js';
import type { StepResult } from '../../src/controllers/adapterset/protocol.js';

const d = (n: number) => `sha256:${String(n).padStart(64, '0')}`;
const result = (task: string, n: number, extra: Partial<StepResult> = {}): StepResult => ({
  v: 1, task, action: n === 1 ? 'NewModule' : 'MergedInto', module: 'm0', taskDigest: d(100 + n), base: 'gpt2',
  version: { uri: `s3://b/out/m0/${n}/`, digest: d(n), rank: 16 }, method: 'ema', truncationError: 0.01, reason: 'r', ...extra,
});

describe('applyResult', () => {
  it('appends one decision and one version per task, and never twice', () => {
    let s: AdapterSetStatus = {};
    s = applyResult(s, result('t1', 1), { time: 'T1', job: 'j1' });
    s = applyResult(s, result('t2', 2), { time: 'T2', job: 'j2' });
    const again = applyResult(s, result('t2', 2), { time: 'T3', job: 'j2' });
    expect(again).toBe(s);
    expect(s.decisions!.map((x) => [x.task, x.action, x.digest, x.job])).toEqual([['t1', 'NewModule', d(1), 'j1'], ['t2', 'MergedInto', d(2), 'j2']]);
    expect(s.modules).toEqual([{ name: 'm0', tasks: ['t1', 't2'], versions: [
      { digest: d(1), uri: 's3://b/out/m0/1/', tasks: ['t1'], rank: 16, time: 'T1' },
      { digest: d(2), uri: 's3://b/out/m0/2/', tasks: ['t1', 't2'], rank: 16, time: 'T2' }] }]);
    expect(s.baseModelName).toBe('gpt2');
  });
  it('a Rejected task is recorded and changes no module', () => {
    const s = applyResult({}, { v: 1, task: 'bad', action: 'Rejected', base: 'bert', reason: 'another base model' }, { time: 'T', job: 'j' });
    expect(s.decisions).toEqual([{ task: 'bad', action: 'Rejected', job: 'j', reason: 'another base model', time: 'T' }]);
    expect(s.modules).toBeUndefined();
    expect(s.baseModelName).toBeUndefined();
  });
});

describe('serving and pins', () => {
  let s: AdapterSetStatus = {};
  for (let i = 1; i <= MAX_LISTED_VERSIONS + 5; i++) s = applyResult(s, result(`t${i}`, i), { time: `T${i}`, job: `j${i}` });
  it('serves the newest version, or the pinned one; an unknown pin keeps the newest and says so', () => {
    const m = s.modules![0];
    expect(servedVersion(m, undefined).version!.digest).toBe(d(MAX_LISTED_VERSIONS + 5));
    expect(servedVersion(m, { m0: d(3) })).toMatchObject({ pinned: true, version: { digest: d(3) } });
    expect(servedVersion(m, { m0: d(999) }).pinMissing).toContain('spec.pins.m0');
  });
  it('lists at most MAX_LISTED_VERSIONS versions plus the pinned one, counting the rest', () => {
    const { status } = withServing(s, 'set', { m0: d(2) });
    const m = status.modules![0];
    expect(m.versions!.length).toBe(MAX_LISTED_VERSIONS + 1);
    expect(m.versions![0].digest).toBe(d(2));
    expect(m.olderVersions).toBe(4);
    expect(m).toMatchObject({ adapter: 'set-m0', digest: d(2), pinned: true });
    expect(status).toMatchObject({ moduleCount: 1, decidedTasks: MAX_LISTED_VERSIONS + 5 });
    const unpinned = withServing(s, 'set', undefined).status.modules![0];
    expect(unpinned.versions!.length).toBe(MAX_LISTED_VERSIONS);
    expect(unpinned.pinned).toBeUndefined();
  });
  it('names stay DNS labels', () => {
    const long = 'a'.repeat(70);
    expect(childName('s', 'm0')).toBe('s-m0');
    expect(childName(long, 'm12').length).toBeLessThanOrEqual(63);
    expect(childName(long, 'm12')).toMatch(/-m12$/);
    expect(jobName(long, 7).length).toBeLessThanOrEqual(63);
    expect(jobName('s', 7)).toBe('s-step-7');
  });
});
