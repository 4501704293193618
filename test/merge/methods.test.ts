import { describe, expect, it } from 'vitest';
import { mergeCat } from '../../src/merge/methods/cat.js';
import { dareDelta, mergeDare } from '../../src/merge/methods/dare.js';
import { emaWeights } from '../../src/merge/methods/ema.js';
import { mergeLinear } from '../../src/merge/methods/linear.js';
import { mergeSvd } from '../../src/merge/methods/svd.js';
import { mergeTies, tiesDelta } from '../../src/merge/methods/ties.js';
import type { Factors, ModuleTask } from '../../src/merge/methods/types.js';
import { denseOf, fromRowMajor, maxAbs, maxAbsDiff, mul, randomFactors, referenceSVD, truncate, weightedSum, type Dense } from './dense-reference.js';

function product(res: { A: Float32Array; B: Float32Array }, out: number, inDim: number, rank: number): Dense {
  return mul(fromRowMajor(res.B, out, rank), fromRowMajor(res.A, rank, inDim));
}

function task(factors: Factors[], out: number, inDim: number, rank: number): ModuleTask {
  return { module: 'layers.0.q_proj', out, in: inDim, rank, factors };
}

// Rank-1 factors B = [b]ᵀ, A = [a] with c = 1: their product is the outer product b·aᵀ.
function outer(input: number, b: number[], a: number[], c = 1): Factors {
  return { input, r: 1, c, A: Float32Array.from(a), B: Float32Array.from(b) };
}

describe('cat', () => {
  it('reproduces Σ cᵢ·Bᵢ·Aᵢ to float tolerance', () => {
    const fs = randomFactors(20, 15, [3, 4, 2], [0.7, -0.3, 1.5], 1);
    const res = mergeCat(task(fs, 20, 15, 9));
    const want = weightedSum(fs, 20, 15);
    expect(maxAbsDiff(product(res, 20, 15, 9), want)).toBeLessThan(1e-5 * maxAbs(want));
    expect(res.error2).toBe(0);
  });

  it('pads to a larger output rank with zeros and refuses a smaller one', () => {
    const fs = randomFactors(6, 5, [2, 2], [1, 1], 2);
    const res = mergeCat(task(fs, 6, 5, 7));
    expect(Array.from(res.A.subarray(4 * 5))).toEqual(Array(3 * 5).fill(0));
    expect(maxAbsDiff(product(res, 6, 5, 7), weightedSum(fs, 6, 5))).toBeLessThan(1e-5);
    expect(() => mergeCat(task(fs, 6, 5, 3))).toThrow(/needs rank 4/);
  });
});

describe('svd', () => {
  for (const [out, inDim, ranks, rank] of [[24, 18, [3, 4, 2], 4], [9, 30, [4, 4], 3], [2, 30, [3, 3], 2], [30, 3, [2, 2, 2], 2]] as const) {
    it(`equals the dense truncated SVD of the sum (${out}×${inDim}, ranks ${ranks.join('+')} → ${rank})`, () => {
      const coeffs = ranks.map((_, i) => (i % 2 ? -0.6 : 1.3) * (i + 1));
      const fs = randomFactors(out, inDim, [...ranks], coeffs, 7 + out);
      const res = mergeSvd(task(fs, out, inDim, rank));
      const delta = weightedSum(fs, out, inDim);
      const ref = referenceSVD(delta);
      const got = referenceSVD(product(res, out, inDim, rank));
      const scale = ref.s[0];
      for (let j = 0; j < rank; j++) expect(Math.abs(got.s[j] - ref.s[j])).toBeLessThan(1e-5 * scale);
      for (let j = rank; j < got.s.length; j++) expect(got.s[j]).toBeLessThan(1e-5 * scale);
      expect(maxAbsDiff(product(res, out, inDim, rank), truncate(delta, rank))).toBeLessThan(1e-5 * maxAbs(delta));
      const discarded = ref.s.slice(rank).reduce((s, x) => s + x * x, 0);
      const total = ref.s.reduce((s, x) => s + x * x, 0);
      expect(res.error2).toBeCloseTo(discarded, 6);
      expect(res.norm2 / total).toBeCloseTo(1, 10);
    });
  }

  it('is exact when the rank covers the sum of the input ranks', () => {
    const fs = randomFactors(16, 12, [3, 2], [0.5, 2], 3);
    const res = mergeSvd(task(fs, 16, 12, 5));
    const want = weightedSum(fs, 16, 12);
    expect(maxAbsDiff(product(res, 16, 12, 5), want)).toBeLessThan(1e-5 * maxAbs(want));
    expect(res.error2).toBeLessThan(1e-12 * res.norm2);
  });

  it('applies each coefficient once (no double scaling)', () => {
    const one = randomFactors(8, 6, [2], [1], 4);
    const five = one.map((f) => ({ ...f, c: 5 }));
    const p1 = product(mergeSvd(task(one, 8, 6, 2)), 8, 6, 2);
    const p5 = product(mergeSvd(task(five, 8, 6, 2)), 8, 6, 2);
    for (let i = 0; i < p1.d.length; i++) expect(p5.d[i]).toBeCloseTo(5 * p1.d[i], 4);
  });

  it('handles identical inputs (a rank-deficient stack)', () => {
    const [f] = randomFactors(10, 7, [3], [1], 5);
    const fs = [f, { ...f, input: 1 }];
    const res = mergeSvd(task(fs, 10, 7, 3));
    const want = weightedSum(fs, 10, 7);
    expect(maxAbsDiff(product(res, 10, 7, 3), want)).toBeLessThan(1e-5 * maxAbs(want));
  });
});

