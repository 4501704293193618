// The agent's HTTP API (fastify). Private by default: every route needs the bearer token unless
// it is declared public (config.public: /healthz, /readyz, /metrics). Two independent checks,
// both on what the router matched, never on the raw URL (the router decodes "%76" to "v", so a
// check on the text can be walked around):
// - a root hook refuses any request whose matched route is not public, unknown routes included
//   (an unauthenticated caller gets 401 for every path, so it learns nothing about which exist);
// - the /v1 routes live in one encapsulated plugin whose own hook checks the token again.
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AllowedSources } from '../contracts/allowed-sources.js';
import { firstIssue, PutAdapterBody, PutAdapterQuery } from '../contracts/agent-api.js';
import type { Logger } from '../util/log.js';
import type { TokenFile } from './auth.js';
import { fromFrameworkError, sendError } from './errors.js';
import type { AdapterManager } from './manager.js';
import type { AgentMetrics } from './metrics.js';
import { dns1123LabelProblem } from './names.js';
import { TLS_OPTIONS, type TlsPair } from './tls.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    // Reachable without the token. Only health, readiness and metrics set it.
    public?: boolean;
  }
}

export interface ServerDeps {
  manager: AdapterManager;
  metrics: AgentMetrics;
  token: TokenFile;
  ready: () => { ready: boolean; reasons: string[] };
  allowedSources: AllowedSources;
  log: Logger;
  // TLS key and certificate (PEM); plain HTTP without.
  tls?: TlsPair;
}

// Node's limit on the request head; above it Node answers 431 before any route runs.
export const MAX_HEADER_BYTES = 16 * 1024;

const authorized = (token: TokenFile, req: FastifyRequest) => token.check(req.headers.authorization);

export function buildServer(d: ServerDeps): FastifyInstance {
  // No fastify logger: it would log request headers, bearer token included.
  const options: FastifyServerOptions = {
    logger: false,
    bodyLimit: 64 * 1024,
    // Malformed URLs are refused before routing, in the catalogue's shape.
    frameworkErrors: (e, _req, reply) => { void sendError(reply, 'BadRequest', e.message); },
  };
  // An https.Server behaves as the http one for everything here; fastify's types split on it.
  const app = (d.tls
    ? Fastify({ ...options, https: { key: d.tls.key, cert: d.tls.cert, ...TLS_OPTIONS, maxHeaderSize: MAX_HEADER_BYTES } } as FastifyServerOptions)
    : Fastify({ ...options, http: { maxHeaderSize: MAX_HEADER_BYTES } } as FastifyServerOptions)) as FastifyInstance;

  // JSON bodies only: anything else is 415.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.public === true) return;
    if (!authorized(d.token, req)) return sendError(reply, 'Unauthorized');
  });

  app.setErrorHandler(async (e: { code?: string; name?: string; statusCode?: number; message: string }, req, reply) => {
    const mapped = fromFrameworkError(e);
    if (mapped.code === 'Internal') d.log.error({ err: e, method: req.method, route: req.routeOptions.url }, 'request failed');
    return sendError(reply, mapped.code, mapped.message);
  });
  app.setNotFoundHandler(async (req, reply) => sendError(reply, 'NotFound', `no route ${req.method} ${req.url.split('?')[0]}`));

  const pub = { config: { public: true } };
  app.get('/healthz', pub, async () => ({ status: 'ok' }));
  app.get('/readyz', pub, async (_req, reply) => {
    const r = d.ready();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
  });
  app.get('/metrics', pub, async (_req, reply) => reply.header('content-type', d.metrics.registry.contentType).send(await d.metrics.registry.metrics()));

  void app.register(v1Routes(d), { prefix: '/v1' });
  return app;
}

function v1Routes(d: ServerDeps): FastifyPluginAsync {
  return async (v1) => {
    // The plugin's own guard: holds even if a route is ever marked public by mistake.
    v1.addHook('onRequest', async (req, reply) => {
      if (!authorized(d.token, req)) return sendError(reply, 'Unauthorized');
    });

    const badName = (name: string, reply: FastifyReply) => {
      const problem = dns1123LabelProblem(name);
      return problem ? sendError(reply, 'InvalidName', `name ${problem}`, 'name') : undefined;
    };

    v1.get('/adapters', async () => ({ adapters: d.manager.list() }));

    v1.get<{ Params: { name: string } }>('/adapters/:name', async (req, reply) => {
      const bad = badName(req.params.name, reply);
      if (bad) return bad;
      const s = d.manager.get(req.params.name);
      return s ? s : sendError(reply, 'AdapterNotFound', `no adapter "${req.params.name}"`, 'name');
    });

    v1.put<{ Params: { name: string } }>('/adapters/:name', async (req, reply) => {
      const bad = badName(req.params.name, reply);
      if (bad) return bad;
      const body = PutAdapterBody.safeParse(req.body ?? {});
      if (!body.success) {
        const i = firstIssue(body.error);
        return sendError(reply, 'InvalidBody', `${i.field}: ${i.message}`, i.field);
      }
      if (!d.allowedSources.allows(body.data.source)) {
        return sendError(reply, 'SourceNotAllowed', `source ${body.data.source} is not under the allowed sources of this BaseModel (${d.allowedSources.describe()}); nothing was staged`, 'source');
      }
      const query = PutAdapterQuery.safeParse(req.query ?? {});
      if (!query.success) {
        const issue = query.error.issues[0]!;
        if (issue.code === 'unrecognized_keys') return sendError(reply, 'BadRequest', `unknown query parameter "${issue.keys[0]}": PUT takes only "wait" (milliseconds to wait for the load)`, issue.keys[0]);
        const field = String(issue.path[0] ?? 'wait');
        return sendError(reply, 'BadRequest', `${field}: ${issue.code === 'invalid_type' ? 'give it once, as a whole number of milliseconds' : issue.message}`, field);
      }
      let s = d.manager.put(req.params.name, { source: body.data.source, digest: body.data.digest });
      const wait = query.data.wait ?? 0;
      if (wait > 0 && s.state !== 'Loaded' && s.state !== 'Failed') {
        // A caller that goes away stops the wait (the PUT itself has taken effect). The response's
        // close, not the request's: the request closes as soon as its body has been read.
        const gone = new AbortController();
        const onClose = () => gone.abort();
        reply.raw.once('close', onClose);
        try {
          s = (await d.manager.settled(req.params.name, wait, gone.signal)) ?? s;
        } finally {
          reply.raw.off('close', onClose);
        }
      }
      return reply.code(s.state === 'Loaded' || s.state === 'Failed' ? 200 : 202).send(s);
    });

    v1.delete<{ Params: { name: string } }>('/adapters/:name', async (req, reply) => {
      const bad = badName(req.params.name, reply);
      if (bad) return bad;
      const s = d.manager.delete(req.params.name);
      return s ? reply.code(202).send(s) : reply.code(204).send();
    });
  };
}
