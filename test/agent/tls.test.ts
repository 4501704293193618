// The agent serves HTTPS with the certificate the operator issues per BaseModel (KeyRing), and a
// client that pins that certificate is the only kind that gets through; a rotated Secret is
// picked up without a restart. Health, readiness and metrics share the port.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../src/agent/agent.js';
import { resolveConfig } from '../../src/agent/config.js';
import { VllmClient } from '../../src/agent/engines/vllm.js';
import { readTlsPair } from '../../src/agent/tls.js';
import { agentServerName, KeyRing } from '../../src/security/keys.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { silentLogger } from '../../src/util/log.js';
import { startFakeVllm, type FakeEngine } from './fake-engines.js';
import { httpsGet, plainGet } from './https-client.js';
import { freePort } from '../support/ports.js';

const ring = new KeyRing(randomBytes(32));
const bmA = { namespace: 'team-a', name: 'llama' };
const bmB = { namespace: 'team-b', name: 'llama' };

describe('agent TLS', () => {
  let work: string;
  let fake: FakeEngine;
  let agent: RunningAgent;
  const token = ring.agentToken(bmA);
  const client = createS3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true }, { credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'graft-tls-'));
    const a = ring.agentTls(bmA);
    await writeFile(join(work, 'tls.crt'), a.certPem);
    await writeFile(join(work, 'tls.key'), a.keyPem);
    await writeFile(join(work, 'token'), token);
    fake = await startFakeVllm();
    const config = resolveConfig({
      host: '127.0.0.1', port: String(await freePort()), 'token-file': join(work, 'token'), 'cache-dir': join(work, 'cache'), 'engine-url': fake.url,
      'tls-cert-file': join(work, 'tls.crt'), 'tls-key-file': join(work, 'tls.key'), 'log-level': 'silent',
    }, {});
    agent = await startAgent(config, { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true, maxSockets: 4, maxAttempts: 1 }, silentLogger,
      { client, engine: new VllmClient(fake.url), defaultMetrics: false, tlsRecheckMs: 100 });
  });

  afterAll(async () => {
    await agent?.stop();
    await fake?.close();
    client.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves HTTPS to a client that pins the BaseModel\'s certificate; health, readiness and metrics on the same port', async () => {
    expect(agent.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const pin = { ca: ring.agentTls(bmA).certPem, servername: agentServerName(bmA) };
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await httpsGet(`${agent.url}${path}`, pin)).status, path).toBe(200);
    expect((await httpsGet(`${agent.url}/v1/adapters`, pin)).status).toBe(401);
    const ok = await httpsGet(`${agent.url}/v1/adapters`, { ...pin, headers: { authorization: `Bearer ${token}` } });
    expect(ok).toEqual({ status: 200, body: '{"adapters":[]}' });
  });

  it('refuses a client that pins another BaseModel\'s certificate, or expects another name', async () => {
    await expect(httpsGet(`${agent.url}/healthz`, { ca: ring.agentTls(bmB).certPem, servername: agentServerName(bmA) })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    await expect(httpsGet(`${agent.url}/healthz`, { ca: ring.agentTls(bmA).certPem, servername: agentServerName(bmB) })).rejects.toThrow(/altnames|does not match|Hostname/i);
  });

  it('does not answer plain HTTP on the TLS port', async () => {
    const r = await plainGet(agent.url.replace('https:', 'http:') + '/healthz').then((a) => a, (e: Error) => e);
    if (!(r instanceof Error)) expect(r.status).not.toBe(200);
    else expect(r.message).toMatch(/socket hang up|ECONNRESET|Parse Error|closed/i);
  });

  it('takes a rotated certificate without a restart, and drops the old one', async () => {
    const b = ring.agentTls(bmB);
    await writeFile(join(work, 'tls.key'), b.keyPem); // half a rotation: key and certificate disagree, the old pair stays
    await new Promise((r) => setTimeout(r, 400));
    expect((await httpsGet(`${agent.url}/healthz`, { ca: ring.agentTls(bmA).certPem, servername: agentServerName(bmA) })).status).toBe(200);
    await writeFile(join(work, 'tls.crt'), b.certPem);
    const pinB = { ca: b.certPem, servername: agentServerName(bmB) };
    let last: unknown;
    for (let i = 0; i < 50; i++) {
      last = await httpsGet(`${agent.url}/healthz`, pinB).catch((e: unknown) => e);
      if (!(last instanceof Error)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(last).toMatchObject({ status: 200 });
    await expect(httpsGet(`${agent.url}/healthz`, { ca: ring.agentTls(bmA).certPem, servername: agentServerName(bmA) })).rejects.toThrow();
  });
});

describe('readTlsPair', () => {
  it('refuses empty, truncated and mismatched files (a rotation caught half-way)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'graft-tlspair-'));
    const a = ring.agentTls(bmA);
    const b = ring.agentTls(bmB);
    const put = async (cert: string, key: string) => { await writeFile(join(dir, 'c'), cert); await writeFile(join(dir, 'k'), key); };
    const read = () => readTlsPair(join(dir, 'c'), join(dir, 'k'));
    await put('', '');
    await expect(read()).rejects.toThrow(/no PEM certificate/);
    await put(a.certPem, '');
    await expect(read()).rejects.toThrow(/no PEM private key/);
    await put(a.certPem.slice(0, 120), a.keyPem);
    await expect(read()).rejects.toThrow();
    await put(a.certPem, b.keyPem);
    await expect(read()).rejects.toThrow(/key values mismatch/);
    await put(a.certPem, a.keyPem);
    expect((await read()).cert).toBe(a.certPem);
    await rm(dir, { recursive: true, force: true });
  });
});
