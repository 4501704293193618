// dare (drop and rescale, on each module's delta):
//   τᵢ = cᵢ·Bᵢ·Aᵢ;  τ̃ᵢ,e = τᵢ,e / density with probability density, else 0   (seeded per module
//   and input, so the result does not depend on thread scheduling)
//   ΔW = Σ τ̃ᵢ, or with majoritySign the TIES disjoint merge of the τ̃ᵢ (DARE-TIES)
// then B'·A' = the best rank-r approximation of ΔW (truncated SVD).
import { prng } from '../linalg.js';
import { denseDelta, electAndMerge, hashSeed, refactor, sumPruned } from './dense.js';
import type { MethodParams, ModuleResult, ModuleTask } from './types.js';

export function dareDelta(task: ModuleTask, params: MethodParams): Float32Array {
  const density = params.density ?? 1;
  const seed = params.seed ?? 0;
  const size = task.out * task.in;
  const prune = (i: number, into: Float32Array) => {
    const f = task.factors[i];
    denseDelta(f, task.out, task.in, into);
    if (density >= 1) return;
    const rand = prng(hashSeed('dare', seed, task.module, f.input));
    const inv = 1 / density;
    for (let e = 0; e < size; e++) into[e] = rand() < density ? into[e] * inv : 0;
  };
  return params.majoritySign
    ? electAndMerge(task.factors.length, size, params.majoritySign, prune)
    : sumPruned(task.factors.length, size, prune);
}

export function mergeDare(task: ModuleTask, params: MethodParams): ModuleResult {
  return refactor(task, dareDelta(task, params));
}
