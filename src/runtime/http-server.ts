import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

// The operator's HTTP endpoints: /healthz (the process answers), /readyz (caches synced and, when
// leading, controllers running) and /metrics (Prometheus text). Metrics and probes may listen on
// different addresses, as in controller-runtime; "0" turns one off.

export interface BindAddress { host: string; port: number }

/** Parses ":8080", "127.0.0.1:0", "[::1]:8081"; "0" means disabled (undefined). */
export function parseBindAddress(flag: string, value: string): BindAddress | undefined {
  if (value === '0') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`${flag}: "${value}" is not an address; use host:port (":8080" for every interface, "0" to disable)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface Readiness { ready: boolean; reason: string }

export interface HttpServerOptions {
  metrics?: BindAddress;
  probes?: BindAddress;
  registry: Registry;
  readiness: () => Readiness;
}

export class OperatorHttpServer {
  private readonly servers: FastifyInstance[] = [];
  /** The address each endpoint group listens on (useful with port 0). */
  metricsAddress: BindAddress | undefined;
  probesAddress: BindAddress | undefined;

  constructor(private readonly opts: HttpServerOptions) {}

  async start(): Promise<void> {
    const { metrics, probes } = this.opts;
    const same = metrics && probes && metrics.host === probes.host && metrics.port === probes.port && metrics.port !== 0;
    if (same) {
      const addr = await this.listen(metrics, { metrics: true, probes: true });
      this.metricsAddress = this.probesAddress = addr;
      return;
    }
    if (metrics) this.metricsAddress = await this.listen(metrics, { metrics: true, probes: false });
    if (probes) this.probesAddress = await this.listen(probes, { metrics: false, probes: true });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.servers.splice(0).map((s) => s.close()));
  }

  private async listen(addr: BindAddress, serve: { metrics: boolean; probes: boolean }): Promise<BindAddress> {
    const app = Fastify({ logger: false });
    if (serve.probes) {
      app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok'));
      app.get('/readyz', async (_req, reply) => {
        const r = this.opts.readiness();
        return reply.code(r.ready ? 200 : 503).type('text/plain').send(r.ready ? 'ok' : `not ready: ${r.reason}`);
      });
    }
    if (serve.metrics) {
      app.get('/metrics', async (_req, reply) => {
        const body = await this.opts.registry.metrics();
        return reply.type(this.opts.registry.contentType).send(body);
      });
    }
    this.servers.push(app);
    await app.listen({ host: addr.host, port: addr.port });
    const bound = app.server.address();
    return { host: addr.host, port: typeof bound === 'object' && bound ? bound.port : addr.port };
  }
}
