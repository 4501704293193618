import { describe, expect, it } from 'vitest';
import { admitActions, planActions, type AgentAction } from '../../src/controllers/adapter/plan.js';
import { observeAdapter } from '../../src/controllers/adapter/status.js';
import { ctx, down, entry, info, view, views } from './adapter-fixtures.js';

const put = (pod: string, name: string, source: string, reason: 'place' | 'update') => ({ op: 'put', pod, name, source, digest: undefined, reason });

describe('planActions', () => {
  it('puts what is placed and missing, and deletes what is held but not placed', () => {
    const acts = planActions([info('a')], new Map([['ns/a', ['p1', 'p2']]]), views(view('p1', entry('a', 'Loaded')), view('p2'), view('p3', entry('gone', 'Loaded'))));
    expect(acts).toEqual([put('p2', 'a', 's3://b/a/', 'place'), { op: 'delete', pod: 'p3', name: 'gone' }]);
  });

  it('rolls a new version one pod at a time while another replica serves', () => {
    const a = info('a', 's3://b/a/v2/');
    const placed = new Map([['ns/a', ['p1', 'p2']]]);
    const old = (pod: string) => view(pod, entry('a', 'Loaded', 's3://b/a/v1/'));
    expect(planActions([a], placed, views(old('p1'), old('p2')))).toEqual([put('p1', 'a', 's3://b/a/v2/', 'update')]);
    // p1 is staging v2: p2 waits.
    expect(planActions([a], placed, views(view('p1', entry('a', 'Staging', 's3://b/a/v2/')), old('p2')))).toEqual([]);
    // p1 has v2 loaded: now p2.
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded', 's3://b/a/v2/')), old('p2')))).toEqual([put('p2', 'a', 's3://b/a/v2/', 'update')]);
    // Nothing serves at all: every pod moves at once.
    const failed = (pod: string) => view(pod, entry('a', 'Failed', 's3://b/a/v1/'));
    expect(planActions([a], placed, views(failed('p1'), failed('p2')))).toHaveLength(2);
  });

  it('halts the roll on a pod that failed the new version, and the others keep the old one (issue 9, item 10)', () => {
    const a = info('a', 's3://b/a/v2/', { replicas: 3 });
    const placed = new Map([['ns/a', ['p1', 'p2', 'p3']]]);
    const old = (pod: string) => view(pod, entry('a', 'Loaded', 's3://b/a/v1/'));
    const bad = view('p1', entry('a', 'Failed', 's3://b/a/v2/', { error: { reason: 'SafetensorsHeaderTooLarge', message: 'header of 200 MB' } }));
    // Before the fix the failed pod counted as neither serving nor in flight, so p2 moved next.
    expect(planActions([a], placed, views(bad, old('p2'), old('p3')))).toEqual([]);
    // A transient failure halts it as well, until the agent's retry succeeds.
    const retrying = view('p1', entry('a', 'Failed', 's3://b/a/v2/', { error: { reason: 'S3Error', message: 'slow down' } }));
    expect(planActions([a], placed, views(retrying, old('p2'), old('p3')))).toEqual([]);
    // Reverting to v1: the failed pod is the stale one now, and only it moves.
    const v1 = info('a', 's3://b/a/v1/', { replicas: 3 });
    expect(planActions([v1], placed, views(bad, old('p2'), old('p3')))).toEqual([put('p1', 'a', 's3://b/a/v1/', 'update')]);
  });

  it('keeps a moved copy until the adapter has landed on its new pod', () => {
    const a = info('a', undefined, { replicas: 1 });
    const placed = new Map([['ns/a', ['p2']]]);
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Staging'))))).toEqual([]);
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Loaded'))))).toEqual([{ op: 'delete', pod: 'p1', name: 'a' }]);
  });

  it('keeps the old copy when the new home failed or cannot be reached (make before break, item 10)', () => {
    const a = info('a', undefined, { replicas: 1 });
    const placed = new Map([['ns/a', ['p2']]]);
    const failed = view('p2', entry('a', 'Failed', undefined, { error: { reason: 'DiskError', message: 'ENOSPC' } }));
    // Before the fix a Failed copy counted as landed, and p1's serving copy was deleted.
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded')), failed))).toEqual([]);
    expect(planActions([a], placed, views(view('p1', entry('a', 'Loaded')), down('p2')))).toEqual([]);
  });

  it('deletes a copy at once when the adapter is placed nowhere (preempted) or is being deleted', () => {
    expect(planActions([info('a', undefined, { replicas: 1 })], new Map([['ns/a', []]]), views(view('p1', entry('a', 'Loaded'))))).toEqual([{ op: 'delete', pod: 'p1', name: 'a' }]);
    expect(planActions([info('a', undefined, { deleting: true })], new Map(), views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Failed'))))).toEqual([
      { op: 'delete', pod: 'p1', name: 'a' }, { op: 'delete', pod: 'p2', name: 'a' },
    ]);
  });

  it('leaves unreachable pods alone and does not delete what is already unloading', () => {
    const acts = planActions([info('a')], new Map([['ns/a', ['p1', 'p2']]]), views(down('p1'), view('p2', entry('a', 'Loaded'), entry('old', 'Unloading'))));
    expect(acts).toEqual([]);
  });
});

