import { describe, expect, it } from 'vitest';
import { adapterNovelty, moduleNovelty, readFactors, subspaceOverlap, type ModuleFactors } from '../../src/merge/novelty.js';
import { GPT2_CAUSAL, GPT2_SEQCLS, DISTILBERT } from './fixtures.js';
import { rng } from './dense-reference.js';

function random(out: number, inn: number, r: number, seed: number): ModuleFactors {
  const g = rng(seed);
  return { r, out, in: inn, A: Float32Array.from({ length: r * inn }, g), B: Float32Array.from({ length: out * r }, g) };
}
const scaled = (f: ModuleFactors, a: number, b: number): ModuleFactors => ({ ...f, A: f.A.map((x) => x * a), B: f.B.map((x) => x * b) });

describe('weight-space novelty', () => {
  it('is 0 for a copy and a scaled copy, near 1 for unrelated factors, and lies in [0, 1]', () => {
    const f = random(256, 192, 8, 1);
    expect(moduleNovelty(f, f)).toBeLessThan(1e-9);
    expect(moduleNovelty(f, scaled(f, 3, -0.25))).toBeLessThan(1e-9);
    const g = random(256, 192, 8, 2);
    const n = moduleNovelty(f, g);
    // Random rank-8 subspaces of R^256 and R^192 overlap about 8/256 and 8/192.
    expect(n).toBeGreaterThan(0.9);
    expect(n).toBeLessThanOrEqual(1);
  });

  it('a task that shares half of a module\'s directions scores in between', () => {
    const f = random(128, 128, 8, 3);
    const g = random(128, 128, 8, 4);
    // g's first 4 rank-1 components are f's: A rows 0-3, B columns 0-3.
    const A = g.A.slice(); A.set(f.A.subarray(0, 4 * 128), 0);
    const B = g.B.slice(); for (let i = 0; i < 128; i++) for (let j = 0; j < 4; j++) B[i * 8 + j] = f.B[i * 8 + j];
    const n = moduleNovelty(f, { ...g, A, B });
    expect(n).toBeGreaterThan(0.4);
    expect(n).toBeLessThan(0.6);
  });

  it('overlap of a subspace with one containing it is 1, with an orthogonal one 0', () => {
    const x = { rows: 4, cols: 1, data: Float64Array.from([1, 0, 0, 0]) };
    const y = { rows: 4, cols: 2, data: Float64Array.from([0, 1, 0, 0, 2, 0, 0, 0]) };
    const z = { rows: 4, cols: 1, data: Float64Array.from([0, 0, 1, 1]) };
    expect(subspaceOverlap(x, y)).toBeCloseTo(1, 12);
    expect(subspaceOverlap(x, z)).toBeCloseTo(0, 12);
  });

  it('on the real fixtures: a scaled copy is not novel, another task is, another base model shares nothing', async () => {
    const seqcls = await readFactors(GPT2_SEQCLS);
    const causal = await readFactors(GPT2_CAUSAL);
    const bert = await readFactors(DISTILBERT);
    const copy = new Map([...seqcls].map(([k, f]) => [k, scaled(f, 2, 1)]));
    expect(adapterNovelty(copy, seqcls).score).toBeLessThan(1e-6);
    const other = adapterNovelty(causal, seqcls);
    expect(other.sharedModules).toBe(12); // c_attn of each of gpt2's 12 layers
    expect(other.score).toBeGreaterThan(0.8);
    expect(adapterNovelty(bert, seqcls)).toEqual({ score: 1, sharedModules: 0 });
  });
});
