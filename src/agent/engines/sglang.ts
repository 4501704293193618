// SGLang's LoRA API: /load_lora_adapter and /unload_lora_adapter answer
// {success, error_message, loaded_adapters} with 200 or 400 (never 404); /v1/models lists adapters
// like vLLM (root = lora_path, parent = the served model).
import { call, listAdapters, errorMessage, type EngineEndpoint, type HttpAnswer } from './http.js';
import { EngineRejectedError, EngineUnavailableError, type EngineAdapter, type EngineClient, type LoadOutcome } from './types.js';

interface SglangAnswer { success?: boolean; error_message?: string | null }

export class SglangClient implements EngineClient {
  readonly kind = 'sglang' as const;
  private readonly engine: EngineEndpoint;
  constructor(engine: string | EngineEndpoint, private readonly timeoutMs = 120_000) {
    this.engine = typeof engine === 'string' ? { url: engine } : engine;
  }

  get baseUrl(): string { return this.engine.url; }

  list(): Promise<EngineAdapter[]> {
    return listAdapters(this.engine);
  }

  async load(name: string, path: string, opts: { replace?: boolean } = {}): Promise<LoadOutcome> {
    // SGLang has no in-place reload: a new version means unload, then load.
    if (opts.replace) await this.unload(name);
    const a = await call(this.engine, 'POST', '/load_lora_adapter', { lora_name: name, lora_path: path }, this.timeoutMs);
    const r = this.answer(a, 'load', name);
    if (r.success) return 'loaded';
    const msg = r.error_message ?? errorMessage(a);
    // "LoRA with name x already exists. Loaded LoRAs: ..."
    if (/already exists|already loaded/.test(msg)) return 'already-loaded';
    throw new EngineRejectedError(a.status, `SGLang refused to load "${name}": ${msg}`);
  }

  async unload(name: string): Promise<'unloaded' | 'absent'> {
    const a = await call(this.engine, 'POST', '/unload_lora_adapter', { lora_name: name }, this.timeoutMs);
    const r = this.answer(a, 'unload', name);
    if (r.success) return 'unloaded';
    const msg = r.error_message ?? errorMessage(a);
    // "LoRA with name x does not exist. Loaded LoRAs: ..."
    if (/does not exist/.test(msg)) return 'absent';
    throw new EngineRejectedError(a.status, `SGLang refused to unload "${name}": ${msg}`);
  }

  async ready(): Promise<boolean> {
    try {
      return (await call(this.engine, 'GET', '/v1/models', undefined, 5_000)).status === 200;
    } catch {
      return false;
    }
  }

  private answer(a: HttpAnswer, op: string, name: string): SglangAnswer {
    if (a.status >= 500) throw new EngineUnavailableError(`SGLang failed to ${op} "${name}" (HTTP ${a.status}): ${errorMessage(a)}`);
    const j = a.json as SglangAnswer | undefined;
    if (!j || typeof j !== 'object' || typeof j.success !== 'boolean') {
      throw new EngineRejectedError(a.status, `SGLang answered ${op} of "${name}" with HTTP ${a.status} and no {success} body: ${a.text.slice(0, 300)}`);
    }
    return j;
  }
}
