import type { AgentAdapter } from './model.js';

export type AgentCallError = Error & { code: string };

// The operator's side of the agent API (docs/agent.md): bearer token, short timeouts, and an error
// code per failure (HTTP status, timeout, connection refused) for logs and metrics. Credentials
// never travel: the body names only the source and the expected digest.
export class AgentClient {
  constructor(private readonly opts: { timeoutMs?: number; onError?: (code: string) => void } = {}) {}

  async list(baseUrl: string, token: string): Promise<Map<string, AgentAdapter>> {
    const body = await this.call<{ adapters: AgentAdapter[] }>('GET', `${baseUrl}/v1/adapters`, token);
    return new Map(body.adapters.map((a) => [a.name, a]));
  }

  async put(baseUrl: string, token: string, name: string, source: string, digest?: string): Promise<AgentAdapter> {
    return this.call<AgentAdapter>('PUT', `${baseUrl}/v1/adapters/${encodeURIComponent(name)}`, token, digest ? { source, digest } : { source });
  }

  async delete(baseUrl: string, token: string, name: string): Promise<void> {
    await this.call('DELETE', `${baseUrl}/v1/adapters/${encodeURIComponent(name)}`, token);
  }

  private async call<T>(method: string, url: string, token: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5_000),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const code = e.name === 'TimeoutError' ? 'timeout' : e.cause?.code ?? 'network';
      throw this.fail(code, `${method} ${url}: ${code === 'timeout' ? 'timed out' : e.cause?.code ?? e.message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text.slice(0, 300);
      try { message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message; } catch { /* not JSON */ }
      throw this.fail(String(res.status), `${method} ${url}: HTTP ${res.status}: ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private fail(code: string, message: string): AgentCallError {
    this.opts.onError?.(code);
    return Object.assign(new Error(message), { code });
  }
}
