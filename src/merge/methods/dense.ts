// Shared machinery of the entry-wise methods (ties, dare), which must look at each module's dense
// delta. Memory stays bounded by one module: task deltas are recomputed from their factors when
// needed again instead of being kept side by side.
import { truncatedSVDDense } from '../linalg.js';
import type { Factors, MajoritySign, ModuleResult, ModuleTask } from './types.js';

// target = c·B·A (out × in, row-major float32), each row accumulated in float64.
export function denseDelta(f: Factors, out: number, inDim: number, target: Float32Array): void {
  const row = new Float64Array(inDim);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (let j = 0; j < f.r; j++) {
      const b = f.c * f.B[o * f.r + j];
      if (b === 0) continue;
      const aj = j * inDim;
      for (let l = 0; l < inDim; l++) row[l] += b * f.A[aj + l];
    }
    target.set(row, o * inDim);
  }
}

// Keeps the k entries of largest magnitude: every entry above the threshold, and the first
// `equalKept` entries equal to it (in index order, so the choice is deterministic). Found by a
// two-pass radix select on the bits of |x|, which order like the magnitudes do.
export interface TopK { key: number; equalKept: number; k: number }

export function selectTopK(x: Float32Array, k: number): TopK {
  const n = x.length;
  if (k <= 0) return { key: 0x7fffffff, equalKept: 0, k: 0 };
  if (k >= n) return { key: 0, equalKept: n, k: n };
  const bits = new Uint32Array(x.buffer, x.byteOffset, n);
  const hi = new Float64Array(32768);
  for (let i = 0; i < n; i++) hi[(bits[i] & 0x7fffffff) >>> 16]++;
  let above = 0, top = 32767;
  while (above + hi[top] < k) above += hi[top--];
  const lo = new Float64Array(65536);
  for (let i = 0; i < n; i++) {
    const key = bits[i] & 0x7fffffff;
    if (key >>> 16 === top) lo[key & 0xffff]++;
  }
  let low = 65535;
  while (above + lo[low] < k) above += lo[low--];
  return { key: (top << 16) | low, equalKept: k - above, k };
}

// Zeroes every entry outside the top k, in place.
export function applyTopK(x: Float32Array, t: TopK): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  let equal = 0;
  for (let i = 0; i < x.length; i++) {
    const key = bits[i] & 0x7fffffff;
    if (key > t.key) continue;
    if (key === t.key && equal < t.equalKept) { equal++; continue; }
    x[i] = 0;
  }
}

// TIES' disjoint merge of pruned task deltas: elect a sign per entry (total: sign of the sum;
// frequency: sign of the sum of signs; ties go to +, as in PEFT), then average the entries whose
// sign agrees with it. `pruned(i, into)` writes task i's pruned, weighted delta and must be
// deterministic, since it is called twice per task.
export function electAndMerge(n: number, size: number, sign: MajoritySign, pruned: (i: number, into: Float32Array) => void): Float32Array {
  const scratch = new Float32Array(size);
  const acc = new Float32Array(size);
  for (let i = 0; i < n; i++) {
    pruned(i, scratch);
    if (sign === 'total') for (let e = 0; e < size; e++) acc[e] += scratch[e];
    else for (let e = 0; e < size; e++) acc[e] += Math.sign(scratch[e]);
  }
  const elected = new Int8Array(size);
  for (let e = 0; e < size; e++) elected[e] = acc[e] >= 0 ? 1 : -1;
  const count = new Uint16Array(size);
  acc.fill(0);
  for (let i = 0; i < n; i++) {
    pruned(i, scratch);
    for (let e = 0; e < size; e++) {
      const v = scratch[e];
      if (v !== 0 && Math.sign(v) === elected[e]) { acc[e] += v; count[e]++; }
    }
  }
  for (let e = 0; e < size; e++) if (count[e] > 1) acc[e] /= count[e];
  return acc;
}

// Plain sum of pruned task deltas (DARE without sign election).
export function sumPruned(n: number, size: number, pruned: (i: number, into: Float32Array) => void): Float32Array {
  const scratch = new Float32Array(size);
  const acc = new Float32Array(size);
  for (let i = 0; i < n; i++) {
    pruned(i, scratch);
    for (let e = 0; e < size; e++) acc[e] += scratch[e];
  }
  return acc;
}

// FNV-1a of a string: per-module, per-input seeds that do not depend on scheduling order.
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// Re-factors a merged dense delta to the task's rank with a truncated SVD. The reported error is
// what the truncation drops from that merged delta.
export function refactor(task: ModuleTask, merged: Float32Array): ModuleResult {
  const r = truncatedSVDDense(merged, task.out, task.in, task.rank, hashSeed('refactor', task.module));
  return { A: r.A, B: r.B, norm2: r.norm2, error2: r.error2 };
}
