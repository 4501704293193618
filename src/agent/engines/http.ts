// A small JSON-over-HTTP helper for engine clients: timeouts, and errors that keep the status.
import { EngineUnavailableError, EngineUnreachableError, type EngineAdapter } from './types.js';

export interface HttpAnswer {
  status: number;
  text: string;
  json: unknown; // undefined when the body is not JSON
}

// Where an engine is and how to call it: the engine's API key (vLLM and SGLang `--api-key`, which
// both check "Authorization: Bearer <key>") goes on every call when one is configured.
export interface EngineEndpoint {
  url: string;
  apiKey?: () => string;
}

export async function call(engine: EngineEndpoint, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<HttpAnswer> {
  const base = engine.url;
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (engine.apiKey) headers.authorization = `Bearer ${engine.apiKey()}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const why = (err as Error).cause ? String((err as { cause: unknown }).cause) : (err as Error).message;
    // A call that timed out reached an engine that did not finish: an attempt that counts. No
    // connection at all is an engine (re)starting: waited for.
    if ((err as Error).name === 'TimeoutError') throw new EngineUnavailableError(`${method} ${path}: the engine at ${base} did not answer within ${timeoutMs} ms`, err);
    throw new EngineUnreachableError(`${method} ${path}: the engine at ${base} cannot be reached (${why})`, err);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.status === 401 || res.status === 403) {
    // Both engines answer 401 {"error": "Unauthorized"} to a missing or wrong key.
    throw new EngineUnavailableError(`${method} ${path}: the engine at ${base} refused the agent's API key (HTTP ${res.status}): ${engine.apiKey ? 'the key in the engine-key Secret differs from the engine\'s --api-key' : 'the engine has --api-key set; give the agent the same key (GRAFT_AGENT_ENGINE_API_KEY_FILE)'}`);
  }
  return { status: res.status, text, json };
}

// The error message in either of vLLM's shapes: {"error": {message, ...}} (recent) or a flat
// {message, type, code} (older); else the raw text.
export function errorMessage(a: HttpAnswer): string {
  const j = a.json as { error?: { message?: unknown } | string; message?: unknown; error_message?: unknown; detail?: unknown } | undefined;
  if (j && typeof j === 'object') {
    if (j.error && typeof j.error === 'object' && typeof j.error.message === 'string') return j.error.message;
    if (typeof j.error === 'string') return j.error;
    if (typeof j.message === 'string') return j.message;
    if (typeof j.error_message === 'string') return j.error_message;
    if (typeof j.detail === 'string') return j.detail;
  }
  return a.text.slice(0, 500) || `HTTP ${a.status}`;
}

// /v1/models: the adapters are the entries with a parent (the base model has none).
export function adaptersFromModels(a: HttpAnswer): Array<{ name: string; path: string }> {
  const data = (a.json as { data?: Array<{ id?: unknown; root?: unknown; parent?: unknown }> } | undefined)?.data;
  if (!Array.isArray(data)) throw new EngineUnavailableError(`/v1/models answered without a data list (HTTP ${a.status})`);
  return data
    .filter((m) => m.parent !== null && m.parent !== undefined && typeof m.id === 'string')
    .map((m) => ({ name: m.id as string, path: typeof m.root === 'string' ? m.root : '' }));
}

// Both engines list their adapters through GET /v1/models (entries with a parent; root = the path).
export async function listAdapters(engine: EngineEndpoint): Promise<EngineAdapter[]> {
  const a = await call(engine, 'GET', '/v1/models', undefined, 10_000);
  if (a.status !== 200) throw new EngineUnavailableError(`GET /v1/models answered ${a.status}: ${errorMessage(a)}`);
  return adaptersFromModels(a);
}
