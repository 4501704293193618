// The benchmark's model: the linear layers of a 7B Llama, as PEFT names them.
export const LLAMA7B_MODULES = [
  { name: 'self_attn.q_proj', out: 4096, in: 4096 },
  { name: 'self_attn.k_proj', out: 4096, in: 4096 },
  { name: 'self_attn.v_proj', out: 4096, in: 4096 },
  { name: 'self_attn.o_proj', out: 4096, in: 4096 },
  { name: 'mlp.gate_proj', out: 11008, in: 4096 },
  { name: 'mlp.up_proj', out: 11008, in: 4096 },
  { name: 'mlp.down_proj', out: 4096, in: 11008 },
] as const;
