// Test data for the AdapterSet tests: the real fixtures uploaded to S3, a scaled copy (every
// lora_B × k, so the same subspaces), and the dense formula the merged versions must equal.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { decodeFloats, encodeFloats } from '../../src/merge/safetensors/dtype.js';
import { readHeader } from '../../src/merge/safetensors/reader.js';
import { BufferSource } from '../../src/merge/safetensors/source.js';
import { readFactors } from '../../src/merge/novelty.js';
import { getObjectBytes, putObject } from '../../src/storage/s3-objects.js';
import { denseOf, fromRowMajor, mul, type Dense } from '../merge/dense-reference.js';

export async function scaleB(weights: Buffer, k: number): Promise<Buffer> {
  const out = Buffer.from(weights);
  const h = await readHeader(new BufferSource('copy', out));
  for (const t of h.tensors) {
    if (!t.name.includes('lora_B') || t.dtype !== 'F32') continue;
    const at = h.dataStart + t.begin;
    const v = decodeFloats(out.subarray(at, h.dataStart + t.end), 'F32').map((x) => x * k);
    Buffer.from(encodeFloats(v, 'F32')).copy(out, at);
  }
  return out;
}

export async function uploadFixture(s3: S3Client, bucket: string, dir: string, prefix: string, scale?: number): Promise<string> {
  for (const f of await readdir(dir)) {
    let body: Buffer = await readFile(join(dir, f));
    if (scale !== undefined && f === 'adapter_model.safetensors') body = await scaleB(body, scale);
    await putObject(s3, bucket, `${prefix}${f}`, body);
  }
  return `s3://${bucket}/${prefix}`;
}

// PEFT's scale of the fixtures' (uniform) configs: lora_alpha / r.
export async function scaleOf(s3: S3Client, uri: string): Promise<number> {
  const [bucket, ...rest] = uri.slice('s3://'.length).split('/');
  const cfg = JSON.parse((await getObjectBytes(s3, bucket, `${rest.join('/')}adapter_config.json`)).toString());
  return cfg.lora_alpha / cfg.r;
}

// Σ c_i·B_i·A_i per module, over the inputs that have it, with c_i = weight_i × scale_i.
export async function denseFormula(s3: S3Client, inputs: { uri: string; weight: number }[]): Promise<Map<string, Dense>> {
  const out = new Map<string, Dense>();
  for (const inp of inputs) {
    const c = inp.weight * await scaleOf(s3, inp.uri);
    for (const [name, f] of await readFactors(inp.uri, s3)) {
      const p = mul(fromRowMajor(f.B, f.out, f.r), fromRowMajor(f.A, f.r, f.in));
      const acc = out.get(name) ?? denseOf(f.out, f.in, () => 0);
      for (let i = 0; i < acc.d.length; i++) acc.d[i] += c * p.d[i];
      out.set(name, acc);
    }
  }
  return out;
}

// max |ΔW_version − ΔW_formula| / max |ΔW_formula| over all modules, the same in the Frobenius norm
// (√Σ‖ΔW_version − ΔW_formula‖² / √Σ‖ΔW_formula‖², what a decision's truncationError measures), and
// the version's modules.
export async function denseDistance(s3: S3Client, versionUri: string, formula: Map<string, Dense>): Promise<{ rel: number; frobenius: number; modules: string[]; rank: number }> {
  const v = await readFactors(versionUri, s3);
  let diff = 0, scale = 0, rank = 0, diff2 = 0, norm2 = 0;
  for (const [name, f] of v) {
    rank = Math.max(rank, f.r);
    const want = formula.get(name);
    if (!want) throw new Error(`version has module ${name} that no input has`);
    const got = mul(fromRowMajor(f.B, f.out, f.r), fromRowMajor(f.A, f.r, f.in));
    for (let i = 0; i < got.d.length; i++) {
      const e = got.d[i] - want.d[i];
      diff = Math.max(diff, Math.abs(e)); scale = Math.max(scale, Math.abs(want.d[i]));
      diff2 += e * e;
    }
  }
  for (const [name, want] of formula) {
    if (!v.has(name)) throw new Error(`version lacks module ${name}`);
    for (const x of want.d) norm2 += x * x;
  }
  return { rel: diff / scale, frobenius: Math.sqrt(diff2 / norm2), modules: [...v.keys()].sort(), rank };
}
