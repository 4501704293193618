// Validation of a downloaded adapter folder before anything is renamed into place or loaded.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentFailure } from '../types.js';
import { checkPeftConfig } from './peft-config.js';
import { checkSafetensorsFile } from './safetensors.js';

export interface AdapterLimits {
  maxRank: number; // the engine's --max-lora-rank
  baseModel?: string; // what the pod serves; checked against base_model_name_or_path when set
  maxBytes: number; // the adapter's total size
}

export interface AdapterFacts {
  rank: number;
  baseModel?: string;
  tensors: number;
}

// Refuses the folder with a reason code unless the engine can safely load it.
export async function validateAdapterFolder(dir: string, files: ReadonlyArray<{ path: string; size: number }>, limits: AdapterLimits): Promise<AdapterFacts> {
  checkTotalSize(files, limits.maxBytes);
  const names = new Set(files.map((f) => f.path));
  if (!names.has('adapter_config.json')) throw new AgentFailure('InvalidAdapter', 'adapter_config.json is missing at the top of the source prefix');
  if (!names.has('adapter_model.safetensors')) {
    const hint = names.has('adapter_model.bin') ? ' (adapter_model.bin, a pickle, is not accepted: save with safetensors)' : '';
    throw new AgentFailure('InvalidAdapter', `adapter_model.safetensors is missing at the top of the source prefix${hint}`);
  }
  const config = checkPeftConfig(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
  const header = await checkSafetensorsFile(join(dir, 'adapter_model.safetensors'), 'adapter_model.safetensors');

  // The rank the tensors really have: lora_A is [r, in], lora_embedding_A is [r, vocab].
  let tensorRank = 0;
  let loraTensors = 0;
  for (const t of header.tensors) {
    if (/\.lora_(A|B|embedding_A|embedding_B)(\.[^.]+)?\.weight$|\.lora_embedding_[AB](\.[^.]+)?$/.test(t.name)) loraTensors++;
    if (/\.lora_A(\.[^.]+)?\.weight$/.test(t.name) || /\.lora_embedding_A(\.[^.]+)?$/.test(t.name)) tensorRank = Math.max(tensorRank, t.shape[0] ?? 0);
  }
  if (loraTensors === 0) throw new AgentFailure('InvalidAdapter', 'adapter_model.safetensors holds no lora_A / lora_B tensors');
  const rank = Math.max(config.rank, tensorRank);
  if (rank > limits.maxRank) {
    throw new AgentFailure('RankTooHigh', `the adapter's rank is ${rank}, above the engine's max LoRA rank of ${limits.maxRank}; raise the BaseModel's max rank or train with a lower r`);
  }
  if (limits.baseModel && config.baseModel && config.baseModel !== limits.baseModel) {
    throw new AgentFailure('BaseModelMismatch', `base_model_name_or_path is "${config.baseModel}" but this pod serves "${limits.baseModel}"`);
  }
  return { rank, baseModel: config.baseModel, tensors: header.tensors.length };
}

export function checkTotalSize(files: ReadonlyArray<{ size: number }>, maxBytes: number): void {
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > maxBytes) throw new AgentFailure('TooLarge', `the adapter is ${total} bytes, above the limit of ${maxBytes} bytes`);
}
