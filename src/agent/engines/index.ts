import type { EngineEndpoint } from './http.js';
import { SglangClient } from './sglang.js';
import type { EngineClient } from './types.js';
import { VllmClient } from './vllm.js';

export type { EngineEndpoint } from './http.js';

export function createEngineClient(kind: 'vllm' | 'sglang', engine: EngineEndpoint): EngineClient {
  return kind === 'sglang' ? new SglangClient(engine) : new VllmClient(engine);
}
