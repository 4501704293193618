import { describe, expect, it } from 'vitest';
import type { AgentAdapter, AdapterInfo, AgentView } from '../../src/controllers/adapter/model.js';
import { planActions } from '../../src/controllers/adapter/plan.js';
import { observeAdapter } from '../../src/controllers/adapter/status.js';

const info = (name: string, source = `s3://b/${name}/`, extra: Partial<AdapterInfo> = {}): AdapterInfo =>
  ({ key: `ns/${name}`, servedName: name, source, replicas: 2, priority: 0, deleting: false, ...extra });
const entry = (name: string, state: AgentAdapter['state'], source = `s3://b/${name}/`, extra: Partial<AgentAdapter> = {}): AgentAdapter =>
  ({ name, source, state, digest: 'sha256:' + 'a'.repeat(64), bytes: 10, rank: 8, progress: { bytesDone: 10, bytesTotal: 10 }, attempts: 0, updatedAt: '', ...extra });
const view = (pod: string, ...entries: AgentAdapter[]): AgentView => ({ pod, reachable: true, adapters: new Map(entries.map((e) => [e.name, e])) });
const views = (...vs: AgentView[]) => new Map(vs.map((v) => [v.pod, v]));

describe('planActions', () => {
  it('puts what is placed and missing, and deletes what is held but not placed', () => {
    const acts = planActions([info('a')], new Map([['ns/a', ['p1', 'p2']]]), views(view('p1', entry('a', 'Loaded')), view('p2'), view('p3', entry('gone', 'Loaded'))));
    expect(acts).toEqual([
      { op: 'put', pod: 'p2', name: 'a', source: 's3://b/a/', digest: undefined, reason: 'place' },
      { op: 'delete', pod: 'p3', name: 'gone' },
    ]);
  });

  it('rolls a new version one pod at a time while another replica serves', () => {
    const a = info('a', 's3://b/a/v2/');
    const placed = new Map([['ns/a', ['p1', 'p2']]]);
    const old = (pod: string) => view(pod, entry('a', 'Loaded', 's3://b/a/v1/'));
    expect(planActions([a], placed, views(old('p1'), old('p2')))).toEqual([
      { op: 'put', pod: 'p1', name: 'a', source: 's3://b/a/v2/', digest: undefined, reason: 'update' },
    ]);
    // p1 is staging v2: p2 waits.
    expect(planActions([a], placed, views(view('p1', entry('a', 'Staging', 's3://b/a/v2/')), old('p2')))).toEqual([]);
    // p1 has v2 loaded: now p2.
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded', 's3://b/a/v2/')), old('p2')))).toEqual([
      { op: 'put', pod: 'p2', name: 'a', source: 's3://b/a/v2/', digest: undefined, reason: 'update' },
    ]);
    // Nothing serves at all: every pod moves at once.
    const failed = (pod: string) => view(pod, entry('a', 'Failed', 's3://b/a/v1/'));
    expect(planActions([a], placed, views(failed('p1'), failed('p2')))).toHaveLength(2);
  });

  it('keeps a moved copy until the adapter has landed on its new pod', () => {
    const a = info('a', undefined, { replicas: 1 });
    const placed = new Map([['ns/a', ['p2']]]);
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Staging'))))).toEqual([]);
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Loaded'))))).toEqual([{ op: 'delete', pod: 'p1', name: 'a' }]);
  });

  it('leaves unreachable pods alone and does not delete what is already unloading', () => {
    const acts = planActions([info('a')], new Map([['ns/a', ['p1', 'p2']]]), views(
      { pod: 'p1', reachable: false, error: 'timeout' }, view('p2', entry('a', 'Loaded'), entry('old', 'Unloading')),
    ));
    expect(acts).toEqual([]);
  });
});

describe('observeAdapter', () => {
  const now = Date.parse('2026-11-27T10:00:00Z');
  it('is Ready when every placed pod has the current version Loaded, and keeps since when nothing changed', () => {
    const v = views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Loaded')));
    const first = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, undefined, now, { baseModelFound: true });
    expect(first.health).toMatchObject({ state: 'Ready', reason: 'Loaded' });
    expect(first.status).toMatchObject({ readyReplicas: 2, rank: 8, sizeBytes: 10 });
    const again = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, first.status as never, now + 60_000, { baseModelFound: true });
    expect(again.status).toEqual(first.status);
  });
  it('is Stalled with the agent\'s permanent reason', () => {
    const v = views(view('p1', entry('a', 'Failed', undefined, { error: { reason: 'DigestMismatch', message: 'expected x, got y' } })), view('p2', entry('a', 'Loaded')));
    const o = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, undefined, now, { baseModelFound: true });
    expect(o.health).toEqual({ state: 'Stalled', reason: 'DigestMismatch', message: 'pod p1: expected x, got y' });
    expect(o.status.placements![0]).toMatchObject({ pod: 'p1', state: 'Failed', message: 'DigestMismatch: expected x, got y' });
  });
  it('keeps retrying transient failures, and reports Unschedulable and a missing base model', () => {
    const v = views(view('p1', entry('a', 'Failed', undefined, { error: { reason: 'S3Error', message: 'slow down' } })));
    expect(observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, v, undefined, now, { baseModelFound: true }).health).toMatchObject({ state: 'Reconciling', reason: 'S3Error' });
    expect(observeAdapter(info('a'), ['p1'], { wanted: 2, placed: 1, reason: 'InsufficientCapacity' }, v, undefined, now, { baseModelFound: true }).health)
      .toMatchObject({ state: 'Stalled', reason: 'Unschedulable' });
    expect(observeAdapter(info('a'), [], undefined, new Map(), undefined, now, { baseModelFound: false }).health.reason).toBe('BaseModelNotFound');
  });
  it('shows a rolling update and the pods that still hold it elsewhere', () => {
    const v = views(view('p1', entry('a', 'Loaded', 's3://b/old/')), view('p2', entry('a', 'Loaded')), view('p3', entry('a', 'Loaded')));
    const o = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, undefined, now, { baseModelFound: true });
    expect(o.health).toMatchObject({ state: 'Reconciling', reason: 'RollingUpdate' });
    expect(o.status.placements!.map((p) => [p.pod, p.state])).toEqual([['p1', 'Loaded'], ['p2', 'Loaded'], ['p3', 'Unloading']]);
  });
});
