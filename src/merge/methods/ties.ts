// ties (TIES-merging, on each module's delta):
//   τᵢ = cᵢ·Bᵢ·Aᵢ;  τ̂ᵢ = τᵢ with all but its top ⌊density·out·in⌋ entries by magnitude set to 0
//   γ = sign(Σ τ̂ᵢ) (total) or sign(Σ sign(τ̂ᵢ)) (frequency), per entry, 0 counting as +
//   ΔW_e = Σ_{i: sign(τ̂ᵢ,e) = γ_e} τ̂ᵢ,e / #{i: sign(τ̂ᵢ,e) = γ_e}
// then B'·A' = the best rank-r approximation of ΔW (truncated SVD). Exact only when ΔW's rank fits.
import { applyTopK, denseDelta, electAndMerge, refactor, selectTopK, type TopK } from './dense.js';
import type { MethodParams, ModuleResult, ModuleTask } from './types.js';

export function tiesDelta(task: ModuleTask, params: MethodParams): Float32Array {
  const density = params.density ?? 1;
  const size = task.out * task.in;
  const k = Math.floor(density * size);
  const cuts: TopK[] = [];
  return electAndMerge(task.factors.length, size, params.majoritySign ?? 'total', (i, into) => {
    denseDelta(task.factors[i], task.out, task.in, into);
    cuts[i] ??= selectTopK(into, k);
    applyTopK(into, cuts[i]);
  });
}

export function mergeTies(task: ModuleTask, params: MethodParams): ModuleResult {
  return refactor(task, tiesDelta(task, params));
}
