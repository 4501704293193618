// The running mean of a module's earlier tasks, kept as its own content-addressed artifact so that
// version n of an ema module reads two adapters (that mean and task n), not all n: the cost of a
// step stays flat as tasks accumulate. Pure: keys, locations, weights and error bounds.
//
// With task deltas ΔW_i and weights w_i (spec.merge.weights × tasks[].weight), the mean of the first
// k tasks is M_k = (1/k)·Σ_{i≤k} w_i·ΔW_i, updated as M_k = ((k−1)·M_{k−1} + w_k·ΔW_k)/k, and
// version n = k + 1 is ema over [M_k, task n] with weights [1, w_n]: α·M_k + (1−α)·w_n·ΔW_n, which is
// MOS's θ'_n = (1−α)·θ_n + α·mean(θ_1 … θ_{n−1}) with the same weights as merging all n at once.
//
// Truncation: M_k is stored at rank ≤ meanRank (cat while the ranks fit, svd to meanRank beyond), in
// F32, so what it leaves out carries into later versions. Each update's discarded part e_k (the
// engine's absolute truncation error) is known, and by the triangle inequality the stored mean M̃_k
// is within E_k = ((k−1)/k)·E_{k−1} + e_k of the exact M_k (Frobenius norm over all modules, E_1 = 0).
// A version V computed from G = α·M̃_k + (1−α)·w_n·ΔW_n with discarded part e_V is then within
// e_V + α·E_k of the formula F, and ‖F‖ ≥ ‖G‖ − α·E_k, so the relative error it records,
// (e_V + α·E_k) / (‖G‖ − α·E_k), is an upper bound on ‖F − V‖ / ‖F‖ (exact when E_k = 0).
import { createHash } from 'node:crypto';
import { canonicalJson } from './decide.js';

export type KeyedInput = { digest: string; weight: number };

// The mean of these tasks (oldest first) at this rank always lands on the same prefix.
export function meanKey(inputs: readonly KeyedInput[], meanRank: number): string {
  return createHash('sha256').update(canonicalJson({ mean: inputs.map((i) => [i.digest, i.weight]), meanRank, dtype: 'F32' })).digest('hex').slice(0, 32);
}

export function meanUri(output: string, module: string, key: string): string {
  return `${output.endsWith('/') ? output : `${output}/`}${module}/means/${key}/`;
}

// The commit marker of a mean, beside its prefix; named apart from versions' markers.
export function meanMarkerUri(uri: string): string {
  return `${uri.replace(/\/+$/, '')}.graft-mean.json`;
}

// M_k from M_{k−1} (stored with coefficient `prevCoef`: 1 for a stored mean, w_1 when M_1 is task 1
// itself) and task k with weight w_k.
export function meanUpdateWeights(k: number, prevCoef: number, wk: number): [number, number] {
  if (!(Number.isInteger(k) && k >= 2)) throw new Error(`meanUpdateWeights: k must be an integer ≥ 2, got ${k}`);
  return [(prevCoef * (k - 1)) / k, wk / k];
}

// E_k = ((k−1)/k)·E_{k−1} + e_k.
export function meanErrorBound(k: number, prevBound: number, stepAbsolute: number): number {
  return ((k - 1) / k) * prevBound + stepAbsolute;
}

// The recorded truncation error of a version merged over a mean within `meanBound` of the exact
// one: (e_V + α·E) / (‖G‖ − α·E). Number.MAX_VALUE when the bound says nothing (‖G‖ ≤ α·E).
export function versionErrorBound(step: { absolute: number; norm: number }, alpha: number, meanBound: number): number {
  if (meanBound === 0) return step.norm > 0 ? step.absolute / step.norm : 0;
  const den = step.norm - alpha * meanBound;
  return den > 0 ? (step.absolute + alpha * meanBound) / den : Number.MAX_VALUE;
}
