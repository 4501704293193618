// The small amount of dense linear algebra the merge methods need, in float64.
// Every matrix is column-major (element (i, j) at data[i + j * rows]) so that the hot loops of
// Householder QR walk contiguous columns.

export interface Mat {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function zeros(rows: number, cols: number): Mat {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

export function identity(n: number): Mat {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i + i * n] = 1;
  return m;
}

export function transpose(a: Mat): Mat {
  const t = zeros(a.cols, a.rows);
  const { rows, cols, data } = a;
  for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) t.data[j + i * cols] = data[i + j * rows];
  return t;
}

// C = A·B. Loop order j, k, i: the inner loop runs down a column of A and of C.
export function matmul(a: Mat, b: Mat): Mat {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}x${a.cols} by ${b.rows}x${b.cols}`);
  const m = a.rows, n = b.cols, p = a.cols;
  const c = zeros(m, n);
  const A = a.data, B = b.data, C = c.data;
  for (let j = 0; j < n; j++) {
    const cj = j * m;
    for (let k = 0; k < p; k++) {
      const bkj = B[k + j * p];
      if (bkj === 0) continue;
      const ak = k * m;
      for (let i = 0; i < m; i++) C[cj + i] += A[ak + i] * bkj;
    }
  }
  return c;
}

// C = Aᵀ·B without forming Aᵀ: every entry is a dot product of two contiguous columns.
export function matmulTN(a: Mat, b: Mat): Mat {
  if (a.rows !== b.rows) throw new Error(`matmulTN: (${a.rows}x${a.cols})ᵀ by ${b.rows}x${b.cols}`);
  const m = a.rows, n = b.cols, p = a.cols;
  const c = zeros(p, n);
  const A = a.data, B = b.data, C = c.data;
  for (let j = 0; j < n; j++) {
    const bj = j * m;
    for (let k = 0; k < p; k++) {
      const ak = k * m;
      let s = 0;
      for (let i = 0; i < m; i++) s += A[ak + i] * B[bj + i];
      C[k + j * p] = s;
    }
  }
  return c;
}

export function frobenius(a: Mat): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += a.data[i] * a.data[i];
  return Math.sqrt(s);
}

// Thin Householder QR, LAPACK style: reflector k is H_k = I − tau_k·v·vᵀ with v[k] = 1 and the rest
// of v stored below the diagonal of `qr`; R is the upper triangle. A = Q·R with Q = H_0·H_1·…
export interface QR {
  qr: Mat;
  tau: Float64Array;
  k: number; // number of reflectors = min(rows, cols)
}

export function householderQR(a: Mat, inPlace = false): QR {
  const m = a.rows, n = a.cols;
  const A = inPlace ? a.data : a.data.slice();
  const k = Math.min(m, n);
  const tau = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    const col = c * m;
    let tail = 0;
    for (let i = c + 1; i < m; i++) tail += A[col + i] * A[col + i];
    const alpha = A[col + c];
    if (tail === 0) { tau[c] = 0; continue; } // already upper triangular in this column
    const norm = Math.sqrt(alpha * alpha + tail);
    const beta = alpha >= 0 ? -norm : norm;
    const scale = 1 / (alpha - beta);
    for (let i = c + 1; i < m; i++) A[col + i] *= scale;
    const t = (beta - alpha) / beta;
    tau[c] = t;
    A[col + c] = beta;
    reflect(A, m, col, c, t, A, c + 1, n);
  }
  return { qr: { rows: m, cols: n, data: A }, tau, k };
}

// Applies H = I − t·v·vᵀ (v = [1; V[vcol + c + 1 …]] from row c down) to columns j0 … j1 − 1 of the
// column-major X (rows m): x_j −= t·v·(vᵀx_j). Four columns at a time, so v is read once per four
// columns and the four running sums stay in registers.
function reflect(V: Float64Array, m: number, vcol: number, c: number, t: number, X: Float64Array, j0: number, j1: number): void {
  let j = j0;
  for (; j + 7 < j1; j += 8) {
    const c0 = j * m, c1 = c0 + m, c2 = c1 + m, c3 = c2 + m, c4 = c3 + m, c5 = c4 + m, c6 = c5 + m, c7 = c6 + m;
    let s0 = X[c0 + c], s1 = X[c1 + c], s2 = X[c2 + c], s3 = X[c3 + c];
    let s4 = X[c4 + c], s5 = X[c5 + c], s6 = X[c6 + c], s7 = X[c7 + c];
    for (let i = c + 1; i < m; i++) {
      const v = V[vcol + i];
      s0 += v * X[c0 + i]; s1 += v * X[c1 + i]; s2 += v * X[c2 + i]; s3 += v * X[c3 + i];
      s4 += v * X[c4 + i]; s5 += v * X[c5 + i]; s6 += v * X[c6 + i]; s7 += v * X[c7 + i];
    }
    s0 *= t; s1 *= t; s2 *= t; s3 *= t; s4 *= t; s5 *= t; s6 *= t; s7 *= t;
    X[c0 + c] -= s0; X[c1 + c] -= s1; X[c2 + c] -= s2; X[c3 + c] -= s3;
    X[c4 + c] -= s4; X[c5 + c] -= s5; X[c6 + c] -= s6; X[c7 + c] -= s7;
    for (let i = c + 1; i < m; i++) {
      const v = V[vcol + i];
      X[c0 + i] -= s0 * v; X[c1 + i] -= s1 * v; X[c2 + i] -= s2 * v; X[c3 + i] -= s3 * v;
      X[c4 + i] -= s4 * v; X[c5 + i] -= s5 * v; X[c6 + i] -= s6 * v; X[c7 + i] -= s7 * v;
    }
  }
  for (; j + 3 < j1; j += 4) {
    const c0 = j * m, c1 = c0 + m, c2 = c1 + m, c3 = c2 + m;
    let s0 = X[c0 + c], s1 = X[c1 + c], s2 = X[c2 + c], s3 = X[c3 + c];
    for (let i = c + 1; i < m; i++) {
      const v = V[vcol + i];
      s0 += v * X[c0 + i]; s1 += v * X[c1 + i]; s2 += v * X[c2 + i]; s3 += v * X[c3 + i];
    }
    s0 *= t; s1 *= t; s2 *= t; s3 *= t;
    X[c0 + c] -= s0; X[c1 + c] -= s1; X[c2 + c] -= s2; X[c3 + c] -= s3;
    for (let i = c + 1; i < m; i++) {
      const v = V[vcol + i];
      X[c0 + i] -= s0 * v; X[c1 + i] -= s1 * v; X[c2 + i] -= s2 * v; X[c3 + i] -= s3 * v;
    }
  }
  for (; j < j1; j++) {
    const cj = j * m;
    let s = X[cj + c];
    for (let i = c + 1; i < m; i++) s += V[vcol + i] * X[cj + i];
    s *= t;
    X[cj + c] -= s;
    for (let i = c + 1; i < m; i++) X[cj + i] -= s * V[vcol + i];
  }
}

// The k × cols upper-trapezoidal R of a QR.
export function qrR(f: QR): Mat {
  const { rows: m, cols: n, data } = f.qr;
  const r = zeros(f.k, n);
  for (let j = 0; j < n; j++) for (let i = 0; i <= Math.min(j, f.k - 1); i++) r.data[i + j * f.k] = data[i + j * m];
  return r;
}

// Q·X for X with `rows` = the QR's row count (rows past k hold the part of X outside Q's range,
// zero for the thin product Q_thin·X_top). X is overwritten.
export function applyQ(f: QR, x: Mat): Mat {
  const m = f.qr.rows;
  if (x.rows !== m) throw new Error(`applyQ: X has ${x.rows} rows, Q has ${m}`);
  const V = f.qr.data, X = x.data;
  for (let c = f.k - 1; c >= 0; c--) {
    const t = f.tau[c];
    if (t !== 0) reflect(V, m, c * m, c, t, X, 0, x.cols);
  }
  return x;
}

// Q_thin·Y for a k × p matrix Y: pads Y with zero rows, then applies the reflectors.
export function thinQTimes(f: QR, y: Mat): Mat {
  if (y.rows !== f.k) throw new Error(`thinQTimes: Y has ${y.rows} rows, Q has ${f.k} columns`);
  const x = zeros(f.qr.rows, y.cols);
  for (let j = 0; j < y.cols; j++) x.data.set(y.data.subarray(j * y.rows, (j + 1) * y.rows), j * f.qr.rows);
  return applyQ(f, x);
}

// Eigen-decomposition of a symmetric matrix: Householder tridiagonalisation, then implicit QR
// steps with Wilkinson shifts (Golub & Van Loan §8.3). Values descending, vectors as columns.
export function symmetricEigen(s: Mat): { values: Float64Array; vectors: Mat } {
  const n = s.rows;
  if (s.cols !== n) throw new Error('symmetricEigen: matrix is not square');
  const A = s.data.slice();
  const Q = identity(n);
  const q = Q.data;
  const v = new Float64Array(n), p = new Float64Array(n), w = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // Reflector that zeroes A[k+2.., k].
    const len = n - k - 1;
    let tail = 0;
    for (let i = k + 2; i < n; i++) tail += A[i + k * n] * A[i + k * n];
    if (tail === 0) continue;
    const alpha = A[k + 1 + k * n];
    const norm = Math.sqrt(alpha * alpha + tail);
    const beta = alpha >= 0 ? -norm : norm;
    const scale = 1 / (alpha - beta);
    v[0] = 1;
    for (let i = 1; i < len; i++) v[i] = A[k + 1 + i + k * n] * scale;
    const t = (beta - alpha) / beta;
    // p = t·A₂₂·v, w = p − (t·pᵀv/2)·v, A₂₂ −= v·wᵀ + w·vᵀ
    for (let i = 0; i < len; i++) p[i] = 0;
    for (let j = 0; j < len; j++) {
      const vj = v[j];
      const cj = (k + 1 + j) * n + k + 1;
      for (let i = 0; i < len; i++) p[i] += A[cj + i] * vj;
    }
    let pv = 0;
    for (let i = 0; i < len; i++) { p[i] *= t; pv += p[i] * v[i]; }
    const half = (t * pv) / 2;
    for (let i = 0; i < len; i++) w[i] = p[i] - half * v[i];
    for (let j = 0; j < len; j++) {
      const cj = (k + 1 + j) * n + k + 1;
      const vj = v[j], wj = w[j];
      for (let i = 0; i < len; i++) A[cj + i] -= v[i] * wj + w[i] * vj;
    }
    A[k + 1 + k * n] = beta;
    A[k + (k + 1) * n] = beta;
    for (let i = k + 2; i < n; i++) { A[i + k * n] = 0; A[k + i * n] = 0; }
    // Q[:, k+1..] = Q[:, k+1..]·(I − t·v·vᵀ)
    for (let r = 0; r < n; r++) {
      let d = 0;
      for (let j = 0; j < len; j++) d += q[r + (k + 1 + j) * n] * v[j];
      d *= t;
      if (d === 0) continue;
      for (let j = 0; j < len; j++) q[r + (k + 1 + j) * n] -= d * v[j];
    }
  }
  const d = new Float64Array(n), e = new Float64Array(Math.max(n - 1, 0));
  for (let i = 0; i < n; i++) d[i] = A[i + i * n];
  for (let i = 0; i < n - 1; i++) e[i] = A[i + 1 + i * n];
  tridiagonalQR(d, e, Q);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x]);
  const values = new Float64Array(n);
  const vectors = zeros(n, n);
  order.forEach((src, dst) => {
    values[dst] = d[src];
    vectors.data.set(q.subarray(src * n, (src + 1) * n), dst * n);
  });
  return { values, vectors };
}

// Givens (c, s) with [c s; −s c]ᵀ·[a; b] = [r; 0].
function givens(a: number, b: number): [number, number] {
  if (b === 0) return [1, 0];
  if (Math.abs(b) > Math.abs(a)) {
    const t = -a / b;
    const s = 1 / Math.sqrt(1 + t * t);
    return [s * t, s];
  }
  const t = -b / a;
  const c = 1 / Math.sqrt(1 + t * t);
  return [c, c * t];
}

// Diagonalises the symmetric tridiagonal (d, e) in place, accumulating rotations into Z's columns.
function tridiagonalQR(d: Float64Array, e: Float64Array, Z: Mat): void {
  const n = d.length;
  const z = Z.data, zr = Z.rows;
  const eps = 2.220446049250313e-16;
  for (let iter = 0; iter < 60 * n + 100; iter++) {
    for (let i = 0; i < n - 1; i++) {
      if (Math.abs(e[i]) <= eps * (Math.abs(d[i]) + Math.abs(d[i + 1]))) e[i] = 0;
    }
    let m = n - 1;
    while (m > 0 && e[m - 1] === 0) m--;
    if (m === 0) return;
    let l = m - 1;
    while (l > 0 && e[l - 1] !== 0) l--;
    // Wilkinson shift from the trailing 2 × 2 of the block l..m.
    const delta = (d[m - 1] - d[m]) / 2;
    const b = e[m - 1];
    const sgn = delta >= 0 ? 1 : -1;
    const mu = d[m] - (b * b) / (delta + sgn * Math.hypot(delta, b));
    let x = d[l] - mu;
    let y = e[l];
    for (let k = l; k < m; k++) {
      const [c, s] = givens(x, y);
      if (k > l) e[k - 1] = c * x - s * y;
      const dk = d[k], dk1 = d[k + 1], ek = e[k];
      d[k] = c * c * dk - 2 * c * s * ek + s * s * dk1;
      d[k + 1] = s * s * dk + 2 * c * s * ek + c * c * dk1;
      e[k] = c * s * (dk - dk1) + (c * c - s * s) * ek;
      if (k < m - 1) {
        y = -s * e[k + 1];
        e[k + 1] = c * e[k + 1];
        x = e[k];
      }
      const ck = k * zr, ck1 = (k + 1) * zr;
      for (let i = 0; i < zr; i++) {
        const a = z[ck + i], bb = z[ck1 + i];
        z[ck + i] = c * a - s * bb;
        z[ck1 + i] = s * a + c * bb;
      }
    }
  }
  throw new Error('symmetricEigen: no convergence');
}

// Singular value decomposition of a small matrix K (m × n) through the eigenvectors of the
// smaller Gram matrix. σ_j is measured as ‖K·v_j‖ (or ‖Kᵀ·u_j‖), which stays accurate for small
// singular values where √λ would not. Returns the top `keep` triplets and Σ of the rest's σ².
export function smallSVD(k: Mat, keep: number): { u: Mat; s: Float64Array; v: Mat; discarded2: number; total2: number } {
  const wide = k.rows < k.cols;
  const kt = wide ? transpose(k) : k;
  const g = matmulTN(kt, kt); // the smaller Gram matrix: KᵀK, or K·Kᵀ for a wide K
  const { values, vectors } = symmetricEigen(g);
  const n = g.rows;
  const r = Math.min(keep, n);
  const total2 = frobenius(k) ** 2;
  let discarded2 = 0;
  for (let j = r; j < n; j++) discarded2 += Math.max(values[j], 0);
  const small = zeros(n, r); // the r leading eigenvectors
  small.data.set(vectors.data.subarray(0, n * r));
  // For a tall K the eigenvectors are right vectors V; the left ones are K·V/σ. For a wide K they
  // are left vectors U; the right ones are Kᵀ·U/σ.
  const other = wide ? matmulTN(k, small) : matmul(k, small);
  const s = new Float64Array(r);
  for (let j = 0; j < r; j++) {
    let nn = 0;
    const col = other.data.subarray(j * other.rows, (j + 1) * other.rows);
    for (let i = 0; i < col.length; i++) nn += col[i] * col[i];
    const sig = Math.sqrt(nn);
    s[j] = sig;
    if (sig > 0) for (let i = 0; i < col.length; i++) col[i] /= sig;
  }
  return wide ? { u: small, s, v: other, discarded2, total2 } : { u: other, s, v: small, discarded2, total2 };
}

// A deterministic pseudo-random stream (mulberry32) for start vectors and DARE masks.
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Y (rows × k, row-major) = M·X for a row-major dense M and X (cols × k, row-major). Zero entries of M
// (common after sparsification) are skipped.
function denseTimes(M: Float32Array, rows: number, cols: number, X: Float64Array, k: number): Float64Array {
  const Y = new Float64Array(rows * k);
  for (let i = 0; i < rows; i++) {
    const yi = i * k, mi = i * cols;
    for (let l = 0; l < cols; l++) {
      const a = M[mi + l];
      if (a === 0) continue;
      const xl = l * k;
      for (let j = 0; j < k; j++) Y[yi + j] += a * X[xl + j];
    }
  }
  return Y;
}

// Z (cols × k, row-major) = Mᵀ·Y for Y (rows × k, row-major).
function denseTransposeTimes(M: Float32Array, rows: number, cols: number, Y: Float64Array, k: number): Float64Array {
  const Z = new Float64Array(cols * k);
  for (let i = 0; i < rows; i++) {
    const yi = i * k, mi = i * cols;
    for (let l = 0; l < cols; l++) {
      const a = M[mi + l];
      if (a === 0) continue;
      const zl = l * k;
      for (let j = 0; j < k; j++) Z[zl + j] += a * Y[yi + j];
    }
  }
  return Z;
}

function rowMajorToMat(x: Float64Array, rows: number, k: number): Mat {
  const m = zeros(rows, k);
  for (let i = 0; i < rows; i++) for (let j = 0; j < k; j++) m.data[i + j * rows] = x[i * k + j];
  return m;
}

function matToRowMajor(m: Mat): Float64Array {
  const x = new Float64Array(m.rows * m.cols);
  for (let j = 0; j < m.cols; j++) for (let i = 0; i < m.rows; i++) x[i * m.cols + j] = m.data[i + j * m.rows];
  return x;
}

// Orthonormal basis (explicit Q) of the columns of a row-major rows × k matrix, returned row-major.
function orthonormalRows(x: Float64Array, rows: number, k: number): { q: Float64Array; r: Mat } {
  const f = householderQR(rowMajorToMat(x, rows, k), true);
  return { q: matToRowMajor(thinQTimes(f, identity(f.k))), r: qrR(f) };
}

// Near-best rank-`rank` factors of a dense row-major matrix M (rows × cols) without forming MᵀM or
// M·Mᵀ: randomized block subspace iteration with rank + 8 (at least 2·rank) vectors, until a round
// improves the captured energy Σ_{j≤r} σ_j² by less than 1e-4 of the remaining error (or 20
// rounds); exact at once when the block spans M. The error reported, ‖M‖² − Σ kept σ², is exact for
// the factors returned, whatever the convergence. Returns B (rows × rank) and A (rank × cols).
export function truncatedSVDDense(M: Float32Array, rows: number, cols: number, rank: number, seed: number):
  { A: Float32Array; B: Float32Array; norm2: number; error2: number } {
  let norm2 = 0;
  for (let i = 0; i < M.length; i++) norm2 += M[i] * M[i];
  const k = Math.min(Math.max(rank + 8, 2 * rank), rows, cols);
  const rand = prng(seed);
  const X = new Float64Array(cols * k);
  for (let i = 0; i < X.length; i++) X[i] = rand() - 0.5;
  let q = orthonormalRows(denseTimes(M, rows, cols, X, k), rows, k).q;
  let prev = -1;
  let z!: { q: Float64Array; r: Mat };
  for (let round = 0; round < 20; round++) {
    z = orthonormalRows(denseTransposeTimes(M, rows, cols, q, k), cols, k); // MᵀQ = Q_Z·R_Z
    const captured = smallSVD(transpose(z.r), Math.min(rank, k)).s.reduce((acc, s) => acc + s * s, 0);
    const settled = prev >= 0 && captured - prev <= 1e-4 * Math.max(norm2 - captured, 0) + 1e-12 * norm2;
    prev = captured;
    if (settled || k === Math.min(rows, cols)) break;
    q = orthonormalRows(denseTimes(M, rows, cols, z.q, k), rows, k).q;
  }
  // M ≈ Q·Qᵀ·M = Q·(MᵀQ)ᵀ = Q·R_Zᵀ·Q_Zᵀ; SVD of the small R_Zᵀ = U·Σ·Vᵀ.
  const keep = Math.min(rank, k);
  const { u, s, v } = smallSVD(transpose(z.r), keep);
  const B = new Float32Array(rows * rank);
  const A = new Float32Array(rank * cols);
  let kept2 = 0;
  for (let j = 0; j < keep; j++) {
    const h = Math.sqrt(s[j]);
    kept2 += s[j] * s[j];
    for (let i = 0; i < rows; i++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += q[i * k + t] * u.data[t + j * k];
      B[i * rank + j] = acc * h;
    }
    for (let l = 0; l < cols; l++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += z.q[l * k + t] * v.data[t + j * k];
      A[j * cols + l] = acc * h;
    }
  }
  return { A, B, norm2, error2: Math.max(norm2 - kept2, 0) };
}
