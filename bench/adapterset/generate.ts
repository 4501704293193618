// Generated PEFT adapters of 7B Llama shapes for the AdapterSet benches: rank 16, F32, every
// linear layer of `layers` layers, deterministic per task index (xorshift32).
import { serializeSafetensors } from '../../src/merge/safetensors/writer.js';
import { LLAMA7B_MODULES } from '../merge/shapes.js';

export const RANK = 16;
export const BASE = 'meta-llama/Llama-2-7b-hf';

function fill(n: number, seed: number, scale: number): Uint8Array {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; out[i] = (x / 2147483648 - 1) * scale; }
  return new Uint8Array(out.buffer);
}

export function generatedAdapter(task: number, layers: number): Map<string, Uint8Array> {
  const tensors = [];
  let seed = 1 + task * 7919;
  for (let l = 0; l < layers; l++) for (const m of LLAMA7B_MODULES) {
    const base = `base_model.model.model.layers.${l}.${m.name}`;
    tensors.push({ name: `${base}.lora_A.weight`, dtype: 'F32', shape: [RANK, m.in], bytes: fill(RANK * m.in, seed++, 1 / Math.sqrt(m.in)) });
    tensors.push({ name: `${base}.lora_B.weight`, dtype: 'F32', shape: [m.out, RANK], bytes: fill(m.out * RANK, seed++, 0.01) });
  }
  const config = { peft_type: 'LORA', base_model_name_or_path: BASE, task_type: 'CAUSAL_LM', r: RANK, lora_alpha: 2 * RANK,
    target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], use_rslora: false, use_dora: false };
  return new Map([['adapter_config.json', new TextEncoder().encode(JSON.stringify(config))], ['adapter_model.safetensors', serializeSafetensors(tensors, { format: 'pt' })]]);
}
