// The agent API against the real agent process: every spelling of every /v1 route and method,
// and every wrong token, is refused, and nothing changes in the agent (the adapter it holds stays
// loaded in the engine). Requests are written by hand on raw sockets so that no client library
// normalises the path first. Then the same over TLS with the certificate the operator issues,
// and the engine API key on the agent's calls to the engine.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentServerName, KeyRing } from '../../src/security/keys.js';
import { startAgentProcess, type AgentProcess } from '../agent/agent-process.js';
import { startFakeVllm, type FakeEngine } from '../agent/fake-engines.js';
import { readFixture, upload } from '../agent/fixtures.js';
import { httpsGet, pinnedFetch, plainGet } from '../agent/https-client.js';
import { rawRequest, type RawTarget } from '../agent/raw-http.js';
import { badAuthorizations, METHODS, targets } from '../agent/spellings.js';
import { startInferenceSim, type InferenceSim } from '../support/inference-sim.js';
import { waitFor } from '../support/ports.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';

const BUCKET = 'adapters';

async function s3Env(gw: VersityGw, work: string): Promise<NodeJS.ProcessEnv> {
  const creds = join(work, 'creds');
  await mkdir(creds, { recursive: true });
  await writeFile(join(creds, 'AWS_ACCESS_KEY_ID'), gw.accessKey);
  await writeFile(join(creds, 'AWS_SECRET_ACCESS_KEY'), gw.secretKey);
  return { GRAFT_S3_ENDPOINT: gw.endpoint, AWS_REGION: gw.region, GRAFT_S3_FORCE_PATH_STYLE: 'true', GRAFT_S3_CREDENTIALS_DIR: creds };
}

