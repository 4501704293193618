import { SglangClient } from './sglang.js';
import type { EngineClient } from './types.js';
import { VllmClient } from './vllm.js';

export function createEngineClient(kind: 'vllm' | 'sglang', baseUrl: string): EngineClient {
  return kind === 'sglang' ? new SglangClient(baseUrl) : new VllmClient(baseUrl);
}
