// linear (PEFT's factor-level approximation; every input must have the same rank):
//   A' = Σ sign(cᵢ)·√|cᵢ|·Aᵢ,   B' = Σ √|cᵢ|·Bᵢ
// B'·A' = Σ cᵢ·Bᵢ·Aᵢ + Σ_{i≠j} ±√|cᵢ·cⱼ|·Bᵢ·Aⱼ: the cross terms make it approximate (exact only for
// one input). The error against the exact sum is measured in factor space and reported.
import { zeros } from '../linalg.js';
import { lowRankNorm2, stackAT, stackB } from './factors.js';
import type { ModuleResult, ModuleTask } from './types.js';

export function mergeLinear(task: ModuleTask): ModuleResult {
  const r = task.factors[0].r;
  for (const f of task.factors) {
    if (f.r !== r) throw new Error(`linear: module ${task.module} has ranks ${task.factors.map((x) => x.r).join(', ')}; linear needs equal ranks (use svd or cat)`);
  }
  if (task.rank < r) throw new Error(`linear: module ${task.module} has rank ${r}, output rank is ${task.rank}`);
  const { out, rank } = task;
  const inDim = task.in;
  const A = new Float32Array(rank * inDim);
  const B = new Float32Array(out * rank);
  const a64 = new Float64Array(r * inDim), b64 = new Float64Array(out * r);
  for (const f of task.factors) {
    const w = Math.sqrt(Math.abs(f.c));
    const wa = f.c < 0 ? -w : w;
    for (let i = 0; i < a64.length; i++) a64[i] += wa * f.A[i];
    for (let i = 0; i < b64.length; i++) b64[i] += w * f.B[i];
  }
  for (let j = 0; j < r; j++) for (let l = 0; l < inDim; l++) A[j * inDim + l] = a64[j * inDim + l];
  for (let o = 0; o < out; o++) for (let j = 0; j < r; j++) B[o * rank + j] = b64[o * r + j];

  // ‖B'A' − ΔW‖² as the norm of one low-rank product: [B', B_cat]·[A'; −A_cat].
  const exactB = stackB(task.factors, out), exactAT = stackAT(task.factors, inDim);
  const R = exactB.cols;
  const eb = zeros(out, r + R), eat = zeros(inDim, r + R);
  for (let j = 0; j < r; j++) {
    for (let o = 0; o < out; o++) eb.data[o + j * out] = b64[o * r + j];
    for (let l = 0; l < inDim; l++) eat.data[l + j * inDim] = a64[j * inDim + l];
  }
  eb.data.set(exactB.data, r * out);
  for (let i = 0; i < exactAT.data.length; i++) eat.data[r * inDim + i] = -exactAT.data[i];
  return { A, B, norm2: lowRankNorm2(exactB, exactAT), error2: lowRankNorm2(eb, eat) };
}
