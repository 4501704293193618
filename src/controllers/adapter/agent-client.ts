// The operator's side of the agent API (docs/agent.md). One keep-alive connection pool per
// BaseModel; with spec.security.agentTLS (the default) the pool trusts exactly one certificate,
// the one the key ring issued for that BaseModel, checked against its agent server name, so the
// bearer token never goes to anything else. Node 20's fetch cannot take a CA, hence node:https.
// Answers are validated with the contract's zod schemas; every failure is an AgentCallError with
// a code. Credentials never travel: a PUT body names only the source and the expected digest.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { z } from 'zod';
import { AdapterList, AdapterStatus, MAX_PUT_WAIT_MS, type PutAdapterBody } from '../../contracts/agent-api.js';
import { AGENT_PORT } from '../../contracts/names.js';
import { agentServerName, type BaseModelRef, type KeyRing } from '../../security/keys.js';
import { AgentCallError, type AgentErrorCode } from './errors.js';
import type { AgentAdapter } from './model.js';

// Where one pod's agent is, and how to talk to it.
export type AgentTarget = { pod: string; address: string; baseModel: BaseModelRef; tls: boolean; port?: number };

// What the reconcile steps need from the agents (a fake of this makes them unit tests).
export interface AgentApi {
  list(t: AgentTarget, signal: AbortSignal): Promise<Map<string, AgentAdapter>>;
  // waitMs: the agent answers once the adapter is Loaded or Failed, or after that long (?wait=).
  put(t: AgentTarget, name: string, body: PutAdapterBody, signal: AbortSignal, waitMs?: number): Promise<AgentAdapter>;
  delete(t: AgentTarget, name: string, signal: AbortSignal): Promise<void>;
  // The BaseModel is gone: drop what is kept for it (connections).
  forget?(baseModel: BaseModelRef): void;
}

// Calls at once to one pod: its connection pool's size (act.ts sends no more than this).
export const AGENT_CALLS_PER_POD = 8;

export type AgentClientOptions = {
  keyRing: KeyRing;
  timeoutMs?: number;
  // Larger answers are refused: a compromised pod must not exhaust the operator's memory.
  maxAnswerBytes?: number;
  onError?: (code: AgentErrorCode) => void;
  // Throws when this process no longer leads (ControllerContext.checkLeadership): no agent call
  // leaves a process whose lease has lapsed, even before its abort signal has fired.
  checkLeadership?: () => void;
};

const DEFAULT_MAX_ANSWER = 16 * 1024 * 1024;

export class AgentClient implements AgentApi {
  private readonly pools = new Map<string, { tls: boolean; agent: HttpAgent }>();

  constructor(private readonly opts: AgentClientOptions) {}

  async list(t: AgentTarget, signal: AbortSignal): Promise<Map<string, AgentAdapter>> {
    const get = () => this.call(t, 'GET', '/v1/adapters', undefined, AdapterList, signal);
    // A kept connection the agent closed just as it was reused fails at once with a reset: the
    // read is sent again once on a fresh one, as HTTP clients do for idempotent requests, rather
    // than calling a healthy pod unreachable for a pass.
    const body = await get().catch((err: unknown) => { if (isReset(err)) return get(); throw err; });
    return new Map(body.adapters.map((a) => [a.name, a as AgentAdapter]));
  }

  async put(t: AgentTarget, name: string, body: PutAdapterBody, signal: AbortSignal, waitMs = 0): Promise<AgentAdapter> {
    const wait = waitMs > 0 ? `?wait=${Math.min(Math.round(waitMs), MAX_PUT_WAIT_MS)}` : '';
    return await this.call(t, 'PUT', `/v1/adapters/${encodeURIComponent(name)}${wait}`, body, AdapterStatus, signal, waitMs) as AgentAdapter;
  }

  async delete(t: AgentTarget, name: string, signal: AbortSignal): Promise<void> {
    await this.call(t, 'DELETE', `/v1/adapters/${encodeURIComponent(name)}`, undefined, undefined, signal);
  }

  forget(bm: BaseModelRef): void {
    const id = `${bm.namespace}/${bm.name}`;
    this.pools.get(id)?.agent.destroy();
    this.pools.delete(id);
    this.opts.keyRing.forget(bm);
  }

  close(): void {
    for (const p of this.pools.values()) p.agent.destroy();
    this.pools.clear();
  }

