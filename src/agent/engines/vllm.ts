// vLLM's runtime LoRA API (VLLM_ALLOW_RUNTIME_LORA_UPDATING=true): /v1/load_lora_adapter,
// /v1/unload_lora_adapter, /v1/models.
import { call, listAdapters, errorMessage, type EngineEndpoint } from './http.js';
import { EngineRejectedError, EngineUnavailableError, type EngineAdapter, type EngineClient, type LoadOutcome } from './types.js';

export class VllmClient implements EngineClient {
  readonly kind = 'vllm' as const;
  private readonly engine: EngineEndpoint;
  constructor(engine: string | EngineEndpoint, private readonly timeoutMs = 120_000) {
    this.engine = typeof engine === 'string' ? { url: engine } : engine;
  }

  get baseUrl(): string { return this.engine.url; }

  list(): Promise<EngineAdapter[]> {
    return listAdapters(this.engine);
  }

  async load(name: string, path: string, opts: { replace?: boolean } = {}): Promise<LoadOutcome> {
    const body: Record<string, unknown> = { lora_name: name, lora_path: path };
    if (opts.replace) body.load_inplace = true;
    const a = await call(this.engine, 'POST', '/v1/load_lora_adapter', body, this.timeoutMs);
    if (a.status === 200) return 'loaded';
    const msg = errorMessage(a);
    // 400 "The lora adapter 'x' has already been loaded." (load_inplace not set, or not known to
    // an older vLLM): the caller compares paths and decides.
    if (a.status === 400 && /has already been loaded/.test(msg)) return 'already-loaded';
    if (a.status === 404 && /runtime|Not Found/i.test(msg) && !/No adapter found/.test(msg)) {
      throw new EngineRejectedError(404, `vLLM has no runtime LoRA API (${msg}); start it with VLLM_ALLOW_RUNTIME_LORA_UPDATING=true and --enable-lora`);
    }
    if (a.status >= 500) throw new EngineUnavailableError(`vLLM failed to load "${name}" (HTTP ${a.status}): ${msg}`);
    throw new EngineRejectedError(a.status, `vLLM refused to load "${name}" (HTTP ${a.status}): ${msg}`);
  }

  async unload(name: string): Promise<'unloaded' | 'absent'> {
    const a = await call(this.engine, 'POST', '/v1/unload_lora_adapter', { lora_name: name }, this.timeoutMs);
    if (a.status === 200) return 'unloaded';
    const msg = errorMessage(a);
    // 404 "The lora adapter 'x' cannot be found." (some versions answer 400 with the same text).
    if (a.status === 404 || (a.status === 400 && /cannot be found|not found/i.test(msg))) return 'absent';
    if (a.status >= 500) throw new EngineUnavailableError(`vLLM failed to unload "${name}" (HTTP ${a.status}): ${msg}`);
    throw new EngineRejectedError(a.status, `vLLM refused to unload "${name}" (HTTP ${a.status}): ${msg}`);
  }

  async ready(): Promise<boolean> {
    try {
      return (await call(this.engine, 'GET', '/v1/models', undefined, 5_000)).status === 200;
    } catch {
      return false;
    }
  }
}
