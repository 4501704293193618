import { createServer, type Server, type ServerResponse } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeWatch } from '../../src/runtime/watch.js';

// A plain-HTTP stand-in for the API server's watch endpoint, on loopback.
async function fakeApiServer(onWatch: (url: URL, res: ServerResponse) => void): Promise<{ server: Server; kc: KubeConfig }> {
  const server = createServer((req, res) => onWatch(new URL(req.url!, 'http://x'), res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { server, kc };
}

let server: Server | undefined;
afterEach(async () => { server?.closeAllConnections(); await new Promise((r) => server?.close(r) ?? r(undefined)); server = undefined; });

describe('RuntimeWatch', () => {
  it('asks the server to end the watch after 5–10 minutes, and counts the request', async () => {
    let query: URL | undefined;
    const fake = await fakeApiServer((url, res) => {
      query = url;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } })}\n`);
      res.end();
    });
    server = fake.server;
    const counted: Array<[string, string, number | string]> = [];
    const events: string[] = [];
    const w = new RuntimeWatch(fake.kc, (m, u, c) => counted.push([m, u, c]), { random: () => 0.5 });
    const ended = new Promise<unknown>((resolve) => {
      void w.watch('/api/v1/configmaps', { resourceVersion: '4' }, (type, obj) => events.push(`${type} ${obj.metadata.name}`), resolve);
    });
    expect(await ended).toBeNull();
    expect(query!.searchParams.get('timeoutSeconds')).toBe('450');
    expect(query!.searchParams.get('resourceVersion')).toBe('4');
    expect(query!.searchParams.get('watch')).toBe('true');
    expect(events).toEqual(['ADDED a']);
    expect(counted).toEqual([['GET', `${fake.kc.getCurrentCluster()!.server}/api/v1/configmaps`, 200]]);
  });

  it('hands objects on without their managedFields (nothing reads them; they were most of a cache)', async () => {
    const fake = await fakeApiServer((_url, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5', managedFields: [{ manager: 'graft', operation: 'Apply' }] }, spec: { x: 1 } } })}\n`);
    });
    server = fake.server;
    const got: unknown[] = [];
    const w = new RuntimeWatch(fake.kc, () => {}, { random: () => 0.5 });
    await new Promise<unknown>((resolve) => { void w.watch('/api/v1/configmaps', {}, (_type, obj) => got.push(obj), resolve); });
    expect(got).toEqual([{ metadata: { name: 'a', resourceVersion: '5' }, spec: { x: 1 } }]);
  });

  it('aborts a watch the server keeps open past its timeout (a dead connection)', async () => {
    const fake = await fakeApiServer((_url, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('\n'); // headers and a byte, then silence
    });
    server = fake.server;
    const w = new RuntimeWatch(fake.kc, () => {}, { minSeconds: 1, graceMs: 200, random: () => 0 });
    const started = Date.now();
    const err = await new Promise<unknown>((resolve) => { void w.watch('/api/v1/pods', {}, () => {}, resolve); });
    expect(err).toBeTruthy(); // an error, so the informer restarts it
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_100);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('counts a refused watch by its status code', async () => {
    const fake = await fakeApiServer((_url, res) => { res.writeHead(403); res.end('{}'); });
    server = fake.server;
    const counted: Array<number | string> = [];
    const w = new RuntimeWatch(fake.kc, (_m, _u, c) => counted.push(c));
    const err = await new Promise<unknown>((resolve) => { void w.watch('/api/v1/secrets', {}, () => {}, resolve); });
    expect((err as { statusCode?: number }).statusCode).toBe(403);
    await new Promise((r) => setImmediate(r)); // counted when watch() returns, just after done
    expect(counted).toEqual([403]);
  });
});
