// What staging one adapter asks of S3 (versitygw), counted on the agent's own client: a listing and
// the files, plus the 8-byte header read only for a weights file large enough for it to matter.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdapterCache } from '../../src/agent/cache.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { stageAdapter, type StagerDeps } from '../../src/agent/stager.js';
import { RequestSigner } from '../../src/storage/request-signer.js';
import { Limiter } from '../../src/util/limiter.js';
import { silentLogger } from '../../src/util/log.js';
import { digestOf, oversizedHeaderLength, readFixture, upload, type AdapterFiles } from '../agent/fixtures.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';

const BUCKET = 'adapters';

describe('S3 requests per staged adapter', () => {
  let gw: VersityGw;
  let client: S3Client;
  let root: string;
  let good: AdapterFiles;
  const seen: Array<{ command: string; range?: string }> = [];

  beforeAll(async () => {
    gw = await startVersityGw({ buckets: [BUCKET] });
    client = gw.client();
    root = await mkdtemp(join(tmpdir(), 'graft-requests-'));
    good = await readFixture('gpt2-causal-tigrinya');
    // Every request the stager sends: through the SDK (the request signer's probe of the bucket's
    // endpoint is signed, never sent), or signed by Graft (listings and ranged reads).
    client.middlewareStack.add((next, ctx) => async (args) => {
      const input = args.input as { Range?: string; Key?: string };
      if (input.Key !== 'graft-endpoint-probe') seen.push({ command: ctx.commandName as string, range: input.Range });
      return next(args);
    }, { step: 'initialize', name: 'countCommands' });
    const sign = RequestSigner.prototype.sign;
    vi.spyOn(RequestSigner.prototype, 'sign').mockImplementation(function (this: RequestSigner, bucket, req, signal) {
      seen.push({ command: req.key === undefined ? 'ListObjectsV2Command' : 'GetObjectCommand', range: req.headers?.range });
      return sign.call(this, bucket, req, signal);
    });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    client?.destroy();
    await gw?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  async function stage(name: string, source: string, maxHeaderBytes?: number) {
    const metrics = new AgentMetrics(() => [], () => 0, false);
    const cache = new AdapterCache(join(root, name), 0, silentLogger);
    await cache.init();
    const retry = { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 };
    const d: StagerDeps = {
      client, cache, limiter: new Limiter(4), partSize: 8 << 20, concurrency: 4, retry, metrics, log: silentLogger, // one part per file
      limits: { maxRank: 16, maxBytes: 1 << 30, baseModel: 'gpt2', maxHeaderBytes }, isProtected: () => false,
    };
    seen.length = 0;
    return stageAdapter(d, name, { source }, { signal: new AbortController().signal, onProgress: () => {} });
  }
  const headerReads = () => seen.filter((s) => s.command === 'GetObjectCommand' && s.range === 'bytes=0-7').length;

  it('a weights file no larger than the header cap: one listing and one GET per file, no header read', async () => {
    const source = await upload(client, BUCKET, 'req/small', good);
    const entry = await stage('small', source, good['adapter_model.safetensors']!.length);
    expect(entry.digest).toBe(digestOf(good));
    expect(headerReads()).toBe(0);
    expect(seen.filter((s) => s.command === 'ListObjectsV2Command')).toHaveLength(1);
    expect(seen.filter((s) => s.command === 'GetObjectCommand')).toHaveLength(2);
  });

  it('a bad header length in such a file is still refused before loading, with the reason the header read gave', async () => {
    const source = await upload(client, BUCKET, 'req/badlength', { ...good, 'adapter_model.safetensors': oversizedHeaderLength(good['adapter_model.safetensors']!) });
    const err = await stage('badlength', source, good['adapter_model.safetensors']!.length).catch((e: unknown) => e) as { reason?: string };
    expect(err.reason).toBe('SafetensorsHeaderTooLarge');
    expect(headerReads()).toBe(0);
  });

  it('a weights file larger than the cap: its header length is read first, and a header above the cap is refused without downloading', async () => {
    const size = good['adapter_model.safetensors']!.length;
    const cap = 2 * 1024 * 1024; // the default, below the fixture's 3.2 MB: the header read is worth it
    expect(size - 8).toBeGreaterThan(cap);
    const okSource = await upload(client, BUCKET, 'req/large', good);
    await stage('large', okSource, cap);
    expect(headerReads()).toBe(1);
    const badSource = await upload(client, BUCKET, 'req/largebad', { ...good, 'adapter_model.safetensors': oversizedHeaderLength(good['adapter_model.safetensors']!) });
    const err = await stage('largebad', badSource, cap).catch((e: unknown) => e) as { reason?: string };
    expect(err.reason).toBe('SafetensorsHeaderTooLarge');
    expect(headerReads()).toBe(1);
    expect(seen.filter((s) => s.command === 'GetObjectCommand')).toHaveLength(1); // nothing downloaded
  });
});
