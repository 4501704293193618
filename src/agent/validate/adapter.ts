// Validation of a downloaded adapter folder before anything is renamed into place or loaded.
// Every read is bounded: the config by its size, the safetensors header by the header cap (and
// parsed in a worker thread), the tensor data never read at all.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MAX_CONFIG_BYTES, DEFAULT_MAX_HEADER_BYTES } from '../config.js';
import { AgentFailure } from '../types.js';
import { HeaderParser } from './header-parser.js';
import { checkPeftConfig } from './peft-config.js';

export interface AdapterLimits {
  maxRank: number; // the engine's --max-lora-rank
  baseModel?: string; // what the pod serves; checked against base_model_name_or_path when set
  maxBytes: number; // the adapter's total size
  maxHeaderBytes?: number; // the safetensors header (JSON) size
  maxConfigBytes?: number; // adapter_config.json
  maxObjects?: number; // keys listed under the source prefix
}

export interface AdapterFacts {
  rank: number;
  baseModel?: string;
  tensors: number;
}

const parsers = new Map<number, HeaderParser>();
function headerParser(maxHeaderBytes: number): HeaderParser {
  let p = parsers.get(maxHeaderBytes);
  if (!p) parsers.set(maxHeaderBytes, (p = new HeaderParser(maxHeaderBytes)));
  return p;
}

// Refuses the folder with a reason code unless the engine can safely load it.
export async function validateAdapterFolder(dir: string, files: ReadonlyArray<{ path: string; size: number }>, limits: AdapterLimits): Promise<AdapterFacts> {
  checkListing(files, limits);
  const names = new Set(files.map((f) => f.path));
  if (!names.has('adapter_config.json')) throw new AgentFailure('InvalidAdapter', 'adapter_config.json is missing at the top of the source prefix');
  if (!names.has('adapter_model.safetensors')) {
    const hint = names.has('adapter_model.bin') ? ' (adapter_model.bin, a pickle, is not accepted: save with safetensors)' : '';
    throw new AgentFailure('InvalidAdapter', `adapter_model.safetensors is missing at the top of the source prefix${hint}`);
  }
  const configText = await readFile(join(dir, 'adapter_config.json'));
  checkConfigSize(configText.length, limits); // the listed size was checked; this is what is on disk
  const config = checkPeftConfig(configText.toString('utf8'));
  const header = await headerParser(limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES).parse(join(dir, 'adapter_model.safetensors'), 'adapter_model.safetensors');

  if (header.loraTensors === 0) throw new AgentFailure('InvalidAdapter', 'adapter_model.safetensors holds no lora_A / lora_B tensors');
  const rank = Math.max(config.rank, header.rank);
  if (rank > limits.maxRank) {
    throw new AgentFailure('RankTooHigh', `the adapter's rank is ${rank}, above the engine's max LoRA rank of ${limits.maxRank}; raise the BaseModel's max rank or train with a lower r`);
  }
  if (limits.baseModel && config.baseModel && config.baseModel !== limits.baseModel) {
    throw new AgentFailure('BaseModelMismatch', `base_model_name_or_path is "${config.baseModel}" but this pod serves "${limits.baseModel}"`);
  }
  return { rank, baseModel: config.baseModel, tensors: header.tensors };
}

// What can be refused from the listing alone, before a byte is downloaded.
export function checkListing(files: ReadonlyArray<{ path: string; size: number }>, limits: AdapterLimits): void {
  checkTotalSize(files, limits.maxBytes);
  const config = files.find((f) => f.path === 'adapter_config.json');
  if (config) checkConfigSize(config.size, limits);
}

export function checkTotalSize(files: ReadonlyArray<{ size: number }>, maxBytes: number): void {
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > maxBytes) throw new AgentFailure('TooLarge', `the adapter is ${total} bytes, above the limit of ${maxBytes} bytes`);
}

function checkConfigSize(bytes: number, limits: AdapterLimits): void {
  const max = limits.maxConfigBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  if (bytes > max) {
    throw new AgentFailure('ConfigTooLarge', `adapter_config.json is ${bytes} bytes, above the agent's limit of ${max} bytes (GRAFT_AGENT_MAX_CONFIG_BYTES); a PEFT config is a few KB`);
  }
}