describe('admitActions', () => {
  const put = (pod: string, name: string): AgentAction => ({ op: 'put', pod, name, source: `s3://b/${name}/`, reason: 'place' });
  it('sends PUTs while a pod has fewer than the window in flight, in plan order, and every DELETE', () => {
    const vs = views(view('p1', entry('x', 'Staging'), entry('y', 'Loading'), entry('z', 'Loaded'), entry('f', 'Failed')), view('p2'), down('p3'));
    const planned: AgentAction[] = [put('p1', 'a'), put('p2', 'a'), put('p1', 'b'), { op: 'delete', pod: 'p1', name: 'old' }, put('p2', 'b'), put('p2', 'c'), put('p2', 'd'), put('p3', 'a')];
    // p1 already has x and y in flight (Loaded and Failed do not count): one more fits in 3.
    expect(admitActions(planned, vs, 3)).toEqual([put('p1', 'a'), put('p2', 'a'), { op: 'delete', pod: 'p1', name: 'old' }, put('p2', 'b'), put('p2', 'c'), put('p3', 'a')]);
    expect(admitActions(planned, vs, 100)).toEqual(planned);
  });
});

describe('observeAdapter', () => {
  const now = Date.parse('2026-11-27T10:00:00Z');
  it('is Ready when every placed pod has the current version Loaded, and an unchanged world gives the same status', () => {
    const v = views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Loaded')));
    const first = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, undefined, now, ctx(['p1', 'p2']));
    expect(first.health).toMatchObject({ state: 'Ready', reason: 'Loaded' });
    expect(first.status).toMatchObject({ readyReplicas: 2, rank: 8, sizeBytes: 10 });
    const again = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, first.status as never, now + 60_000, ctx(['p1', 'p2']));
    expect(again.status).toEqual(first.status);
  });

  it('takes `since` from the agent, so a reload after an engine restart shows even when never seen in between (item 16)', () => {
    const before = observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, views(view('p1', entry('a', 'Loaded'))), undefined, now, ctx(['p1']));
    const reloaded = views(view('p1', entry('a', 'Loaded', undefined, { updatedAt: '2026-11-27T09:59:58.250Z' })));
    const after = observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, reloaded, before.status as never, now, ctx(['p1']));
    expect(before.status.placements![0]!.since).toBe('2026-11-27T09:00:00Z');
    expect(after.status.placements![0]!.since).toBe('2026-11-27T09:59:58Z');
  });

  it('is Stalled with the agent\'s permanent reason, and says the roll is halted', () => {
    const v = views(view('p1', entry('a', 'Failed', 's3://b/a/v2/', { error: { reason: 'DigestMismatch', message: 'expected x, got y' } })), view('p2', entry('a', 'Loaded', 's3://b/a/v1/')));
    const o = observeAdapter(info('a', 's3://b/a/v2/'), ['p1', 'p2'], undefined, v, undefined, now, ctx(['p1', 'p2']));
    expect(o.health).toEqual({ state: 'Stalled', reason: 'DigestMismatch', message: 'pod p1: expected x, got y; the roll is halted: 1 of 2 pods still serve the previous version' });
    expect(o.status.placements![0]).toMatchObject({ pod: 'p1', state: 'Failed', message: 'DigestMismatch: expected x, got y' });
  });

  it('shows RetriesExhausted as Stalled and Internal as retrying, each with its reason (item 15)', () => {
    const fail = (reason: string) => views(view('p1', entry('a', 'Failed', undefined, { error: { reason: reason as never, message: `${reason} after 5 attempts` } })));
    expect(observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, fail('RetriesExhausted'), undefined, now, ctx(['p1'])).health)
      .toMatchObject({ state: 'Stalled', reason: 'RetriesExhausted' });
    expect(observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, fail('Internal'), undefined, now, ctx(['p1'])).health)
      .toMatchObject({ state: 'Reconciling', reason: 'Internal' });
    // A reason this operator does not know yet is shown as it is, and treated as transient.
    expect(observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, fail('SomethingNew'), undefined, now, ctx(['p1'])).health)
      .toMatchObject({ state: 'Reconciling', reason: 'SomethingNew' });
  });

  it('keeps retrying transient failures; Unschedulable only when waiting cannot help (item 16)', () => {
    const v = views(view('p1', entry('a', 'Failed', undefined, { error: { reason: 'S3Error', message: 'slow down' } })));
    expect(observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, v, undefined, now, ctx(['p1'])).health).toMatchObject({ state: 'Reconciling', reason: 'S3Error' });
    expect(observeAdapter(info('a'), ['p1'], { wanted: 2, placed: 1, reason: 'InsufficientCapacity' }, v, undefined, now, ctx(['p1'])).health)
      .toMatchObject({ state: 'Stalled', reason: 'Unschedulable' });
    // The base model is still bringing up pods: waiting.
    expect(observeAdapter(info('a'), [], { wanted: 2, placed: 0, reason: 'NotEnoughPods' }, new Map(), undefined, now, ctx([], { waitingForPods: true, baseModelReplicas: 3 })).health)
      .toMatchObject({ state: 'Reconciling', reason: 'WaitingForPods' });
    expect(observeAdapter(info('a', undefined, { replicas: 'All' }), [], undefined, new Map(), undefined, now, ctx([], { baseModelReplicas: 3 })).health)
      .toMatchObject({ state: 'Reconciling', reason: 'WaitingForPods' });
    expect(observeAdapter(info('a', undefined, { replicas: 'All' }), [], undefined, new Map(), undefined, now, ctx([], { baseModelReplicas: 0 })).health)
      .toMatchObject({ state: 'Stalled', reason: 'NoServingPods' });
  });

  it('does not count a Loaded copy on a pod that is not ready', () => {
    const v = views(view('p1', entry('a', 'Loaded')), view('p2', entry('a', 'Loaded')));
    const o = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, undefined, now, ctx(['p1']));
    expect(o.status.readyReplicas).toBe(1);
    expect(o.health.state).toBe('Reconciling');
    expect(o.status.placements![1]).toMatchObject({ pod: 'p2', state: 'Loaded', message: 'pod not ready' });
  });

  it('is Stalled AgentRejected once the agent has refused the PUT, retrying while it only failed', () => {
    const v = views(view('p1'));
    const refused = observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, v, undefined, now, ctx(['p1'], { callErrors: new Map([['p1', { message: 'HTTP 400: source: bad', refused: true }]]) }));
    expect(refused.health).toMatchObject({ state: 'Stalled', reason: 'AgentRejected', message: 'pod p1: HTTP 400: source: bad' });
    const failing = observeAdapter(info('a', undefined, { replicas: 1 }), ['p1'], undefined, v, undefined, now, ctx(['p1'], { callErrors: new Map([['p1', { message: 'timed out', refused: false }]]) }));
    expect(failing.health).toMatchObject({ state: 'Reconciling', reason: 'AgentUnavailable' });
  });

  it('shows a rolling update and the pods that still hold it elsewhere', () => {
    const v = views(view('p1', entry('a', 'Loaded', 's3://b/old/')), view('p2', entry('a', 'Loaded')), view('p3', entry('a', 'Loaded')));
    const o = observeAdapter(info('a'), ['p1', 'p2'], undefined, v, undefined, now, ctx(['p1', 'p2', 'p3']));
    expect(o.health).toMatchObject({ state: 'Reconciling', reason: 'RollingUpdate' });
    expect(o.status.placements!.map((p) => [p.pod, p.state])).toEqual([['p1', 'Loaded'], ['p2', 'Loaded'], ['p3', 'Unloading']]);
  });
});
