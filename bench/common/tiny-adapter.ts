// A small valid PEFT LoRA adapter for gpt2 (rank 8 on two modules), different per seed: the scale
// benchmarks are about the control loop, not bytes, so every adapter is a few kB.
import { serializeSafetensors } from '../../src/merge/safetensors/writer.js';

export function tinyAdapter(seed: number): Map<string, Uint8Array> {
  const f32 = (n: number) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.sin(seed * 7919 + i) / 10; return new Uint8Array(a.buffer); };
  const tensors = [];
  for (const m of ['h.0.attn.c_attn', 'h.0.attn.c_proj']) {
    tensors.push({ name: `base_model.model.transformer.${m}.lora_A.weight`, dtype: 'F32', shape: [8, 64], bytes: f32(512) });
    tensors.push({ name: `base_model.model.transformer.${m}.lora_B.weight`, dtype: 'F32', shape: [64, 8], bytes: f32(512) });
  }
  const config = { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 16, target_modules: ['c_attn', 'c_proj'], base_model_name_or_path: 'gpt2', fan_in_fan_out: true };
  return new Map([
    ['adapter_config.json', new TextEncoder().encode(JSON.stringify(config))],
    ['adapter_model.safetensors', serializeSafetensors(tensors, { format: 'pt' })],
  ]);
}
