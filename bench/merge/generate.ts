// Writes N synthetic PEFT adapters with 7B-Llama shapes (F32, as PEFT saves LoRA weights by
// default): `tsx bench/merge/generate.ts DIR [adapters] [layers] [rank]`. Tensors are generated and
// written one at a time, so memory stays at one tensor.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFileWriter } from '../../src/merge/safetensors/writer.js';
import { LLAMA7B_MODULES } from './shapes.js';

const [dir, adaptersArg = '8', layersArg = '32', rankArg = '16'] = process.argv.slice(2);
if (!dir) throw new Error('usage: generate.ts DIR [adapters] [layers] [rank]');
const adapters = Number(adaptersArg), layers = Number(layersArg), rank = Number(rankArg);

// xorshift32 → uniform in (−1, 1), scaled: fast enough to fill a gigabyte in seconds.
function fill(out: Float32Array, seed: number, scale: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = (x / 2147483648 - 1) * scale;
  }
}

for (let a = 0; a < adapters; a++) {
  const folder = join(dir, `adapter-${a}`);
  await mkdir(folder, { recursive: true });
  const specs = [];
  for (let l = 0; l < layers; l++) {
    for (const m of LLAMA7B_MODULES) {
      const base = `base_model.model.model.layers.${l}.${m.name}`;
      specs.push({ name: `${base}.lora_A.weight`, dtype: 'F32', shape: [rank, m.in], scale: 1 / Math.sqrt(m.in) });
      specs.push({ name: `${base}.lora_B.weight`, dtype: 'F32', shape: [m.out, rank], scale: 0.01 });
    }
  }
  const w = await SafetensorsFileWriter.create(join(folder, 'adapter_model.safetensors'), specs, { format: 'pt' });
  let seed = 1 + a * 7919;
  for (const s of specs) {
    const v = new Float32Array(s.shape[0] * s.shape[1]);
    fill(v, seed++, s.scale);
    await w.write(s.name, new Uint8Array(v.buffer));
  }
  await w.finish();
  await writeFile(join(folder, 'adapter_config.json'), JSON.stringify({
    peft_type: 'LORA', base_model_name_or_path: 'meta-llama/Llama-2-7b-hf', task_type: 'CAUSAL_LM', r: rank, lora_alpha: 2 * rank,
    target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], use_rslora: false, use_dora: false,
  }, null, 2));
}
