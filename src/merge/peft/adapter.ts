// A PEFT LoRA adapter as the merge engine sees it: its config, its safetensors header, its LoRA
// modules (A and B paired, checked against each other and the config) and the other tensors it
// saves whole (modules_to_save, biases).
import { isFloatDtype } from '../safetensors/dtype.js';
import type { SafetensorsHeader, TensorInfo } from '../safetensors/header.js';
import { AdapterError, moduleScale, type PeftConfig } from './config.js';

export interface LoraModule {
  module: string; // e.g. transformer.h.0.attn.c_attn
  kind: 'linear' | 'embedding';
  a: TensorInfo; // r × in
  b: TensorInfo; // out × r
  rank: number;
  out: number;
  in: number;
  scale: number;
}

export interface AdapterLayout {
  modules: Map<string, LoraModule>;
  extras: TensorInfo[]; // tensors saved whole
  loraDtypes: Set<string>;
}

// base_model.model.<module>.lora_A.weight, …lora_B.weight, …lora_embedding_A, …lora_embedding_B
const LORA = /^(.+)\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B)(\.weight)?$/;
const PREFIX = 'base_model.model.';

export function moduleNameOf(tensorName: string): string {
  return tensorName.startsWith(PREFIX) ? tensorName.slice(PREFIX.length) : tensorName;
}

export function describeAdapter(config: PeftConfig, header: SafetensorsHeader, where: string): AdapterLayout {
  const halves = new Map<string, { a?: TensorInfo; b?: TensorInfo; kind: 'linear' | 'embedding' }>();
  const extras: TensorInfo[] = [];
  for (const t of header.tensors) {
    const m = LORA.exec(t.name);
    if (!m) { extras.push(t); continue; }
    const [, path, part, suffix] = m;
    const kind = part.startsWith('lora_embedding') ? 'embedding' : 'linear';
    if ((kind === 'linear') !== (suffix === '.weight')) { extras.push(t); continue; }
    const key = moduleNameOf(path);
    const h = halves.get(key) ?? { kind };
    if (part.endsWith('A')) h.a = t; else h.b = t;
    halves.set(key, h);
  }
  const modules = new Map<string, LoraModule>();
  const loraDtypes = new Set<string>();
  for (const [module, h] of halves) {
    if (!h.a || !h.b) throw new AdapterError(`${where}: module ${module} has lora_${h.a ? 'A' : 'B'} but no lora_${h.a ? 'B' : 'A'}; the adapter file is incomplete`);
    for (const t of [h.a, h.b]) {
      if (!isFloatDtype(t.dtype)) throw new AdapterError(`${where}: tensor "${t.name}" is ${t.dtype}; LoRA factors must be F32, F16 or BF16`);
      if (t.shape.length !== 2) throw new AdapterError(`${where}: tensor "${t.name}" has shape [${t.shape.join(', ')}]; only 2-D LoRA factors (linear and embedding layers) can be merged`);
      loraDtypes.add(t.dtype);
    }
    const [ra, inDim] = h.a.shape;
    const [out, rb] = h.b.shape;
    if (ra !== rb) throw new AdapterError(`${where}: module ${module}: lora_A has rank ${ra} but lora_B has rank ${rb}`);
    const s = moduleScale(config, module);
    if (s.rank !== ra) {
      throw new AdapterError(`${where}: module ${module} has rank ${ra} in its tensors but ${s.rank} in adapter_config.json (r / rank_pattern); fix the config`);
    }
    if (ra === 0) throw new AdapterError(`${where}: module ${module} has rank 0`);
    modules.set(module, { module, kind: h.kind, a: h.a, b: h.b, rank: ra, out, in: inDim, scale: s.scale });
  }
  if (modules.size === 0) throw new AdapterError(`${where}: adapter_model.safetensors holds no LoRA tensors (…lora_A.weight / …lora_B.weight)`);
  return { modules, extras, loraDtypes };
}
