// The agent API is closed to everyone without the token, however the path is spelled, and every
// error answer comes from the one catalogue. fastify's inject() goes through the same router and
// hooks as a socket; the real process is tested with raw sockets in
// test/integration/agent-auth.test.ts.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllowedSources } from '../../src/contracts/allowed-sources.js';
import { ErrorBody } from '../../src/contracts/agent-api.js';
import { TokenFile } from '../../src/agent/auth.js';
import { AdapterCache } from '../../src/agent/cache.js';
import { VllmClient } from '../../src/agent/engines/vllm.js';
import { API_ERROR_CODES } from '../../src/agent/errors.js';
import { AdapterManager } from '../../src/agent/manager.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { buildServer } from '../../src/agent/server.js';
import { Limiter } from '../../src/util/limiter.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { silentLogger } from '../../src/util/log.js';
import { startFakeVllm, type FakeEngine } from './fake-engines.js';
import { digestOf, readFixture } from './fixtures.js';
import { badAuthorizations, METHODS, targets } from './spellings.js';

const TOKEN = 'c0ffee'.repeat(8);

let root: string;
let fake: FakeEngine;
let manager: AdapterManager;
let app: FastifyInstance;
const client = createS3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true }, { credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'graft-auth-'));
  await writeFile(join(root, 'token'), TOKEN);
  fake = await startFakeVllm();
  const metrics = new AgentMetrics(() => [], () => 0, false);
  const cache = new AdapterCache(join(root, 'cache'), 0, silentLogger);
  await cache.init();
  const retry = { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 };
  manager = new AdapterManager({
    engine: new VllmClient(fake.url), cache, metrics, log: silentLogger, reconcileIntervalMs: 60_000, retry,
    stager: { client, limiter: new Limiter(2), partSize: 1 << 20, concurrency: 2, retry, metrics, log: silentLogger, limits: { maxRank: 16, maxBytes: 1 << 30 } },
  });
  // A real adapter, staged and loaded: what a refused DELETE must leave alone.
  const files = await readFixture('gpt2-causal-tigrinya');
  const tmp = await cache.newStagingDir('a1');
  for (const [p, b] of Object.entries(files)) await writeFile(join(tmp, p), b);
  const e = await cache.commit(tmp, {
    name: 'a1', source: 's3://bucket/a1/', digest: digestOf(files), bytes: Object.values(files).reduce((n, b) => n + b.length, 0),
    files: Object.entries(files).map(([path, b]) => ({ path, size: b.length, sha256: createHash('sha256').update(b).digest('hex') })),
  });
  manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
  await manager.idle();
  expect(manager.get('a1')!.state).toBe('Loaded');
  app = buildServer({
    manager, metrics, token: new TokenFile(join(root, 'token')), ready: () => ({ ready: true, reasons: [] }),
    allowedSources: AllowedSources.parse('s3://bucket/a1/,s3://bucket/team', 'test'), log: silentLogger,
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await manager?.stop();
  await fake?.close();
  client.destroy();
  await rm(root, { recursive: true, force: true });
});

function expectUntouched() {
  expect(manager.list().map((s) => [s.name, s.state])).toEqual([['a1', 'Loaded']]);
  expect([...fake.loaded.keys()]).toEqual(['a1']);
  expect(fake.calls.filter((c) => c.path !== '/v1/load_lora_adapter')).toEqual([]);
}

function expectRefused(r: { statusCode: number; body: string; headers: Record<string, unknown> }, what: string) {
  expect(r.statusCode, `${what} → ${r.statusCode} ${r.body.slice(0, 200)}`).toBe(401);
  expect(r.headers['www-authenticate'], what).toBe('Bearer');
  if (r.body) {
    const body = ErrorBody.parse(JSON.parse(r.body));
    expect(body.error.code, what).toBe('Unauthorized');
  }
  expect(r.body, what).not.toMatch(/"state"|"adapters"|tigrinya|s3:\/\//);
}

describe('agent API authentication', () => {
  it('refuses every spelling of every /v1 route and method without the token, and changes nothing', async () => {
    let n = 0;
    for (const url of targets('a1')) {
      for (const method of METHODS) {
        const r = await app.inject({ method, url, ...(method === 'PUT' ? { payload: { source: 's3://bucket/a1/' } } : {}) });
        expectRefused(r, `${method} ${url}`);
        n++;
      }
    }
    expect(n).toBeGreaterThan(400);
    expectUntouched();
  });

  it('refuses wrong, short, long and malformed tokens on every route', async () => {
    for (const authorization of badAuthorizations(TOKEN)) {
      for (const [method, url] of [['GET', '/v1/adapters'], ['GET', '/v1/adapters/a1'], ['DELETE', '/v1/adapters/a1'], ['PUT', '/v1/adapters/a1'], ['GET', '/%761/adapters'], ['DELETE', '/%761/adapters/a1']] as const) {
        const r = await app.inject({
          method, url, headers: authorization === undefined ? {} : { authorization },
          ...(method === 'PUT' ? { payload: { source: 's3://bucket/team/other/' } } : {}),
        });
        expectRefused(r, `${method} ${url} with ${JSON.stringify(authorization?.slice(0, 40))}`);
      }
    }
    expectUntouched();
  });

  it('answers an unknown route exactly as a known one when the token is missing (nothing to learn)', async () => {
    const known = await app.inject({ method: 'GET', url: '/v1/adapters' });
    for (const url of ['/nope', '/v2/adapters', '/v1/secrets', '/admin']) {
      const unknown = await app.inject({ method: 'GET', url });
      expect([unknown.statusCode, unknown.body]).toEqual([known.statusCode, known.body]);
    }
  });

  it('serves health, readiness and metrics without the token, and nothing else', async () => {
    for (const url of ['/healthz', '/readyz', '/metrics', '/healthz?x=1']) {
      expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      expect((await app.inject({ method: 'HEAD', url })).statusCode, `HEAD ${url}`).toBe(200);
    }
    expectRefused(await app.inject({ method: 'OPTIONS', url: '/healthz' }), 'OPTIONS /healthz');
    expectRefused(await app.inject({ method: 'POST', url: '/healthz' }), 'POST /healthz');
  });

  it('with the token: the routes answer, and the router decodes what it decodes', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await app.inject({ method: 'GET', url: '/v1/adapters', headers: auth })).json()).toMatchObject({ adapters: [{ name: 'a1', state: 'Loaded' }] });
    expect((await app.inject({ method: 'GET', url: '/v1/adapters/a1', headers: { authorization: `bearer ${TOKEN}` } })).statusCode).toBe(200);
    // The router's own decoding: the same route, so the same token rule.
    expect((await app.inject({ method: 'GET', url: '/%761/adapters', headers: auth })).statusCode).toBe(200);
    const unknown = await app.inject({ method: 'GET', url: '/nope', headers: auth });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'NotFound' } });
  });
});

