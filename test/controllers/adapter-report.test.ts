import { describe, expect, it } from 'vitest';
import { AllowedSources } from '../../src/contracts/allowed-sources.js';
import { CallBackoff } from '../../src/controllers/adapter/act.js';
import { decideReport, eventsFor, type ReportInput } from '../../src/controllers/adapter/report.js';
import { adapterSet } from '../../src/controllers/adapter/spec.js';
import type { KubeObject } from '../../src/runtime/object.js';
import { ctx, down, entry, info, view, views } from './adapter-fixtures.js';

const t0 = Date.parse('2026-11-27T10:00:00Z');
const adapter = (name: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject & { spec: unknown } => ({
  metadata: { name, namespace: 'ns', uid: `${name}-uid`, creationTimestamp: '2026-11-27T09:00:00Z', ...meta },
  spec: { baseModel: 'gpt2', source: { uri: `s3://bkt/${name}/` }, ...spec },
});

describe('adapterSet', () => {
  it('gives a served name to the oldest live Adapter and refuses younger ones', () => {
    const set = adapterSet([
      adapter('young', { servedName: 'x' }, { creationTimestamp: '2026-11-27T09:30:00Z' }),
      adapter('old', { servedName: 'x' }),
    ], AllowedSources.of(undefined));
    expect(set.infos.map((i) => i.key)).toEqual(['ns/old']);
    expect(set.refused.get('ns/young')?.health).toMatchObject({ state: 'Stalled', reason: 'ServedNameConflict' });
  });

  it('hands a deleted Adapter\'s name over to the live one that holds it, so its deletion never waits on the other\'s copies (item 11)', () => {
    const set = adapterSet([
      adapter('b', { servedName: 'x' }),
      adapter('a', { servedName: 'x' }, { creationTimestamp: '2026-11-27T09:30:00Z', deletionTimestamp: '2026-11-27T09:59:00Z' }),
    ], AllowedSources.of(undefined));
    expect(set.handedOver).toEqual(new Set(['ns/a']));
    expect(set.infos.map((i) => i.key)).toEqual(['ns/b']);
  });

  it('refuses a source outside allowedSources, naming the list (item 7)', () => {
    const set = adapterSet([adapter('in', { source: { uri: 's3://team/adapters/in/' } }), adapter('out', { source: { uri: 's3://other/x/' } })], AllowedSources.of(['s3://team/adapters/']));
    expect(set.infos.map((i) => i.key)).toEqual(['ns/in']);
    expect(set.refused.get('ns/out')?.health).toEqual({
      state: 'Stalled', reason: 'SourceNotAllowed',
      message: 'spec.source.uri s3://other/x/ is not under the BaseModel\'s spec.adapters.allowedSources (s3://team/adapters/); use a source there, or add its bucket or prefix to the list',
    });
  });
});

describe('decideReport', () => {
  const base = (over: Partial<ReportInput>): ReportInput => ({
    obj: adapter('a', {}), key: 'ns/a', info: info('a'), handedOver: false, baseModel: { kind: 'ok' }, baseModelName: 'gpt2',
    placed: ['p1', 'p2'], views: new Map(), previous: undefined, nowMs: t0, ctx: ctx(['p1', 'p2']),
    unloadTimeoutMs: 120_000, baseModelWaitMs: 300_000, ...over,
  });
  const deleting = adapter('a', {}, { deletionTimestamp: '2026-11-27T09:59:00Z' });

  it('releases a deleted Adapter once no pod holds its name, waits while one does', () => {
    const d = info('a', undefined, { deleting: true });
    expect(decideReport(base({ obj: deleting, info: d, views: views(view('p1', entry('a', 'Unloading'))) })).kind).toBe('status');
    expect(decideReport(base({ obj: deleting, info: d, views: views(view('p1')) }))).toEqual({ key: 'ns/a', kind: 'release' });
  });

  it('releases a handed-over Adapter at once though another Adapter\'s copies of the name remain (item 11)', () => {
    // Before the fix the check matched B's copies of "x" and A's finalizer stayed forever.
    expect(decideReport(base({ obj: deleting, info: undefined, handedOver: true, views: views(view('p1', entry('x', 'Loaded'))) }))).toEqual({ key: 'ns/a', kind: 'release' });
  });

  it('waits for unreachable pods up to the unload timeout', () => {
    const d = info('a', undefined, { deleting: true });
    const previous = { placements: [{ pod: 'p1', state: 'Loaded' as const }] };
    const waiting = decideReport(base({ obj: deleting, info: d, views: views(down('p1')), previous }));
    expect(waiting).toMatchObject({ kind: 'status', nextChange: Date.parse('2026-11-27T10:01:00Z') });
    expect(decideReport(base({ obj: deleting, info: d, views: views(down('p1')), previous, nowMs: Date.parse('2026-11-27T10:01:00Z') })))
      .toEqual({ key: 'ns/a', kind: 'release', timedOutAfterMs: 120_000 });
  });

  it('unloads a deleted Adapter of a missing BaseModel from its pods before it goes (item 11)', () => {
    // Before the fix: no BaseModel, so the finalizer went at once while the pods still held it.
    const d = info('a', undefined, { deleting: true });
    expect(decideReport(base({ obj: deleting, info: d, baseModel: { kind: 'missing', since: t0 }, views: views(view('p1', entry('a', 'Loaded'))) })).kind).toBe('status');
  });

  it('waits for a missing BaseModel before calling it failed (item 16)', () => {
    const fresh = adapter('a', {}, { creationTimestamp: '2026-11-27T09:59:58Z' });
    const r = decideReport(base({ obj: fresh, baseModel: { kind: 'missing', since: t0 } }));
    expect(r).toMatchObject({ kind: 'status', health: { state: 'Reconciling', reason: 'WaitingForBaseModel' }, nextChange: t0 + 300_000 });
    expect(decideReport(base({ obj: fresh, baseModel: { kind: 'missing', since: t0 }, nowMs: t0 + 300_000 }))).toMatchObject({ health: { state: 'Stalled', reason: 'BaseModelNotFound' } });
  });
});

describe('eventsFor', () => {
  const cond = (type: string, status: string, reason = 'X') => ({ type, status: status as 'True', reason, message: '', lastTransitionTime: '' });
  it('tells the first Ready as Loaded and a finished roll as RolledOut', () => {
    const before = [cond('Ready', 'False'), cond('Reconciling', 'True', 'Loading'), cond('Stalled', 'False')];
    const ready = { state: 'Ready' as const, reason: 'Loaded', message: 'loaded on 2 of 2 pods' };
    expect(eventsFor(before, ready, undefined, 'sha256:a')).toEqual([{ type: 'Normal', reason: 'Loaded', action: 'Load', note: 'loaded on 2 of 2 pods' }]);
    expect(eventsFor(before, ready, 'sha256:a', 'sha256:b')).toEqual([{ type: 'Normal', reason: 'RolledOut', action: 'Roll', note: 'loaded on 2 of 2 pods: now serving sha256:b' }]);
    expect(eventsFor([cond('Ready', 'True')], ready, 'sha256:a', 'sha256:a')).toEqual([]);
  });
  it('tells waiting as Normal and Stalled as Warning, once per reason', () => {
    const waiting = { state: 'Reconciling' as const, reason: 'WaitingForBaseModel', message: 'm' };
    expect(eventsFor(undefined, waiting, undefined, undefined)).toEqual([{ type: 'Normal', reason: 'WaitingForBaseModel', action: 'Wait', note: 'm' }]);
    expect(eventsFor([cond('Reconciling', 'True', 'WaitingForBaseModel')], waiting, undefined, undefined)).toEqual([]);
    expect(eventsFor(undefined, { state: 'Reconciling', reason: 'Loading', message: 'm' }, undefined, undefined)).toEqual([]);
    const stalled = { state: 'Stalled' as const, reason: 'Unschedulable', message: 'm' };
    expect(eventsFor(undefined, stalled, undefined, undefined)).toEqual([{ type: 'Warning', reason: 'Unschedulable', action: 'Reconcile', note: 'm' }]);
    expect(eventsFor([cond('Stalled', 'True', 'Unschedulable')], stalled, undefined, undefined)).toEqual([]);
  });
});

describe('CallBackoff', () => {
  it('backs off exponentially up to the cap, and gives up on refusals after three', () => {
    const b = new CallBackoff({ baseMs: 1_000, maxMs: 8_000, maxRefusals: 3 });
    const times: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      b.failed('k', now, 'timed out', false);
      times.push(b.nextRetry(['k'])! - now);
      expect(b.due('k', now)).toBe(false);
      now = b.nextRetry(['k'])!;
      expect(b.due('k', now)).toBe(true);
    }
    expect(times).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    for (let i = 0; i < 3; i++) b.failed('r', 0, 'HTTP 400', true);
    expect(b.error('r')).toEqual({ message: 'HTTP 400', refused: true });
    expect(b.due('r', 1e12)).toBe(false);
    b.retain((k) => k !== 'r');
    expect(b.due('r', 0)).toBe(true);
  });
});
