// Wires the agent together from its configuration and runs it until stopped.
import type { Server as TlsServer } from 'node:tls';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../util/log.js';
import { Limiter } from '../util/limiter.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../storage/retry.js';
import { createS3Client, type S3Settings } from '../storage/s3-client.js';
import { TokenFile } from './auth.js';
import { AdapterCache } from './cache.js';
import type { AgentConfig } from './config.js';
import { createEngineClient } from './engines/index.js';
import type { EngineClient } from './engines/types.js';
import { ADAPTER_RETRY, AdapterManager } from './manager.js';
import { AgentMetrics } from './metrics.js';
import { SecretFile } from './secret-file.js';
import { buildServer } from './server.js';
import { readTlsPair, TLS_OPTIONS, watchTlsPair } from './tls.js';

export interface RunningAgent {
  url: string;
  manager: AdapterManager;
  metrics: AgentMetrics;
  stop(): Promise<void>;
}

export async function startAgent(
  config: AgentConfig, s3: S3Settings, log: Logger,
  overrides: { client?: S3Client; engine?: EngineClient; retry?: RetryPolicy; defaultMetrics?: boolean; tlsRecheckMs?: number; adapterRetry?: RetryPolicy } = {},
): Promise<RunningAgent> {
  const token = new TokenFile(config.tokenFile);
  const tls = config.tlsCertFile && config.tlsKeyFile ? await readTlsPair(config.tlsCertFile, config.tlsKeyFile) : undefined;
  const engineKey = config.engineKeyFile ? new SecretFile(config.engineKeyFile, 'engine API key') : undefined;
  const client = overrides.client ?? createS3Client({ ...s3, maxSockets: Math.max(s3.maxSockets, config.concurrency) });
  const engine = overrides.engine ?? createEngineClient(config.engine, { url: config.engineUrl, apiKey: engineKey && (() => engineKey.get()) });
  const retry = overrides.retry ?? DEFAULT_RETRY;
  const adapterRetry = overrides.adapterRetry ?? { ...ADAPTER_RETRY, maxAttempts: config.maxAttempts };
  let manager: AdapterManager | undefined;
  let cache: AdapterCache | undefined;
  const metrics = new AgentMetrics(() => manager?.states() ?? [], () => cache?.usedBytes() ?? 0, overrides.defaultMetrics ?? true);
  cache = new AdapterCache(config.cacheDir, config.diskBudget, log.child({ component: 'cache' }), () => metrics.evictions.inc());
  await cache.init();
  manager = new AdapterManager({
    engine, cache, metrics, log: log.child({ component: 'manager' }), reconcileIntervalMs: config.reconcileInterval, retry: adapterRetry,
    stager: {
      client, limiter: new Limiter(config.concurrency), partSize: config.partSize, concurrency: config.concurrency, retry, metrics,
      log: log.child({ component: 'stager' }),
      allowedSources: config.allowedSources,
      limits: {
        maxRank: config.maxLoraRank, baseModel: config.baseModel, maxBytes: config.maxAdapterBytes,
        maxHeaderBytes: config.maxHeaderBytes, maxConfigBytes: config.maxConfigBytes, maxObjects: config.maxObjects,
      },
    },
  });
  const mgr = manager;
  const app = buildServer({
    manager: mgr, metrics, token, tls, allowedSources: config.allowedSources, log: log.child({ component: 'api' }),
    ready: () => {
      const reasons: string[] = [];
      if (!mgr.engineReachable) reasons.push(`engine ${config.engine} at ${config.engineUrl} is not usable${mgr.engineProblem ? `: ${mgr.engineProblem}` : ''}`);
      return { ready: reasons.length === 0, reasons };
    },
  });
  await mgr.start();
  await app.listen({ host: config.host, port: config.port });
  const stopTlsWatch = tls && config.tlsCertFile && config.tlsKeyFile
    ? watchTlsPair(config.tlsCertFile, config.tlsKeyFile, tls, (p) => (app.server as unknown as TlsServer).setSecureContext({ ...p, ...TLS_OPTIONS }), log.child({ component: 'tls' }), overrides.tlsRecheckMs)
    : () => {};
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  log.info({
    host: config.host, port, tls: !!tls, engine: config.engine, engineUrl: config.engineUrl, engineApiKey: !!engineKey, cacheDir: config.cacheDir,
    allowedSources: config.allowedSources.describe(), s3: { endpoint: s3.endpoint, region: s3.region, forcePathStyle: s3.forcePathStyle },
  }, 'graft agent listening');
  return {
    url: `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    manager: mgr,
    metrics,
    async stop() {
      stopTlsWatch();
      await app.close();
      await mgr.stop();
      if (!overrides.client) client.destroy();
    },
  };
}
