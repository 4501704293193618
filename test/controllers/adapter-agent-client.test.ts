import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient, type AgentTarget } from '../../src/controllers/adapter/agent-client.js';
import { AgentCallError } from '../../src/controllers/adapter/errors.js';
import { KeyRing } from '../../src/security/keys.js';
import { entry } from './adapter-fixtures.js';

// The client against real TLS servers on loopback: the certificate the key ring issues for the
// BaseModel is the only one trusted, for the agent server name only; the token is the derived one.
const ring = new KeyRing(randomBytes(32));
const bm = { namespace: 'ns', name: 'gpt2' };

type Seen = { method?: string; url?: string; auth?: string; body: string };
function handler(seen: Seen[], answer: (req: IncomingMessage) => { status: number; body: string }) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      const a = answer(req);
      if (a.status === 0) return; // never answer
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
    });
  };
}

describe('AgentClient', () => {
  const seen: Seen[] = [];
  let answer: (req: IncomingMessage) => { status: number; body: string } = () => ({ status: 200, body: JSON.stringify({ adapters: [entry('a', 'Loaded')] }) });
  const own = createHttpsServer({ ...ring.agentTls(bm), key: ring.agentTls(bm).keyPem, cert: ring.agentTls(bm).certPem }, handler(seen, (r) => answer(r)));
  // A server with a certificate for another BaseModel, from the same master key.
  const other = ring.agentTls({ namespace: 'ns', name: 'other' });
  const foreign = createHttpsServer({ key: other.keyPem, cert: other.certPem }, handler(seen, (r) => answer(r)));
  const plain = createHttpServer(handler(seen, (r) => answer(r)));
  const port = (s: { address(): AddressInfo | string | null }) => (s.address() as AddressInfo).port;
  const target = (s: { address(): AddressInfo | string | null }, tls = true): AgentTarget => ({ pod: 'p1', address: '127.0.0.1', port: port(s), baseModel: bm, tls });
  const errors: string[] = [];
  const client = new AgentClient({ keyRing: ring, timeoutMs: 500, maxAnswerBytes: 64 * 1024, onError: (c) => errors.push(c) });
  const signal = new AbortController().signal;

  beforeAll(async () => {
    for (const s of [own, foreign, plain]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    client.close();
    for (const s of [own, foreign, plain]) await new Promise<void>((r) => s.close(() => r()));
  });

  it('lists over TLS with the derived token, and validates the answer', async () => {
    const list = await client.list(target(own), signal);
    expect([...list.keys()]).toEqual(['a']);
    expect(seen.at(-1)).toMatchObject({ method: 'GET', url: '/v1/adapters', auth: `Bearer ${ring.agentToken(bm)}` });
  });

  it('refuses an agent whose certificate is not this BaseModel\'s, before sending the token', async () => {
    const before = seen.length;
    const err = await client.list(target(foreign), signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentCallError);
    expect((err as AgentCallError).code).toBe('tls');
    expect(seen.length).toBe(before); // the request (and its token) never reached the server
  });

  it('speaks plain HTTP only when the BaseModel turns agentTLS off', async () => {
    await expect(client.list(target(plain, false), signal)).resolves.toBeInstanceOf(Map);
    // The TLS client does not fall back to HTTP.
    const err = await client.list(target(plain, true), signal).catch((e: unknown) => e);
    expect((err as AgentCallError).code).toMatch(/^(network|tls)$/);
  });

  it('sends PUT with only source and digest, and DELETE', async () => {
    answer = () => ({ status: 202, body: JSON.stringify(entry('a', 'Staging')) });
    const s = await client.put(target(own), 'a', { source: 's3://b/a/', digest: `sha256:${'b'.repeat(64)}` }, signal);
    expect(s.state).toBe('Staging');
    expect(JSON.parse(seen.at(-1)!.body)).toEqual({ source: 's3://b/a/', digest: `sha256:${'b'.repeat(64)}` });
    expect(seen.at(-1)).toMatchObject({ method: 'PUT', url: '/v1/adapters/a' });
    // With a wait the agent may hold the answer until the load is done.
    answer = () => ({ status: 200, body: JSON.stringify(entry('a', 'Loaded')) });
    expect((await client.put(target(own), 'a', { source: 's3://b/a/' }, signal, 2_000)).state).toBe('Loaded');
    expect(seen.at(-1)).toMatchObject({ method: 'PUT', url: '/v1/adapters/a?wait=2000' });
    answer = () => ({ status: 204, body: '' });
    await client.delete(target(own), 'a b', signal);
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', url: '/v1/adapters/a%20b' });
  });

  it('gives every failure a code: HTTP status, refusal, bad answer, timeout, abort', async () => {
    answer = () => ({ status: 400, body: JSON.stringify({ error: { code: 'BadRequest', field: 'source', message: 'source: not allowed' } }) });
    const refused = await client.put(target(own), 'a', { source: 's3://b/a/' }, signal).catch((e: AgentCallError) => e) as AgentCallError;
    expect(refused).toMatchObject({ code: 'http_400', refused: true });
    expect(refused.message).toContain('HTTP 400: source: not allowed');
    answer = () => ({ status: 503, body: '{}' });
    expect(await client.list(target(own), signal).catch((e: AgentCallError) => [e.code, e.refused])).toEqual(['http_503', false]);
    answer = () => ({ status: 200, body: JSON.stringify({ adapters: [{ name: 'a' }] }) });
    expect(await client.list(target(own), signal).catch((e: AgentCallError) => e.code)).toBe('bad_answer');
    answer = () => ({ status: 200, body: JSON.stringify({ adapters: [], pad: 'x'.repeat(100_000) }) });
    expect(await client.list(target(own), signal).catch((e: AgentCallError) => [e.code, e.message])).toEqual(['bad_answer', expect.stringMatching(/larger than 65536 bytes/)]);
    answer = () => ({ status: 0, body: '' });
    expect(await client.list(target(own), signal).catch((e: AgentCallError) => e.code)).toBe('timeout');
    const ac = new AbortController();
    const p = client.list(target(own), ac.signal).catch((e: AgentCallError) => e.code);
    ac.abort(new Error('leadership lost'));
    expect(await p).toBe('aborted');
    // Once aborted, nothing is sent at all.
    const before = seen.length;
    expect(await client.list(target(own), ac.signal).catch((e: AgentCallError) => e.code)).toBe('aborted');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.length).toBe(before);
    expect(errors).toEqual(expect.arrayContaining(['tls', 'http_400', 'http_503', 'bad_answer', 'timeout']));
    expect(errors).not.toContain('aborted');
  });

  it('reads again once when a kept connection was reset as it was reused', async () => {
    let first = true;
    const resetting = createHttpServer((req, res) => {
      if (first) { first = false; req.socket.destroy(); return; } // as an agent closing an idle connection
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ adapters: [entry('a', 'Loaded')] }));
    });
    await new Promise<void>((r) => resetting.listen(0, '127.0.0.1', r));
    try {
      const got = await client.list(target(resetting, false), signal);
      expect([...got.keys()]).toEqual(['a']);
      first = true;
      // A PUT is not sent twice: the reset is its answer.
      await expect(client.put(target(resetting, false), 'a', { source: 's3://b/a/' }, signal)).rejects.toMatchObject({ code: 'network' });
    } finally {
      resetting.closeAllConnections();
      await new Promise<void>((r) => resetting.close(() => r()));
    }
  });
});

