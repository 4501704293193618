// A weight-space novelty score: how little a task adapter's low-rank update overlaps a module's.
// It stands in for SEMA's distribution-shift score when the training job gave none. A heuristic,
// not SEMA's statistic: it looks only at the factors, never at data.
//
// For one target module with ΔW = B·A, the update acts on the row space of A (span of Aᵀ, in the
// input space) and writes into the column space of B (in the output space). With orthonormal bases
// Q_X, Q_Y of two such subspaces, the overlap ‖Q_Xᵀ·Q_Y‖²_F / min(rank X, rank Y) is the mean
// squared cosine of their principal angles: 1 when one contains the other, 0 when orthogonal.
// A module's novelty is 1 − the mean of its column-space and row-space overlaps, and an adapter's
// novelty is the mean over the target modules both adapters have, so it lies in [0, 1]:
//   0   the same subspaces (a copy, or a scaled copy: scale does not change a span);
//   ~1  unrelated updates (random rank-r subspaces of an n-dimensional space overlap about r/n);
//   1   no target module in common.
// Cost: one thin Householder QR per factor, O((out + in)·r²) per module, on factors already read
// (for a 7B model with rank 16 on q/k/v/o of 32 layers, well under a second).
import type { S3Client } from '@aws-sdk/client-s3';
import { householderQR, matmulTN, qrR, thinQTimes, zeros, identity, type Mat } from './linalg.js';
import { openStore } from './locations.js';
import { describeAdapter } from './peft/adapter.js';
import { parsePeftConfig } from './peft/config.js';
import { decodeFloats, type FloatDtype } from './safetensors/dtype.js';
import { readHeader } from './safetensors/reader.js';
import { CONFIG_FILE, WEIGHTS_FILE } from './store.js';

export interface ModuleFactors {
  r: number;
  out: number;
  in: number;
  A: Float32Array; // r × in, row-major
  B: Float32Array; // out × r, row-major
}

// An orthonormal basis (n × k, column-major) of the span of X's columns, leaving out directions
// whose R diagonal is negligible (a rank-deficient factor).
function orthonormalBasis(x: Mat): Mat {
  const f = householderQR(x);
  const r = qrR(f);
  const diag = Array.from({ length: f.k }, (_, i) => Math.abs(r.data[i + i * f.k]));
  const tol = Math.max(...diag, 0) * 1e-6;
  const q = thinQTimes(f, identity(f.k));
  const keep = diag.map((d, i) => (d > tol ? i : -1)).filter((i) => i >= 0);
  const out = zeros(x.rows, keep.length);
  keep.forEach((c, j) => out.data.set(q.data.subarray(c * x.rows, (c + 1) * x.rows), j * x.rows));
  return out;
}

// Mean squared cosine of the principal angles between span(X) and span(Y), in [0, 1].
export function subspaceOverlap(x: Mat, y: Mat): number {
  const qx = orthonormalBasis(x), qy = orthonormalBasis(y);
  const k = Math.min(qx.cols, qy.cols);
  if (k === 0) return 0;
  const c = matmulTN(qx, qy);
  let s = 0;
  for (const v of c.data) s += v * v;
  return Math.min(1, s / k);
}

// Aᵀ (in × r) and B (out × r) as column-major matrices.
function rowSpace(f: ModuleFactors): Mat {
  return { rows: f.in, cols: f.r, data: Float64Array.from(f.A) }; // row j of A is column j of Aᵀ
}
function colSpace(f: ModuleFactors): Mat {
  const m = zeros(f.out, f.r);
  for (let i = 0; i < f.out; i++) for (let j = 0; j < f.r; j++) m.data[i + j * f.out] = f.B[i * f.r + j];
  return m;
}

export function moduleNovelty(a: ModuleFactors, b: ModuleFactors): number {
  if (a.out !== b.out || a.in !== b.in) return 1; // different layers: nothing in common
  const overlap = (subspaceOverlap(colSpace(a), colSpace(b)) + subspaceOverlap(rowSpace(a), rowSpace(b))) / 2;
  return Math.max(0, Math.min(1, 1 - overlap));
}

export interface NoveltyScore {
  score: number; // in [0, 1]
  sharedModules: number;
}

export function adapterNovelty(task: ReadonlyMap<string, ModuleFactors>, module: ReadonlyMap<string, ModuleFactors>): NoveltyScore {
  let sum = 0, n = 0;
  for (const [name, f] of task) {
    const g = module.get(name);
    if (!g) continue;
    sum += moduleNovelty(f, g);
    n++;
  }
  return { score: n === 0 ? 1 : sum / n, sharedModules: n };
}

// Every LoRA module's factors of the adapter at `where` (a folder or s3:// prefix).
export async function readFactors(where: string, s3?: S3Client): Promise<Map<string, ModuleFactors>> {
  const store = openStore(where, 'adapter', s3);
  try {
    const config = parsePeftConfig(await store.readText(CONFIG_FILE), where);
    const src = await store.open(WEIGHTS_FILE);
    try {
      const header = await readHeader(src);
      const layout = describeAdapter(config, header, where);
      const out = new Map<string, ModuleFactors>();
      for (const m of layout.modules.values()) {
        const read = async (t: typeof m.a) => decodeFloats(await src.read(header.dataStart + t.begin, t.end - t.begin), t.dtype as FloatDtype);
        out.set(m.module, { r: m.rank, out: m.out, in: m.in, A: await read(m.a), B: await read(m.b) });
      }
      return out;
    } finally {
      await src.close();
    }
  } finally {
    await store.close();
  }
}