describe('agent API errors', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  const call = (method: 'GET' | 'PUT' | 'DELETE', url: string, extra: { payload?: string | object; headers?: Record<string, string> } = {}) =>
    app.inject({ method, url, headers: { ...auth, ...extra.headers }, ...(extra.payload === undefined ? {} : { payload: extra.payload }) });

  it('answers every error with a code from the catalogue, its status and a message', async () => {
    const cases: Array<[Awaited<ReturnType<typeof call>>, number, string, string?]> = [
      [await call('GET', '/v1/adapters/Bad_Name'), 400, 'InvalidName', 'name'],
      [await call('PUT', '/v1/adapters/..%2Fx', { payload: { source: 's3://bucket/a1/' } }), 400, 'InvalidName', 'name'],
      [await call('GET', '/v1/adapters/nobody'), 404, 'AdapterNotFound', 'name'],
      [await call('PUT', '/v1/adapters/b1', { payload: { digest: 'sha256:00' } }), 400, 'InvalidBody', 'source'],
      [await call('PUT', '/v1/adapters/b1', { payload: { source: 's3://bucket/a1/', accessKeyId: 'AKIA' } }), 400, 'InvalidBody', 'accessKeyId'],
      [await call('PUT', '/v1/adapters/b1', { payload: '{"source": ', headers: { 'content-type': 'application/json' } }), 400, 'InvalidBody'],
      [await call('PUT', '/v1/adapters/b1', { payload: 'source=x', headers: { 'content-type': 'text/plain' } }), 415, 'UnsupportedMediaType'],
      [await call('PUT', '/v1/adapters/b1', { payload: JSON.stringify({ source: `s3://bucket/${'x'.repeat(70_000)}/` }), headers: { 'content-type': 'application/json' } }), 413, 'BodyTooLarge'],
      [await call('PUT', '/v1/adapters/b1', { payload: { source: 's3://other-bucket/a1/' } }), 403, 'SourceNotAllowed', 'source'],
      [await call('PUT', '/v1/adapters/b1?wait=soon', { payload: { source: 's3://bucket/a1/' } }), 400, 'BadRequest', 'wait'],
      [await call('PUT', '/v1/adapters/b1?wait=20000', { payload: { source: 's3://bucket/a1/' } }), 400, 'BadRequest', 'wait'],
      [await call('PUT', '/v1/adapters/b1?wait=-1', { payload: { source: 's3://bucket/a1/' } }), 400, 'BadRequest', 'wait'],
      [await call('PUT', '/v1/adapters/b1?wait=1&wait=2', { payload: { source: 's3://bucket/a1/' } }), 400, 'BadRequest', 'wait'],
      [await call('PUT', '/v1/adapters/b1?force=1', { payload: { source: 's3://bucket/a1/' } }), 400, 'BadRequest', 'force'],
      [await call('GET', '/v1/nothing-here'), 404, 'NotFound'],
    ];
    for (const [r, status, code, field] of cases) {
      const body = ErrorBody.parse(r.json());
      expect([r.statusCode, body.error.code, body.error.field], r.body).toEqual([status, code, field]);
      expect(API_ERROR_CODES).toContain(body.error.code);
      expect(body.error.message.length).toBeGreaterThan(5);
    }
    expect(manager.get('b1')).toBeUndefined(); // nothing was accepted
  });

  it('refuses a source outside the allowed list by parsed bucket and prefix, naming the list; nothing staged', async () => {
    const refused = [
      's3://bucket-evil/a1/', 's3://bucke/a1/', 's3://bucket/a10/', 's3://bucket/a/', 's3://bucket/', 's3://bucket',
      's3://bucket/b1/', 's3://other/team/x/', 's3://bucket/Team/x/', 's3://bucket/%61%31/',
    ];
    for (const source of refused) {
      const r = await call('PUT', '/v1/adapters/c1', { payload: { source } });
      expect(r.statusCode, source).toBe(403);
      expect(r.json().error.message, source).toContain('s3://bucket/a1/, s3://bucket/team');
    }
    // Dot segments never reach the matcher: the body schema refuses them first.
    for (const source of ['s3://bucket/a1/../b1/', 's3://bucket/a1/./x/', 's3://bucket/team/../../x/']) {
      const r = await call('PUT', '/v1/adapters/c1', { payload: { source } });
      expect([r.statusCode, r.json().error.code], source).toEqual([400, 'InvalidBody']);
    }
    expect(manager.get('c1')).toBeUndefined();
    expectUntouched();
  });
});
