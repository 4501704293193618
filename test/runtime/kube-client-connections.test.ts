import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReusedConnections } from '../../src/runtime/connections.js';
import { KubeClient } from '../../src/runtime/kube-client.js';
import { makePki, type Pki } from '../../src/sandbox/pki.js';

// client-node 1.x makes a new https.Agent per request: without ReusedConnections every request
// was a new TCP connection and TLS handshake. An HTTPS server on loopback with the sandbox's PKI,
// asking for the client certificate as the API server does, counts the TLS sessions it accepts.
describe('KubeClient connections', () => {
  let dir: string, pki: Pki, server: Server, port: number;
  let sessions = 0;
  const kubeConfig = (caFile: string) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caFile, skipTLSVerify: false }],
      users: [{ name: 'u', certFile: pki.adminCert, keyFile: pki.adminKey }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
    });
    return kc;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'graft-conn-'));
    pki = makePki(dir);
    server = createServer({ key: await readFile(pki.servingKey), cert: await readFile(pki.servingCert), ca: await readFile(pki.caCert), requestCert: true, rejectUnauthorized: true },
      (req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ path: req.url, user: (req.socket as TLSSocket).getPeerCertificate().subject.CN })); });
    server.on('secureConnection', () => { sessions++; });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('sends many requests over a few kept connections, with the client certificate', async () => {
    const client = new KubeClient(kubeConfig(pki.caCert));
    sessions = 0;
    for (let i = 0; i < 20; i++) expect(await client.request('GET', `/api/v1/namespaces/n${i}`)).toEqual({ path: `/api/v1/namespaces/n${i}`, user: 'graft-admin' });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => client.request('GET', `/x/${i}`)));
    expect(answers).toHaveLength(8);
    expect(sessions).toBeLessThanOrEqual(8); // 28 requests; one connection per request before
    client.close();
  });

  it('makes a new pool when the TLS material changes (a rotated CA file)', async () => {
    const caCopy = join(dir, 'ca-copy.crt');
    await writeFile(caCopy, await readFile(pki.caCert));
    const client = new KubeClient(kubeConfig(caCopy));
    await client.request('GET', '/a');
    sessions = 0;
    await client.request('GET', '/b');
    expect(sessions).toBe(0);
    // The same CA with a trailing newline: other bytes, so another agent and a new handshake.
    await writeFile(caCopy, `${await readFile(pki.caCert, 'utf8')}\n`);
    await client.request('GET', '/c');
    expect(sessions).toBe(1);
    client.close();
  });

  it('passes agents it does not know (proxies) through', () => {
    const c = new ReusedConnections();
    class ProxyAgent { options = {}; }
    const p = new ProxyAgent();
    expect(c.reuse(p)).toBe(p);
  });
});
