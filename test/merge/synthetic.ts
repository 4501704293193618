// Small synthetic PEFT adapters written to a temporary folder, for tests that need configs or
// shapes the real fixtures do not have.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeFloats, type FloatDtype } from '../../src/merge/safetensors/dtype.js';
import { serializeSafetensors } from '../../src/merge/safetensors/writer.js';
import { rng } from './dense-reference.js';

export interface SyntheticModule { name: string; out: number; in: number; r: number }

export async function writeAdapter(dir: string, config: Record<string, unknown>, modules: SyntheticModule[], opts: { seed?: number; dtype?: FloatDtype; extras?: { name: string; shape: number[]; values: number[] }[] } = {}) {
  await mkdir(dir, { recursive: true });
  const r = rng(opts.seed ?? 1);
  const dtype = opts.dtype ?? 'F32';
  const tensors: { name: string; dtype: string; shape: number[]; bytes: Uint8Array; values: Float32Array }[] = [];
  for (const m of modules) {
    const A = Float32Array.from({ length: m.r * m.in }, r);
    const B = Float32Array.from({ length: m.out * m.r }, r);
    tensors.push({ name: `base_model.model.${m.name}.lora_A.weight`, dtype, shape: [m.r, m.in], bytes: encodeFloats(A, dtype), values: A });
    tensors.push({ name: `base_model.model.${m.name}.lora_B.weight`, dtype, shape: [m.out, m.r], bytes: encodeFloats(B, dtype), values: B });
  }
  for (const e of opts.extras ?? []) {
    const v = Float32Array.from(e.values);
    tensors.push({ name: e.name, dtype: 'F32', shape: e.shape, bytes: encodeFloats(v, 'F32'), values: v });
  }
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', base_model_name_or_path: 'tiny-llama', ...config }));
  await writeFile(join(dir, 'adapter_model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  return tensors;
}
