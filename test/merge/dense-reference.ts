// Straightforward dense reference implementations for the merge tests: they form every matrix in
// full, in float64, with textbook algorithms that share no code with src/merge.
import type { Factors } from '../../src/merge/methods/types.js';

export type Dense = { rows: number; cols: number; d: Float64Array }; // row-major

export function denseOf(rows: number, cols: number, f: (i: number, j: number) => number): Dense {
  const d = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) d[i * cols + j] = f(i, j);
  return { rows, cols, d };
}

export function mul(a: Dense, b: Dense): Dense {
  return denseOf(a.rows, b.cols, (i, j) => {
    let s = 0;
    for (let k = 0; k < a.cols; k++) s += a.d[i * a.cols + k] * b.d[k * b.cols + j];
    return s;
  });
}

export function fromRowMajor(x: Float32Array | Float64Array, rows: number, cols: number): Dense {
  return { rows, cols, d: Float64Array.from(x) };
}

// Σ cᵢ·Bᵢ·Aᵢ
export function weightedSum(fs: readonly Factors[], out: number, inDim: number): Dense {
  const acc = denseOf(out, inDim, () => 0);
  for (const f of fs) {
    const p = mul(fromRowMajor(f.B, out, f.r), fromRowMajor(f.A, f.r, inDim));
    for (let i = 0; i < acc.d.length; i++) acc.d[i] += f.c * p.d[i];
  }
  return acc;
}

export function maxAbsDiff(a: Dense, b: Dense): number {
  let m = 0;
  for (let i = 0; i < a.d.length; i++) m = Math.max(m, Math.abs(a.d[i] - b.d[i]));
  return m;
}

export function maxAbs(a: Dense): number {
  let m = 0;
  for (const v of a.d) m = Math.max(m, Math.abs(v));
  return m;
}

// One-sided Jacobi SVD (Hestenes) of a dense matrix: singular values descending, with U and V.
export function referenceSVD(a: Dense): { s: number[]; u: Dense; v: Dense } {
  const transposed = a.rows < a.cols;
  const m = transposed ? a.cols : a.rows, n = transposed ? a.rows : a.cols;
  const U = denseOf(m, n, (i, j) => (transposed ? a.d[j * a.cols + i] : a.d[i * a.cols + j]));
  const V = denseOf(n, n, (i, j) => (i === j ? 1 : 0));
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let al = 0, be = 0, ga = 0;
        for (let i = 0; i < m; i++) {
          const up = U.d[i * n + p], uq = U.d[i * n + q];
          al += up * up; be += uq * uq; ga += up * uq;
        }
        if (Math.abs(ga) <= 1e-15 * Math.sqrt(al * be) || ga === 0) continue;
        rotated = true;
        const zeta = (be - al) / (2 * ga);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < m; i++) {
          const up = U.d[i * n + p], uq = U.d[i * n + q];
          U.d[i * n + p] = c * up - s * uq; U.d[i * n + q] = s * up + c * uq;
        }
        for (let i = 0; i < n; i++) {
          const vp = V.d[i * n + p], vq = V.d[i * n + q];
          V.d[i * n + p] = c * vp - s * vq; V.d[i * n + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const sig = Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < m; i++) s += U.d[i * n + j] ** 2;
    return Math.sqrt(s);
  });
  const order = sig.map((_, j) => j).sort((x, y) => sig[y] - sig[x]);
  const u = denseOf(m, n, (i, j) => (sig[order[j]] > 0 ? U.d[i * n + order[j]] / sig[order[j]] : 0));
  const v = denseOf(n, n, (i, j) => V.d[i * n + order[j]]);
  const s = order.map((j) => sig[j]);
  return transposed ? { s, u: v, v: u } : { s, u, v };
}

// The best rank-r approximation U_r·Σ_r·V_rᵀ.
export function truncate(a: Dense, r: number): Dense {
  const { s, u, v } = referenceSVD(a);
  return denseOf(a.rows, a.cols, (i, j) => {
    let acc = 0;
    for (let k = 0; k < Math.min(r, s.length); k++) acc += u.d[i * u.cols + k] * s[k] * v.d[j * v.cols + k];
    return acc;
  });
}

// Deterministic pseudo-random numbers for test data (an LCG, unrelated to the engine's PRNG).
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296 - 0.5;
  };
}

export function randomFactors(out: number, inDim: number, ranks: number[], coeffs: number[], seed: number): Factors[] {
  const r = rng(seed);
  return ranks.map((rank, i) => ({
    input: i, r: rank, c: coeffs[i],
    A: Float32Array.from({ length: rank * inDim }, r),
    B: Float32Array.from({ length: out * rank }, r),
  }));
}