describe('ema', () => {
  it('weights the newest input 1 − α and each earlier one α/t', () => {
    expect(emaWeights(1)).toEqual([1]);
    const w = emaWeights(4, 0.1);
    expect(w[3]).toBeCloseTo(0.9, 15);
    for (const x of w.slice(0, 3)) expect(x).toBeCloseTo(0.1 / 3, 15);
    expect(emaWeights(2, 0.25)).toEqual([0.25, 0.75]);
    expect(() => emaWeights(3, 1.5)).toThrow(/alpha/);
  });

  it('follows θ′ = (1 − α)·θ_t + α·mean(θ_0..θ_{t−1}) in delta space', () => {
    const alpha = 0.2;
    const base = randomFactors(7, 5, [2, 2, 2], [1, 1, 1], 6);
    const w = emaWeights(3, alpha);
    const res = mergeCat(task(base.map((f, i) => ({ ...f, c: w[i] })), 7, 5, 6));
    const d = base.map((f) => weightedSum([f], 7, 5));
    const want = denseOf(7, 5, (i, j) => (1 - alpha) * d[2].d[i * 5 + j] + alpha * ((d[0].d[i * 5 + j] + d[1].d[i * 5 + j]) / 2));
    expect(maxAbsDiff(product(res, 7, 5, 6), want)).toBeLessThan(1e-6);
  });
});

describe('linear', () => {
  it('follows PEFT’s factor formula and reports its cross-term error', () => {
    const fs = randomFactors(6, 5, [2, 2], [0.64, -0.25], 8);
    const res = mergeLinear(task(fs, 6, 5, 2));
    for (let i = 0; i < 2 * 5; i++) expect(res.A[i]).toBeCloseTo(0.8 * fs[0].A[i] - 0.5 * fs[1].A[i], 6);
    for (let i = 0; i < 6 * 2; i++) expect(res.B[i]).toBeCloseTo(0.8 * fs[0].B[i] + 0.5 * fs[1].B[i], 6);
    const exact = weightedSum(fs, 6, 5);
    const got = product(res, 6, 5, 2);
    let err2 = 0;
    for (let i = 0; i < got.d.length; i++) err2 += (got.d[i] - exact.d[i]) ** 2;
    expect(err2).toBeGreaterThan(1e-4);
    expect(res.error2).toBeCloseTo(err2, 6);
  });

  it('refuses unequal ranks', () => {
    expect(() => mergeLinear(task(randomFactors(4, 4, [2, 3], [1, 1], 9), 4, 4, 3))).toThrow(/equal ranks/);
  });
});

