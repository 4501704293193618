// Helpers shared by the factor-level methods: stacking factors, and norms of low-rank products
// computed from small Gram matrices, so no method ever forms an out × in matrix to measure it.
import { zeros, type Mat } from '../linalg.js';
import type { Factors } from './types.js';

// [B_1 … B_n] as a column-major out × R matrix (float64).
export function stackB(fs: readonly Factors[], out: number): Mat {
  const R = fs.reduce((s, f) => s + f.r, 0);
  const m = zeros(out, R);
  let off = 0;
  for (const f of fs) {
    for (let j = 0; j < f.r; j++) {
      const col = (off + j) * out;
      for (let o = 0; o < out; o++) m.data[col + o] = f.B[o * f.r + j];
    }
    off += f.r;
  }
  return m;
}

// [c_1·A_1; …; c_n·A_n]ᵀ as a column-major in × R matrix: row j of A_i is column j.
export function stackAT(fs: readonly Factors[], inDim: number): Mat {
  const R = fs.reduce((s, f) => s + f.r, 0);
  const m = zeros(inDim, R);
  let off = 0;
  for (const f of fs) {
    for (let j = 0; j < f.r; j++) {
      const col = (off + j) * inDim;
      for (let l = 0; l < inDim; l++) m.data[col + l] = f.c * f.A[j * inDim + l];
    }
    off += f.r;
  }
  return m;
}

// Gram matrix XᵀX of a column-major matrix.
function gram(x: Mat): Float64Array {
  const n = x.cols, m = x.rows, d = x.data;
  const g = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = a; b < n; b++) {
      let s = 0;
      const ca = a * m, cb = b * m;
      for (let i = 0; i < m; i++) s += d[ca + i] * d[cb + i];
      g[a * n + b] = s;
      g[b * n + a] = s;
    }
  }
  return g;
}

// ‖B·Aᵀᵀ‖²_F = trace((BᵀB)(AᵀA)) for B (out × R) and AT (in × R), both column-major.
export function lowRankNorm2(b: Mat, at: Mat): number {
  const gb = gram(b), ga = gram(at);
  let s = 0;
  for (let i = 0; i < gb.length; i++) s += gb[i] * ga[i];
  return Math.max(s, 0);
}

// Copies a column-major out × k matrix into the first k columns of a row-major out × rank array.
export function toRowMajorB(m: Mat, rank: number): Float32Array {
  const out = new Float32Array(m.rows * rank);
  const k = Math.min(m.cols, rank);
  for (let j = 0; j < k; j++) {
    const col = j * m.rows;
    for (let o = 0; o < m.rows; o++) out[o * rank + j] = m.data[col + o];
  }
  return out;
}

// Copies a column-major in × k matrix (Aᵀ) into the first k rows of a row-major rank × in array.
export function toRowMajorA(at: Mat, rank: number): Float32Array {
  const out = new Float32Array(rank * at.rows);
  const k = Math.min(at.cols, rank);
  for (let j = 0; j < k; j++) out.set(at.data.subarray(j * at.rows, (j + 1) * at.rows), j * at.rows);
  return out;
}
