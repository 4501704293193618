// The agent's HTTP API (fastify): /v1/adapters behind the bearer token, plus health, readiness
// and metrics.
import Fastify, { type FastifyInstance } from 'fastify';
import type { TokenFile } from './auth.js';
import { firstIssue, PutAdapterBody } from '../contracts/agent-api.js';
import type { AdapterManager } from './manager.js';
import type { AgentMetrics } from './metrics.js';
import { dns1123LabelProblem } from './names.js';

export interface ServerDeps {
  manager: AdapterManager;
  metrics: AgentMetrics;
  token: TokenFile;
  ready: () => { ready: boolean; reasons: string[] };
}

type ErrorBody = { error: { field?: string; message: string } };
const err = (message: string, field?: string): ErrorBody => ({ error: field ? { field, message } : { message } });

export function buildServer(d: ServerDeps): FastifyInstance {
  // No fastify logger: it would log request headers, bearer token included.
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1/') && req.url !== '/v1') return;
    if (!d.token.check(req.headers.authorization)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send(err('missing or wrong bearer token'));
    }
  });

  app.setErrorHandler(async (e: { statusCode?: number; message: string }, _req, reply) => {
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    await reply.code(status).send(err(status === 500 ? 'internal error' : e.message));
  });
  app.setNotFoundHandler(async (req, reply) => reply.code(404).send(err(`no route ${req.method} ${req.url.split('?')[0]}`)));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = d.ready();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
  });
  app.get('/metrics', async (_req, reply) => reply.header('content-type', d.metrics.registry.contentType).send(await d.metrics.registry.metrics()));

  const checkName = (name: string) => dns1123LabelProblem(name);

  app.get('/v1/adapters', async () => ({ adapters: d.manager.list() }));

  app.get<{ Params: { name: string } }>('/v1/adapters/:name', async (req, reply) => {
    const problem = checkName(req.params.name);
    if (problem) return reply.code(400).send(err(`name ${problem}`, 'name'));
    const s = d.manager.get(req.params.name);
    return s ? s : reply.code(404).send(err(`no adapter "${req.params.name}"`, 'name'));
  });

  app.put<{ Params: { name: string } }>('/v1/adapters/:name', async (req, reply) => {
    const problem = checkName(req.params.name);
    if (problem) return reply.code(400).send(err(`name ${problem}`, 'name'));
    const body = PutAdapterBody.safeParse(req.body ?? {});
    if (!body.success) {
      const i = firstIssue(body.error);
      return reply.code(400).send(err(`${i.field}: ${i.message}`, i.field));
    }
    const s = d.manager.put(req.params.name, { source: body.data.source, digest: body.data.digest });
    return reply.code(s.state === 'Loaded' || s.state === 'Failed' ? 200 : 202).send(s);
  });

  app.delete<{ Params: { name: string } }>('/v1/adapters/:name', async (req, reply) => {
    const problem = checkName(req.params.name);
    if (problem) return reply.code(400).send(err(`name ${problem}`, 'name'));
    const s = d.manager.delete(req.params.name);
    return s ? reply.code(202).send(s) : reply.code(204).send();
  });

  return app;
}