  private pool(t: AgentTarget): HttpAgent {
    const id = `${t.baseModel.namespace}/${t.baseModel.name}`;
    const have = this.pools.get(id);
    if (have && have.tls === t.tls) return have.agent;
    have?.agent.destroy();
    // As many kept sockets as the calls sent at once to one pod (act.ts), so a burst does not
    // close and reopen connections; one SecureContext for the pool, not one per connection.
    const common = { keepAlive: true, keepAliveMsecs: 10_000, maxSockets: AGENT_CALLS_PER_POD, maxFreeSockets: AGENT_CALLS_PER_POD, timeout: 60_000 };
    const agent = t.tls
      ? new HttpsAgent({ ...common, secureContext: createSecureContext({ ca: this.opts.keyRing.agentTls(t.baseModel).certPem }), servername: agentServerName(t.baseModel) })
      : new HttpAgent(common);
    this.pools.set(id, { tls: t.tls, agent });
    return agent;
  }

  // waitMs: how long the agent may hold the answer (a PUT with ?wait=), added to the timeout.
  private call<S extends z.ZodType>(t: AgentTarget, method: string, path: string, body: unknown, schema: S | undefined, signal: AbortSignal, waitMs = 0): Promise<z.infer<S>> {
    const where = `${method} ${t.tls ? 'https' : 'http'}://${hostOf(t.address)}:${t.port ?? AGENT_PORT}${path}`;
    if (signal.aborted) return Promise.reject(this.fail('aborted', `${where}: not sent, the reconcile was aborted`, signal.reason));
    try { this.opts.checkLeadership?.(); } catch (err) { return Promise.reject(this.fail('aborted', `${where}: not sent, ${(err as Error).message}`, err)); }
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const timeoutMs = (this.opts.timeoutMs ?? 5_000) + Math.min(Math.max(0, waitMs), MAX_PUT_WAIT_MS);
    const limit = this.opts.maxAnswerBytes ?? DEFAULT_MAX_ANSWER;
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err: AgentCallError | undefined, value?: z.infer<S>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err); else resolve(value as z.infer<S>);
      };
      const req = (t.tls ? httpsRequest : httpRequest)({
        host: t.address, port: t.port ?? AGENT_PORT, method, path, agent: this.pool(t),
        headers: {
          authorization: `Bearer ${this.opts.keyRing.agentToken(t.baseModel)}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      }, (res) => this.read(res, limit, where).then((text) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) return done(this.fail(`http_${status}`, `${where}: HTTP ${status}: ${errorMessage(text)}`));
        if (!schema) return done(undefined);
        let json: unknown;
        try { json = text ? JSON.parse(text) : undefined; } catch (err) {
          return done(this.fail('bad_answer', `${where}: the answer is not JSON`, err));
        }
        const parsed = schema.safeParse(json);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          return done(this.fail('bad_answer', `${where}: the answer does not match the agent API (${issue?.path.join('.') || 'body'}: ${issue?.message})`, parsed.error));
        }
        done(undefined, parsed.data);
      }, (err: Error) => done(err instanceof AgentCallError ? err : this.fail('network', `${where}: ${err.message}`, err))));
      const timer = setTimeout(() => {
        done(this.fail('timeout', `${where}: no answer within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      const onAbort = () => {
        done(this.fail('aborted', `${where}: aborted`, signal.reason));
        req.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ALTNAME|SSL/i.test(err.code ?? '') || /certificate|altnames/i.test(err.message);
        done(this.fail(tls ? 'tls' : 'network', `${where}: ${tls ? 'the agent\'s certificate is not this BaseModel\'s: ' : ''}${err.code ?? err.message}${err.code && tls ? ` (${err.message})` : ''}`, err));
      });
      req.end(payload);
    });
  }

  private read(res: IncomingMessage, limit: number, where: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > limit) {
          reject(this.fail('bad_answer', `${where}: the answer is larger than ${limit} bytes`));
          res.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('the agent closed the connection mid-answer')));
    });
  }

  private fail(code: AgentErrorCode, message: string, cause?: unknown): AgentCallError {
    if (code !== 'aborted') this.opts.onError?.(code);
    return new AgentCallError(code, message, cause === undefined ? undefined : { cause });
  }
}

function isReset(err: unknown): boolean {
  if (!(err instanceof AgentCallError) || err.code !== 'network') return false;
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/i.test((err.cause as Error | undefined)?.message ?? '');
}

function hostOf(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

function errorMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: string } }).error?.message;
    if (m) return m;
  } catch { /* not JSON */ }
  return text.slice(0, 300);
}