describe('ties', () => {
  // τ1 = [[3,-1],[6,-2]], τ2 = [[-2,4],[2,-4]], τ3 = [[1,.5],[1,.5]]; density 0.5 keeps 2 entries each:
  // τ̂1 = [[3,0],[6,0]], τ̂2 = [[0,4],[0,-4]], τ̂3 = [[1,0],[1,0]]; Σ = [[4,4],[7,-4]] → signs + + / + −;
  // agreeing means: (3+1)/2, 4, (6+1)/2, −4.
  const fs = [outer(0, [1, 2], [3, -1]), outer(1, [1, -1], [-2, 4]), outer(2, [1, 1], [1, 0.5])];
  it('matches a hand-computed case (trim, elect by total, disjoint mean)', () => {
    const t = task(fs, 2, 2, 2);
    expect(Array.from(tiesDelta(t, { density: 0.5, majoritySign: 'total' }))).toEqual([2, 4, 3.5, -4]);
    const res = mergeTies(t, { density: 0.5, majoritySign: 'total' });
    const p = product(res, 2, 2, 2);
    [2, 4, 3.5, -4].forEach((v, i) => expect(p.d[i]).toBeCloseTo(v, 5));
  });

  it('elects by frequency or by total as asked', () => {
    const g = [outer(0, [1], [-5, 1, 1]), outer(1, [1], [1, 1, 1]), outer(2, [1], [1, 1, 1])];
    const t = task(g, 1, 3, 1);
    expect(Array.from(tiesDelta(t, { density: 1, majoritySign: 'total' }))).toEqual([-5, 1, 1]);
    expect(Array.from(tiesDelta(t, { density: 1, majoritySign: 'frequency' }))).toEqual([1, 1, 1]);
  });

  it('breaks magnitude ties by position, deterministically', () => {
    const t = task([outer(0, [1], [2, -2, 2, 1])], 1, 4, 1);
    expect(Array.from(tiesDelta(t, { density: 0.5, majoritySign: 'total' }))).toEqual([2, -2, 0, 0]);
  });

  it('weights enter before trimming and election (negative weights flip signs)', () => {
    const t = task([outer(0, [1], [3, 1], 1), outer(1, [1], [2, 2], -2)], 1, 2, 1);
    // τ̂ = [3, 1] and [-4, -4]; totals −1, −3 → both negative; only input 2 agrees.
    expect(Array.from(tiesDelta(t, { density: 1, majoritySign: 'total' }))).toEqual([-4, -4]);
  });
});

describe('dare', () => {
  const fs = randomFactors(60, 50, [3, 2], [1, 0.5], 10);
  const t = task(fs, 60, 50, 5);

  it('with density 1 is the plain sum', () => {
    const d = dareDelta(t, { density: 1, seed: 3 });
    const want = weightedSum(fs, 60, 50);
    expect(maxAbsDiff(fromRowMajor(d, 60, 50), want)).toBeLessThan(1e-5);
  });

  it('drops entries with probability 1 − density and rescales the kept ones by 1/density', () => {
    const single = task([fs[0]], 60, 50, 3);
    const full = weightedSum([fs[0]], 60, 50);
    const d = dareDelta(single, { density: 0.3, seed: 11 });
    let kept = 0;
    for (let i = 0; i < d.length; i++) {
      if (d[i] === 0) continue;
      kept++;
      expect(d[i]).toBeCloseTo(Math.fround(full.d[i]) / 0.3, 4);
    }
    // 3000 Bernoulli(0.3) draws: mean 900, sd ≈ 25.
    expect(kept).toBeGreaterThan(800);
    expect(kept).toBeLessThan(1000);
  });

  it('is deterministic for a seed and changes with it', () => {
    const a = dareDelta(t, { density: 0.5, seed: 1 });
    expect(Array.from(dareDelta(t, { density: 0.5, seed: 1 }))).toEqual(Array.from(a));
    expect(Array.from(dareDelta(t, { density: 0.5, seed: 2 }))).not.toEqual(Array.from(a));
  });

  it('with a majority sign and density 1 equals ties with density 1', () => {
    expect(Array.from(dareDelta(t, { density: 1, majoritySign: 'total' }))).toEqual(Array.from(tiesDelta(t, { density: 1, majoritySign: 'total' })));
  });

  it('re-factors to a near-best rank-r approximation of the dropped sum and reports its error exactly', () => {
    const d = fromRowMajor(dareDelta(t, { density: 0.5, seed: 4 }), 60, 50);
    const res = mergeDare(t, { density: 0.5, seed: 4 });
    const err2 = (x: Dense) => x.d.reduce((s, v, i) => s + (v - d.d[i]) ** 2, 0);
    const got = err2(product(res, 60, 50, 5));
    const best = err2(truncate(d, 5));
    expect(got).toBeGreaterThanOrEqual(best * (1 - 1e-9));
    expect(got).toBeLessThan(best * 1.01);
    expect(res.error2).toBeCloseTo(got, 3);
  });

  it('re-factors exactly when the merged delta has rank ≤ r', () => {
    const d = dareDelta(t, { density: 1 });
    const res = mergeDare(t, { density: 1 });
    expect(maxAbsDiff(product(res, 60, 50, 5), fromRowMajor(d, 60, 50))).toBeLessThan(1e-4);
  });
});
