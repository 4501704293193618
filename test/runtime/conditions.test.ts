import { describe, expect, it } from 'vitest';
import { findCondition, metaTime, setCondition, setStandardConditions, type Condition } from '../../src/runtime/conditions.js';
import { statusEqual } from '../../src/runtime/apply.js';
import { jsonEqual, isDerivative as jsonSubset } from '../../src/runtime/equality.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const T1 = T0 + 60_000;

describe('conditions', () => {
  it('writes metav1.Time: RFC 3339 in whole seconds', () => {
    expect(metaTime(T0 + 999)).toBe('2025-01-01T12:00:00Z');
  });

  it('adds a condition with a transition time, and keeps that time while the status stays', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting', observedGeneration: 1 }, T0);
    expect(a).toEqual([{ type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting', lastTransitionTime: '2025-01-01T12:00:00Z', observedGeneration: 1 }]);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'StillPending', message: 'still waiting', observedGeneration: 2 }, T1);
    expect(b[0]).toMatchObject({ reason: 'StillPending', message: 'still waiting', observedGeneration: 2, lastTransitionTime: '2025-01-01T12:00:00Z' });
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Available', message: '', observedGeneration: 2 }, T1);
    expect(c[0].lastTransitionTime).toBe('2025-01-01T12:01:00Z');
    expect(a[0].reason).toBe('Pending'); // input untouched
  });

  it('keeps the order of existing conditions and appends new ones', () => {
    let cs: Condition[] = [];
    cs = setCondition(cs, { type: 'B', status: 'True', reason: 'R', message: '' }, T0);
    cs = setCondition(cs, { type: 'A', status: 'True', reason: 'R', message: '' }, T0);
    cs = setCondition(cs, { type: 'B', status: 'False', reason: 'R', message: '' }, T1);
    expect(cs.map((c) => c.type)).toEqual(['B', 'A']);
  });

  it('refuses reasons the API server would refuse', () => {
    expect(() => setCondition([], { type: 'Ready', status: 'True', reason: 'not ok', message: '' }, T0)).toThrow(/CamelCase/);
    expect(() => setCondition([], { type: 'Ready', status: 'True', reason: '', message: '' }, T0)).toThrow(/reason/);
  });

  it('sets Ready, Reconciling and Stalled consistently for each health state', () => {
    const ready = setStandardConditions(undefined, { state: 'Ready', reason: 'Available', message: 'all pods serve' }, 3, T0);
    expect(ready.map((c) => [c.type, c.status, c.observedGeneration])).toEqual([['Ready', 'True', 3], ['Reconciling', 'False', 3], ['Stalled', 'False', 3]]);
    const progressing = setStandardConditions(ready, { state: 'Reconciling', reason: 'Scaling', message: '1/2 ready' }, 4, T1);
    expect(progressing.map((c) => [c.type, c.status])).toEqual([['Ready', 'False'], ['Reconciling', 'True'], ['Stalled', 'False']]);
    expect(findCondition(progressing, 'Stalled')!.lastTransitionTime).toBe(metaTime(T0)); // Stalled stayed False
    expect(findCondition(progressing, 'Ready')!.lastTransitionTime).toBe(metaTime(T1));
    expect(findCondition(progressing, 'Reconciling')!.message).toBe('1/2 ready');
    const stalled = setStandardConditions(progressing, { state: 'Stalled', reason: 'InvalidSpec', message: 'bad uri' }, 4, T1 + 1000);
    expect(stalled.map((c) => [c.type, c.status])).toEqual([['Ready', 'False'], ['Reconciling', 'False'], ['Stalled', 'True']]);
    expect(findCondition(stalled, 'Ready')!.lastTransitionTime).toBe(metaTime(T1));
  });

  it('recomputing the same state yields an equal status, so nothing is written', () => {
    const first = setStandardConditions(undefined, { state: 'Ready', reason: 'Available', message: 'ok' }, 1, T0);
    const again = setStandardConditions(first, { state: 'Ready', reason: 'Available', message: 'ok' }, 1, T1);
    expect(statusEqual({ conditions: first, observedGeneration: 1 }, { observedGeneration: 1, conditions: again })).toBe(true);
    const newGen = setStandardConditions(first, { state: 'Ready', reason: 'Available', message: 'ok' }, 2, T1);
    expect(statusEqual({ conditions: first }, { conditions: newGen })).toBe(false);
  });
});

describe('json equality', () => {
  it('ignores key order and undefined fields, not array order', () => {
    expect(jsonEqual({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1, d: undefined })).toBe(true);
    expect(jsonEqual({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(jsonEqual(undefined, {})).toBe(false);
  });

  it('subset: every wanted field present and equal, extras allowed', () => {
    expect(jsonSubset({ spec: { replicas: 2 } }, { spec: { replicas: 2, paused: false }, status: {} })).toBe(true);
    expect(jsonSubset({ spec: { replicas: 2 } }, { spec: { replicas: 3 } })).toBe(false);
    expect(jsonSubset({ spec: { ports: [{ port: 80 }] } }, { spec: { ports: [{ port: 80, protocol: 'TCP' }] } })).toBe(true);
    expect(jsonSubset({ spec: { ports: [{ port: 80 }] } }, { spec: { ports: [{ port: 81, protocol: 'TCP' }] } })).toBe(false);
    expect(jsonSubset({ args: ['a'] }, { args: ['a', 'b'] })).toBe(false);
  });
});
