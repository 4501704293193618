// A small JSON-over-HTTP helper for engine clients: timeouts, and errors that keep the status.
// node:http with one keep-alive pool per engine origin rather than fetch: undici's fetch (web
// streams, its own request objects) was the costliest part of a load's engine call.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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

const pools = new Map<string, HttpAgent>();
function poolFor(u: URL): HttpAgent {
  let a = pools.get(u.origin);
  if (!a) {
    const o = { keepAlive: true, maxSockets: 16 };
    a = u.protocol === 'https:' ? new HttpsAgent(o) : new HttpAgent(o);
    pools.set(u.origin, a);
  }
  return a;
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

function send(url: URL, method: string, headers: Record<string, string>, payload: Buffer | undefined, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (err: unknown, value?: { status: number; text: string }) => {
      clearTimeout(timer);
      if (err) reject(err); else resolve(value!);
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method, headers, agent: poolFor(url) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(undefined, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', done);
      res.on('close', () => { if (!res.complete) done(new Error('the engine closed the connection mid-answer')); });
    });
    timer = setTimeout(() => req.destroy(new TimeoutError(timeoutMs)), timeoutMs);
    req.on('error', done);
    req.end(payload);
  });
}

export async function call(engine: EngineEndpoint, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<HttpAnswer> {
  const base = engine.url;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {};
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (engine.apiKey) headers.authorization = `Bearer ${engine.apiKey()}`;
  let res: { status: number; text: string };
  try {
    res = await send(new URL(path, base), method, headers, payload, timeoutMs);
  } catch (err) {
    // A call that timed out reached an engine that did not finish: an attempt that counts. No
    // connection at all is an engine (re)starting: waited for.
    if ((err as Error).name === 'TimeoutError') throw new EngineUnavailableError(`${method} ${path}: the engine at ${base} did not answer within ${timeoutMs} ms`, err);
    throw new EngineUnreachableError(`${method} ${path}: the engine at ${base} cannot be reached (${(err as Error).message})`, err);
  }
  const text = res.text;
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
