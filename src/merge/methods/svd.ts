// svd (best rank r, never forming ΔW):
//   B_cat = [B_1 … B_n] = Q_B·R_B,   A_catᵀ = [c_1·A_1; …; c_n·A_n]ᵀ = Q_A·R_A   (thin Householder QR)
//   ΔW = B_cat·A_cat = Q_B·(R_B·R_Aᵀ)·Q_Aᵀ;   core K = R_B·R_Aᵀ = U·Σ·Vᵀ   (R × R, R = Σ rᵢ)
//   B' = Q_B·U_r·Σ_r^½,   A' = Σ_r^½·V_rᵀ·Q_Aᵀ
// Q_B and Q_A have orthonormal columns, so ΔW's singular values are K's: the result is the best
// rank-r approximation (Eckart–Young), and the discarded error is √(Σ_{j>r} σ_j²). The scale cᵢ is
// applied exactly once, in A_cat. Cost O((out + in)·R² + R³).
import { householderQR, matmul, qrR, smallSVD, thinQTimes, transpose, zeros } from '../linalg.js';
import { stackAT, stackB, toRowMajorA, toRowMajorB } from './factors.js';
import type { ModuleResult, ModuleTask } from './types.js';

export function mergeSvd(task: ModuleTask): ModuleResult {
  const { out, rank } = task;
  const qb = householderQR(stackB(task.factors, out), true);
  const qa = householderQR(stackAT(task.factors, task.in), true);
  const core = matmul(qrR(qb), transpose(qrR(qa))); // kB × kA
  const keep = Math.min(rank, core.rows, core.cols);
  const { u, s, v, discarded2, total2 } = smallSVD(core, keep);
  const us = zeros(core.rows, keep), vs = zeros(core.cols, keep);
  for (let j = 0; j < keep; j++) {
    const h = Math.sqrt(s[j]);
    for (let i = 0; i < core.rows; i++) us.data[i + j * core.rows] = u.data[i + j * u.rows] * h;
    for (let i = 0; i < core.cols; i++) vs.data[i + j * core.cols] = v.data[i + j * v.rows] * h;
  }
  const B = toRowMajorB(thinQTimes(qb, us), rank);
  const A = toRowMajorA(thinQTimes(qa, vs), rank);
  return { A, B, norm2: total2, error2: discarded2 };
}
