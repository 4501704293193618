// `graft agent stage-base`: base weights from S3 into the cache volume with the adapter
// downloader. The destination holds the files and .graft-manifest.json; a second run with the
// same bytes in S3 (same digest, or same sizes and ETags) downloads nothing.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../util/log.js';
import { downloadPrefix, listRemoteFiles, type RemoteFile, type StagedFile } from '../storage/download.js';
import type { RetryPolicy } from '../storage/retry.js';
import { s3ErrorCode } from '../storage/s3-errors.js';
import { formatS3Uri, parseS3Uri } from '../storage/s3-uri.js';
import { MANIFEST_FILE } from './cache.js';
import type { AgentMetrics } from './metrics.js';

export interface BaseManifest {
  version: 1;
  kind: 'base';
  source: string;
  digest: string;
  bytes: number;
  stagedAt: string;
  files: StagedFile[];
}

export interface StageBaseResult {
  skipped: boolean;
  digest: string;
  bytes: number; // downloaded this run
  dest: string;
}

async function readManifest(dest: string): Promise<BaseManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dest, MANIFEST_FILE), 'utf8')) as BaseManifest;
    return m.version === 1 && m.kind === 'base' ? m : undefined;
  } catch {
    return undefined;
  }
}

function sameFiles(m: BaseManifest, remote: readonly RemoteFile[]): boolean {
  if (m.files.length !== remote.length) return false;
  const byPath = new Map(m.files.map((f) => [f.path, f]));
  return remote.every((r) => { const f = byPath.get(r.path); return !!f && f.size === r.size && !!r.etag && f.etag === r.etag; });
}

export async function stageBase(o: {
  client: S3Client; source: string; dest: string; digest?: string; partSize: number; concurrency: number;
  retry?: RetryPolicy; log: Logger; metrics?: AgentMetrics; signal?: AbortSignal;
}): Promise<StageBaseResult> {
  const loc = parseS3Uri(o.source, '--source');
  const source = formatS3Uri(loc);
  const have = await readManifest(o.dest);
  if (have && o.digest && have.digest === o.digest) {
    o.log.info({ dest: o.dest, digest: have.digest }, 'base weights already staged (same digest); nothing to download');
    return { skipped: true, digest: have.digest, bytes: 0, dest: o.dest };
  }
  const onS3Error = (err: unknown) => o.metrics?.s3Errors.inc({ code: s3ErrorCode(err) });
  const files = await listRemoteFiles(o.client, loc, { retry: o.retry, signal: o.signal, onError: onS3Error });
  if (have && have.source === source && sameFiles(have, files) && (!o.digest || have.digest === o.digest)) {
    o.log.info({ dest: o.dest, digest: have.digest }, 'base weights already staged (same files and ETags); nothing to download');
    return { skipped: true, digest: have.digest, bytes: 0, dest: o.dest };
  }

  // Download next to the destination (same file system, so the final rename is atomic).
  const parent = dirname(o.dest);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(o.dest)}.staging-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  const total = files.reduce((n, f) => n + f.size, 0);
  o.log.info({ source, dest: o.dest, files: files.length, bytes: total }, 'staging base weights');
  let lastLog = 0;
  let counted = 0;
  const started = process.hrtime.bigint();
  try {
    const r = await downloadPrefix({
      client: o.client, source: loc, dest: tmp, files, partSize: o.partSize, concurrency: o.concurrency, retry: o.retry, signal: o.signal,
      onS3Error,
      onProgress: (done, all) => {
        o.metrics?.stagedBytes.inc({ kind: 'base' }, done - counted);
        counted = done;
        const t = Date.now();
        if (t - lastLog >= 2_000 || done === all) {
          lastLog = t;
          o.log.info({ bytesDone: done, bytesTotal: all, percent: all ? Math.floor((done / all) * 100) : 100 }, 'staging progress');
        }
      },
    });
    if (o.digest && r.digest !== o.digest) throw new Error(`DigestMismatch: the downloaded base weights have digest ${r.digest}, not the expected ${o.digest}`);
    const manifest: BaseManifest = { version: 1, kind: 'base', source, digest: r.digest, bytes: r.bytes, stagedAt: new Date().toISOString(), files: r.files };
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
    // Swap: the old folder (if any) moves aside, the new one takes its name, the old one goes.
    const old = `${tmp}.old`;
    let moved = false;
    try { await rename(o.dest, old); moved = true; } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; }
    await rename(tmp, o.dest);
    if (moved) await rm(old, { recursive: true, force: true });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    o.metrics?.stagingDuration.observe({ kind: 'base', result: 'success' }, seconds);
    if (seconds > 0) o.metrics?.stagingThroughput.observe({ kind: 'base' }, r.bytes / seconds);
    o.log.info({ dest: o.dest, digest: r.digest, bytes: r.bytes, seconds: Number(seconds.toFixed(3)), mbPerSecond: Number((r.bytes / 1e6 / seconds).toFixed(1)) }, 'base weights staged');
    return { skipped: false, digest: r.digest, bytes: r.bytes, dest: o.dest };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
