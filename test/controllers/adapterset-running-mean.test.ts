import { describe, expect, it } from 'vitest';
import { meanErrorBound, meanKey, meanMarkerUri, meanUpdateWeights, meanUri, versionErrorBound } from '../../src/controllers/adapterset/running-mean.js';

describe('the running mean of earlier tasks', () => {
  it('M_k = ((k−1)·M_{k−1} + w_k·ΔW_k)/k: unrolled, every task keeps weight w_i/k', () => {
    // Scalars stand in for deltas: the update is linear, so this is the algebra the merges run.
    const deltas = [3, -1, 4, 1.5, -9], w = [1, 2, 0.5, 1, 3];
    let mean = deltas[0], coef = w[0]; // M_1 is task 1 itself, entering with its weight
    for (let k = 2; k <= deltas.length; k++) {
      const [a, b] = meanUpdateWeights(k, coef, w[k - 1]);
      mean = a * mean + b * deltas[k - 1];
      coef = 1;
      const want = deltas.slice(0, k).reduce((s, d, i) => s + w[i] * d, 0) / k;
      expect(mean).toBeCloseTo(want, 12);
    }
    expect(() => meanUpdateWeights(1, 1, 1)).toThrow(/k must be/);
  });
  it('the bounds: E_k = ((k−1)/k)·E_{k−1} + e_k; a version over an exact mean records its own relative error', () => {
    expect(meanErrorBound(2, 0, 0.5)).toBe(0.5);
    expect(meanErrorBound(4, 2, 0.1)).toBeCloseTo(1.6, 12);
    expect(versionErrorBound({ absolute: 0.3, norm: 3 }, 0.1, 0)).toBeCloseTo(0.1, 12);
    expect(versionErrorBound({ absolute: 0, norm: NaN }, 0.1, 0)).toBe(0); // cat: exact
    // (e_V + α·E) / (‖G‖ − α·E)
    expect(versionErrorBound({ absolute: 0.3, norm: 3 }, 0.1, 1)).toBeCloseTo(0.4 / 2.9, 12);
    expect(versionErrorBound({ absolute: 0.3, norm: 0.05 }, 0.1, 1)).toBe(Number.MAX_VALUE);
  });
  it('a mean is content-addressed by its tasks in order, their weights and its rank, beside the versions', () => {
    const a = [{ digest: 'sha256:a', weight: 1 }, { digest: 'sha256:b', weight: 1 }];
    expect(meanKey(a, 16)).toBe(meanKey([...a], 16));
    expect(meanKey(a, 16)).not.toBe(meanKey([...a].reverse(), 16));
    expect(meanKey(a, 16)).not.toBe(meanKey(a, 8));
    expect(meanKey(a, 16)).not.toBe(meanKey([a[0], { ...a[1], weight: 2 }], 16));
    const uri = meanUri('s3://bkt/out', 'm0', 'k1');
    expect(uri).toBe('s3://bkt/out/m0/means/k1/');
    expect(meanMarkerUri(uri)).toBe('s3://bkt/out/m0/means/k1.graft-mean.json');
  });
});
