// Stages one adapter: reuse what the cache holds, else download into a temporary folder, verify
// the digest, validate the files, and rename into place. Nothing invalid ever reaches adapters/.
// What the listing and the weights' 8-byte header length can refuse is refused before downloading.
import { rm } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AllowedSources } from '../contracts/allowed-sources.js';
import type { Logger } from '../util/log.js';
import { downloadPrefix, listRemoteFiles, type RemoteFile } from '../storage/download.js';
import type { Limiter } from '../util/limiter.js';
import type { RetryPolicy } from '../storage/retry.js';
import { s3ErrorCode } from '../storage/s3-errors.js';
import { getRange } from '../storage/s3-objects.js';
import { formatS3Uri, parseS3Uri } from '../storage/s3-uri.js';
import type { AdapterCache, CacheEntry } from './cache.js';
import { DEFAULT_MAX_HEADER_BYTES } from './config.js';
import { toAgentFailure } from './failure.js';
import type { AgentMetrics } from './metrics.js';
import { AgentFailure, type AdapterSpec } from './types.js';
import { checkListing, validateAdapterFolder, type AdapterLimits } from './validate/adapter.js';
import { checkHeaderLength } from './validate/safetensors.js';

export interface StagerDeps {
  client: S3Client;
  cache: AdapterCache;
  limiter: Limiter;
  partSize: number;
  concurrency: number;
  retry: RetryPolicy;
  limits: AdapterLimits;
  // The BaseModel's allowed sources; checked again here for specs restored from disk.
  allowedSources?: AllowedSources;
  metrics: AgentMetrics;
  log: Logger;
  // Folders that must not be evicted (wanted, or registered in the engine).
  isProtected: (e: CacheEntry) => boolean;
}

export async function stageAdapter(
  d: StagerDeps, name: string, spec: AdapterSpec,
  opts: { signal: AbortSignal; onProgress: (done: number, total: number) => void },
): Promise<CacheEntry> {
  const started = process.hrtime.bigint();
  const onS3Error = (err: unknown) => d.metrics.s3Errors.inc({ code: s3ErrorCode(err) });
  let result = 'error';
  try {
    const loc = (() => {
      try { return parseS3Uri(spec.source, 'source'); } catch (err) { throw toAgentFailure(err, 'source'); }
    })();
    if (d.allowedSources && !d.allowedSources.allows(loc)) {
      throw new AgentFailure('SourceNotAllowed', `source ${spec.source} is not under the allowed sources of this BaseModel (${d.allowedSources.describe()})`);
    }
    if (spec.digest) {
      const hit = d.cache.find(name, spec.digest);
      if (hit) {
        d.cache.touch(hit);
        result = 'cached';
        return hit;
      }
    }
    const source = formatS3Uri(loc);
    const files = await listRemoteFiles(d.client, loc, { retry: d.retry, signal: opts.signal, onError: onS3Error, maxObjects: d.limits.maxObjects })
      .catch((err: unknown) => { throw toAgentFailure(err, `listing ${source}`); });
    const same = d.cache.findMatching(name, source, files);
    if (same) {
      if (spec.digest && same.digest !== spec.digest) {
        throw new AgentFailure('DigestMismatch', `the objects under ${source} have digest ${same.digest}, not the expected ${spec.digest}`);
      }
      d.cache.touch(same);
      result = 'cached';
      return same;
    }
    checkListing(files, d.limits);
    await checkRemoteHeader(d, loc.bucket, files, opts.signal);
    const total = files.reduce((n, f) => n + f.size, 0);
    const release = await d.cache.reserve(total, d.isProtected);
    if (!release) {
      throw new AgentFailure('DiskBudgetExceeded', `staging needs ${total} bytes; the cache budget is ${d.cache.budgetBytes} bytes and everything left in it is in use`);
    }
    const tmp = await d.cache.newStagingDir(name);
    try {
      let counted = 0;
      const r = await downloadPrefix({
        client: d.client, source: loc, dest: tmp, files, partSize: d.partSize, concurrency: d.concurrency, limiter: d.limiter,
        retry: d.retry, signal: opts.signal, onS3Error,
        onProgress: (done, all) => {
          d.metrics.stagedBytes.inc({ kind: 'adapter' }, done - counted);
          counted = done;
          opts.onProgress(done, all);
        },
      }).catch((err: unknown) => { throw toAgentFailure(err, `downloading ${source}`); });
      if (spec.digest && r.digest !== spec.digest) {
        throw new AgentFailure('DigestMismatch', `the downloaded files have digest ${r.digest}, not the expected ${spec.digest}`);
      }
      const facts = await validateAdapterFolder(tmp, r.files, d.limits);
      const entry = await d.cache.commit(tmp, { name, digest: r.digest, source, bytes: r.bytes, rank: facts.rank, files: r.files });
      if (r.seconds > 0) d.metrics.stagingThroughput.observe({ kind: 'adapter' }, r.bytes / r.seconds);
      d.log.info({ adapter: name, digest: r.digest, bytes: r.bytes, seconds: Number(r.seconds.toFixed(3)), rank: facts.rank }, 'adapter staged');
      result = 'success';
      return entry;
    } finally {
      release();
      // After a successful commit the folder has moved; otherwise nothing of it may remain.
      await rm(tmp, { recursive: true, force: true });
    }
  } finally {
    d.metrics.stagingDuration.observe({ kind: 'adapter', result }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

// The weights file's 8-byte header length, read with one ranged GET before the download: a header
// above the cap is refused without fetching the file (which may be gigabytes). A file whose header
// could not exceed the cap (the whole file is no larger) is not asked: downloading it costs less
// than the request would save, and validation refuses a bad length with the same reason, reading
// the same 8 bytes from disk, before anything is loaded.
async function checkRemoteHeader(d: StagerDeps, bucket: string, files: readonly RemoteFile[], signal: AbortSignal): Promise<void> {
  const f = files.find((x) => x.path === 'adapter_model.safetensors');
  if (!f || f.size < 8) return; // validation names what is missing or short
  if (f.size - 8 <= (d.limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES)) return;
  const prefix = await (async () => {
    const body = await getRange(d.client, bucket, f.key, 0, 7, { signal, ifMatch: f.etag });
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
    return Buffer.concat(chunks);
  })().catch((err: unknown) => { throw toAgentFailure(err, `reading the header length of s3://${bucket}/${f.key}`); });
  if (prefix.length < 8) return;
  checkHeaderLength(prefix, f.size, 'adapter_model.safetensors', d.limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
}
