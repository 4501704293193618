import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';

// A recording proxy in front of the test API server: one operator process talks to it (plain
// HTTP on loopback, no credentials of its own), and it forwards every request with the admin
// credentials, watches streamed. Each request is recorded with the time it arrived, so a test can
// prove what that one process sent, and when: for instance nothing but reads after it lost its
// lease. (The API server's audit log cannot tell two operator processes apart: same user, same
// address, same user agent.)
export type ProxiedRequest = { at: number; method: string; path: string; status?: number };

export type KubeProxy = {
  url: string;
  requests: ProxiedRequest[];
  // A kubeconfig file that points at the proxy.
  kubeconfig(dir: string, namespace?: string): Promise<string>;
  stop(): Promise<void>;
};

export async function startKubeProxy(kc: KubeConfig): Promise<KubeProxy> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const upstream = new URL(cluster.server);
  const agent = new HttpsAgent({ keepAlive: true });
  const requests: ProxiedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const rec: ProxiedRequest = { at: Date.now(), method: req.method ?? '', path: req.url ?? '' };
    requests.push(rec);
    const headers = { ...req.headers };
    delete headers.host;
    delete headers.connection;
    const opts: RequestOptions = { method: req.method, hostname: upstream.hostname, port: upstream.port, path: req.url, headers, agent };
    void kc.applyToHTTPSOptions(opts).then(() => {
      const up = httpsRequest(opts, (ur) => {
        rec.status = ur.statusCode;
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        res.flushHeaders(); // a watch answers its headers long before its first event
        ur.pipe(res);
      });
      up.on('error', (err) => { if (!res.headersSent) res.writeHead(502).end(String(err)); else res.destroy(); });
      res.on('close', () => up.destroy());
      req.pipe(up);
    }, (err: unknown) => res.writeHead(502).end(String(err)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, requests,
    async kubeconfig(dir, namespace = 'default') {
      const path = join(dir, 'proxy.kubeconfig');
      await writeFile(path, [
        'apiVersion: v1', 'kind: Config', 'current-context: proxy',
        'clusters:', `- name: proxy`, `  cluster: {server: "${url}", insecure-skip-tls-verify: true}`, // client-node takes http:// only with this set
        'users:', '- name: through-proxy', '  user: {}',
        'contexts:', `- name: proxy`, `  context: {cluster: proxy, user: through-proxy, namespace: ${namespace}}`, '',
      ].join('\n'));
      return path;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      agent.destroy();
    },
  };
}

// A request that changes something (anything but reads and watches), other than leader election.
export const isWrite = (r: ProxiedRequest) => r.method !== 'GET' && r.method !== 'HEAD' && !/\/leases(\/|\?|$)/.test(r.path);