// Every target × method without a token, then every bad token on the main routes. Returns the
// answers' statuses by count, for the test output.
async function sweep(t: RawTarget, token: string, methods: readonly string[] = METHODS): Promise<Record<number, number>> {
  const seen: Record<number, number> = {};
  const check = (r: { status: number; body: string }, what: string) => {
    seen[r.status] = (seen[r.status] ?? 0) + 1;
    // 401 from the agent; 400 only where Node's HTTP parser refuses the request line itself.
    expect([400, 401], `${what} → ${r.status} ${r.body.slice(0, 200)}`).toContain(r.status);
    expect(r.body, what).not.toMatch(/"state"|"adapters"|s3:\/\//);
  };
  for (const target of [...targets('a1'), 'http://127.0.0.1/v1/adapters', `http://127.0.0.1:${t.port}/v1/adapters/a1`, '*']) {
    for (const method of methods) {
      const body = method === 'PUT' ? JSON.stringify({ source: 's3://adapters/elsewhere/' }) : undefined;
      check(await rawRequest(t, method, target, {}, body).catch((e: Error) => ({ status: 0, headers: '', body: e.message })), `${method} ${target}`);
    }
  }
  for (const auth of badAuthorizations(token)) {
    for (const [method, target] of [['GET', '/v1/adapters'], ['DELETE', '/v1/adapters/a1'], ['DELETE', '/%761/adapters/a1'], ['PUT', '/v1/adapters/a1']] as const) {
      const body = method === 'PUT' ? JSON.stringify({ source: 's3://adapters/elsewhere/' }) : undefined;
      check(await rawRequest(t, method, target, auth === undefined ? {} : { Authorization: auth }, body), `${method} ${target} with ${JSON.stringify(auth?.slice(0, 30))}`);
    }
  }
  return seen;
}

describe('graft agent (process): the API is closed without the token, however the path is spelled', () => {
  let gw: VersityGw;
  let sim: InferenceSim;
  let client: S3Client;
  let work: string;
  let agent: AgentProcess;
  const token = randomBytes(32).toString('hex');

  const expectUntouched = async () => {
    const list = await agent.api('GET', '/v1/adapters');
    expect(list.body.adapters.map((a: { name: string; state: string }) => [a.name, a.state])).toEqual([['a1', 'Loaded']]);
    expect(await sim.loras()).toEqual(['a1']);
  };

  beforeAll(async () => {
    [gw, sim] = await Promise.all([startVersityGw({ buckets: [BUCKET] }), startInferenceSim({ model: 'gpt2' })]);
    client = gw.client();
    work = await mkdtemp(join(tmpdir(), 'graft-agent-auth-'));
    await writeFile(join(work, 'token'), token);
    const source = await upload(client, BUCKET, 'team/a1', await readFixture('gpt2-causal-tigrinya'));
    agent = await startAgentProcess({
      token, cacheDir: join(work, 'cache'), engineUrl: sim.url, env: await s3Env(gw, work),
      args: ['--token-file', join(work, 'token'), '--base-model', 'gpt2'],
    });
    expect((await agent.api('PUT', '/v1/adapters/a1', { source })).status).toBe(202);
    expect((await agent.settle('a1', ['Loaded', 'Failed'])).state).toBe('Loaded');
  });

  afterAll(async () => {
    await agent?.stop();
    client?.destroy();
    await Promise.all([gw?.stop(), sim?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('refuses every spelling of every /v1 route and method, and every wrong token; the adapter stays loaded', async () => {
    const t0 = Date.now();
    const seen = await sweep({ host: '127.0.0.1', port: agent.port }, token);
    console.log(`plain HTTP: ${Object.values(seen).reduce((a, b) => a + b, 0)} refused requests in ${Date.now() - t0} ms, by status: ${JSON.stringify(seen)}`);
    expect(seen[401]).toBeGreaterThan(500);
    await expectUntouched();
  });

  it('answers 431 to an overlong request head, even with the token, and runs no route', async () => {
    const r = await rawRequest({ host: '127.0.0.1', port: agent.port }, 'DELETE', '/v1/adapters/a1', { Authorization: `Bearer ${token}`, 'X-Pad': 'a'.repeat(20_000) });
    expect(r.status).toBe(431);
    await expectUntouched();
  });

  it('with the token the same routes work: the router decodes what it decodes, under the same rule', async () => {
    const r = await rawRequest({ host: '127.0.0.1', port: agent.port }, 'GET', '/%761/adapters/a1', { Authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ name: 'a1', state: 'Loaded' });
    const unknown = await rawRequest({ host: '127.0.0.1', port: agent.port }, 'GET', '/v1/nope', { Authorization: `Bearer ${token}` });
    expect([unknown.status, JSON.parse(unknown.body).error.code]).toEqual([404, 'NotFound']);
  });
});

describe('graft agent (process) over TLS, with the engine API key', () => {
  const ring = new KeyRing(randomBytes(32));
  const bm = { namespace: 'team-a', name: 'llama' };
  const other = { namespace: 'team-b', name: 'llama' };
  const token = ring.agentToken(bm);
  const engineKey = ring.engineKey(bm);
  const pin = { ca: ring.agentTls(bm).certPem, servername: agentServerName(bm) };
  let gw: VersityGw;
  let fake: FakeEngine;
  let client: S3Client;
  let work: string;
  let agent: AgentProcess;

  beforeAll(async () => {
    [gw, fake] = await Promise.all([startVersityGw({ buckets: [BUCKET] }), startFakeVllm({ model: 'gpt2', apiKey: engineKey })]);
    client = gw.client();
    work = await mkdtemp(join(tmpdir(), 'graft-agent-tls-'));
    const tls = ring.agentTls(bm);
    await writeFile(join(work, 'tls.crt'), tls.certPem);
    await writeFile(join(work, 'tls.key'), tls.keyPem);
    await writeFile(join(work, 'token'), token);
    await writeFile(join(work, 'engine-key'), `${engineKey}\n`);
    agent = await startAgentProcess({
      token, cacheDir: join(work, 'cache'), engineUrl: fake.url, scheme: 'https', fetcher: pinnedFetch(pin),
      env: {
        ...(await s3Env(gw, work)), GRAFT_AGENT_TOKEN_FILE: join(work, 'token'),
        GRAFT_AGENT_TLS_CERT_FILE: join(work, 'tls.crt'), GRAFT_AGENT_TLS_KEY_FILE: join(work, 'tls.key'),
        GRAFT_AGENT_ENGINE_API_KEY_FILE: join(work, 'engine-key'),
      },
    });
  });

  afterAll(async () => {
    await agent?.stop();
    client?.destroy();
    await Promise.all([gw?.stop(), fake?.close()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves a client that pins the BaseModel\'s certificate, with health, readiness and metrics on the same port', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await httpsGet(`${agent.url}${path}`, pin)).status, path).toBe(200);
    expect((await agent.api('GET', '/v1/adapters')).status).toBe(200);
  });

  it('refuses a client that pins another BaseModel\'s certificate, and plain HTTP on the TLS port', async () => {
    await expect(httpsGet(`${agent.url}/healthz`, { ca: ring.agentTls(other).certPem, servername: agentServerName(bm) })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    const plain = await plainGet(`http://127.0.0.1:${agent.port}/healthz`).then((a) => a, (e: Error) => e);
    if (plain instanceof Error) expect(plain.message).toMatch(/socket hang up|ECONNRESET|Parse Error|closed/i);
    else expect(plain.status).not.toBe(200);
  });

  it('refuses every /v1 spelling without the token over TLS too', async () => {
    const t0 = Date.now();
    // GET and DELETE only: a TLS handshake per request makes the full sweep slow; the routing is the same.
    const seen = await sweep({ host: '127.0.0.1', port: agent.port, tls: pin }, token, ['GET', 'DELETE']);
    console.log(`TLS: ${Object.values(seen).reduce((a, b) => a + b, 0)} refused requests in ${Date.now() - t0} ms, by status: ${JSON.stringify(seen)}`);
    expect(fake.calls.filter((c) => c.path === '/v1/unload_lora_adapter')).toEqual([]);
  });

  it('calls the engine with its API key: the adapter loads; a wrong key shows in /readyz', async () => {
    const source = await upload(client, BUCKET, 'team/k1', await readFixture('gpt2-causal-tigrinya'));
    expect((await agent.api('PUT', '/v1/adapters/k1', { source })).status).toBe(202);
    const s = await agent.settle('k1', ['Loaded', 'Failed']);
    expect(s.state, JSON.stringify(s)).toBe('Loaded');
    expect(fake.loaded.get('k1')).toBe(s.path);
    expect(fake.refused ?? 0).toBe(0);

    await writeFile(join(work, 'engine-key'), 'not-the-key'); // a mismatched rotation
    await waitFor('readyz to report the refused key', async () => (await httpsGet(`${agent.url}/readyz`, pin)).status === 503, 20_000, 200);
    const ready = JSON.parse((await httpsGet(`${agent.url}/readyz`, pin)).body) as { reasons: string[] };
    expect(ready.reasons.join(' ')).toMatch(/refused the agent's API key \(HTTP 401\)/);
    expect(fake.refused).toBeGreaterThan(0);
    await writeFile(join(work, 'engine-key'), engineKey);
    await waitFor('readyz again', async () => (await httpsGet(`${agent.url}/readyz`, pin)).status === 200, 20_000, 200);
    expect(agent.proc.output).not.toContain(engineKey);
    expect(agent.proc.output).not.toContain(token);
  });
});
