// The agent as a pod runs it: the real CLI in its own process, configured through flags and the
// environment, with helpers to call its API and read its memory from /proc.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdapterStatus } from '../../src/agent/types.js';
import { freePort, waitFor } from '../support/ports.js';
import { Proc } from '../support/process.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface AgentProcess {
  proc: Proc;
  port: number;
  url: string;
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
  status(name: string): Promise<AdapterStatus>;
  settle(name: string, states: string[], timeoutMs?: number): Promise<AdapterStatus>;
  // Resident memory now and at its peak (VmRSS, VmHWM), in bytes.
  memory(): Promise<{ rss: number; peak: number }>;
  stop(): Promise<void>;
}

export async function startAgentProcess(o: {
  token: string; cacheDir: string; engineUrl: string; args?: string[]; env?: NodeJS.ProcessEnv;
  // When the agent serves TLS: how to reach it (fetch cannot pin a certificate).
  fetcher?: (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text: string }>;
  scheme?: 'http' | 'https';
}): Promise<AgentProcess> {
  const port = await freePort();
  const url = `${o.scheme ?? 'http'}://127.0.0.1:${port}`;
  const proc = new Proc('agent', process.execPath, [
    '--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'agent',
    '--host', '127.0.0.1', '--port', String(port), '--cache-dir', o.cacheDir, '--engine-url', o.engineUrl,
    '--reconcile-interval', '500ms', '--part-size', '1Mi', '--concurrency', '4', ...(o.args ?? []),
  ], { cwd: repoRoot, env: { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', ...o.env } });
  const fetcher = o.fetcher ?? (async (u, init) => {
    const r = await fetch(u, init);
    return { status: r.status, text: await r.text() };
  });
  const api: AgentProcess['api'] = async (method, path, body, token = o.token) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetcher(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: r.text ? JSON.parse(r.text) : undefined };
  };
  const status = async (name: string) => (await api('GET', `/v1/adapters/${name}`)).body as AdapterStatus;
  const agent: AgentProcess = {
    proc, port, url, api, status,
    async settle(name, states, timeoutMs = 60_000) {
      let last: AdapterStatus | undefined;
      await waitFor(`${name} to reach ${states.join('|')}`, async () => {
        last = await status(name);
        return states.includes(last.state);
      }, timeoutMs, 100).catch((err: Error) => { throw new Error(`${err.message}; last: ${JSON.stringify(last)}\n${proc.output.slice(-3000)}`); });
      return last!;
    },
    async memory() {
      const text = await readFile(`/proc/${proc.child.pid}/status`, 'utf8');
      const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
      return { rss: kb('VmRSS'), peak: kb('VmHWM') };
    },
    stop: () => proc.stop(),
  };
  await waitFor('agent /healthz', async () => {
    if (!proc.running) throw new Error(`agent exited:\n${proc.output}`);
    return (await fetcher(`${url}/healthz`, { method: 'GET', headers: {} }).catch(() => ({ status: 0 }))).status === 200;
  }, 60_000, 200);
  return agent;
}
