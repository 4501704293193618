import { describe, expect, it } from 'vitest';
import { firstDifference, isDerivative, parseQuantity } from '../../src/runtime/equality.js';

describe('isDerivative', () => {
  it('ignores fields the server added', () => {
    expect(isDerivative({ a: 1, b: { c: 'x' } }, { a: 1, b: { c: 'x', d: 2 }, status: {} })).toBe(true);
  });
  it('treats zero values as matching a missing field', () => {
    expect(isDerivative({ a: false, b: [], c: {}, d: '', e: 0 }, {})).toBe(true);
    expect(isDerivative({ emptyDir: {} }, { emptyDir: {} })).toBe(true);
  });
  it('finds a changed value, with its path', () => {
    expect(firstDifference({ spec: { replicas: 3 } }, { spec: { replicas: 2 } })).toBe('.spec.replicas');
    expect(firstDifference({ a: [{ n: 'x', v: '1' }] }, { a: [{ n: 'x', v: '2' }] })).toBe('.a[0].v');
  });
  it('requires lists of the same length in the same order', () => {
    expect(isDerivative({ args: ['a', 'b'] }, { args: ['a', 'b', 'c'] })).toBe(false);
    expect(isDerivative({ args: ['a', 'b'] }, { args: ['b', 'a'] })).toBe(false);
  });
  it('notices a field that disappeared', () => {
    expect(firstDifference({ a: { b: 'x' } }, { a: {} })).toBe('.a.b');
  });
  it('compares quantities by value where they are quantities only', () => {
    expect(isDerivative({ resources: { limits: { 'nvidia.com/gpu': 1, cpu: '0.5' } } }, { resources: { limits: { 'nvidia.com/gpu': '1', cpu: '500m' } } })).toBe(true);
    expect(isDerivative({ emptyDir: { sizeLimit: '1Gi' } }, { emptyDir: { sizeLimit: '1073741824' } })).toBe(true);
    expect(isDerivative({ env: { value: '1k' } }, { env: { value: '1000' } })).toBe(false);
    expect(isDerivative({ resources: { limits: { memory: '1Gi' } } }, { resources: { limits: { memory: '1G' } } })).toBe(false);
  });
  it('parses quantities', () => {
    expect(parseQuantity('20Gi')).toBe(20 * 2 ** 30);
    expect(parseQuantity('100m')).toBeCloseTo(0.1);
    expect(parseQuantity('abc')).toBeUndefined();
  });
});
