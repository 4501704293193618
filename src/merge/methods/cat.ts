// cat (exact): ΔW = Σ cᵢ·Bᵢ·Aᵢ = [B_1 … B_n]·[c_1·A_1; …; c_n·A_n]
//   B' = [B_1 … B_n]   (out × Σrᵢ),   A' = [c_1·A_1; …; c_n·A_n]   (Σrᵢ × in)
// The rank is the sum of the input ranks; nothing is lost.
import type { ModuleResult, ModuleTask } from './types.js';

export function catRank(task: Pick<ModuleTask, 'factors'>): number {
  return task.factors.reduce((s, f) => s + f.r, 0);
}

export function mergeCat(task: ModuleTask): ModuleResult {
  const R = catRank(task);
  if (task.rank < R) throw new Error(`cat: module ${task.module} needs rank ${R}, output rank is ${task.rank}`);
  const { out, rank } = task;
  const inDim = task.in;
  const A = new Float32Array(rank * inDim);
  const B = new Float32Array(out * rank);
  let off = 0;
  for (const f of task.factors) {
    for (let o = 0; o < out; o++) for (let j = 0; j < f.r; j++) B[o * rank + off + j] = f.B[o * f.r + j];
    for (let j = 0; j < f.r; j++) {
      const src = j * inDim, dst = (off + j) * inDim;
      for (let l = 0; l < inDim; l++) A[dst + l] = f.c * f.A[src + l];
    }
    off += f.r;
  }
  return { A, B, norm2: NaN, error2: 0 };
}
