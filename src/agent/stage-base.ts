// `graft agent stage-base`: base weights from S3 into the cache volume with the adapter
// downloader. The destination holds the files and .graft-manifest.json, and is only ever created
// by one rename of a finished download. Once there, a complete copy is never replaced: engines
// of running pods may be reading it (a shared cache volume), and swapping a model's files under a
// running engine is worse than serving the copy it started with. To roll out other weights,
// publish them under a new source URI: the BaseModel keys the base folder by source URI, so new
// pods get a new folder. A second run with the same bytes in S3 downloads nothing.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
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
  // The copy kept at dest differs from what the source holds now (it was not replaced).
  sourceChanged?: boolean;
  digest: string;
  bytes: number; // downloaded this run
  dest: string;
}

export class StageBaseError extends Error {
  constructor(readonly code: 'DigestMismatch' | 'ForeignFolder', message: string) {
    super(`${code}: ${message}`);
    this.name = 'StageBaseError';
  }
}

async function readManifest(dest: string): Promise<BaseManifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(dest, MANIFEST_FILE), 'utf8')) as BaseManifest;
    return m.version === 1 && m.kind === 'base' && Array.isArray(m.files) ? m : undefined;
  } catch {
    return undefined;
  }
}

// What dest holds: nothing, a complete copy (every file of its manifest there with its size), an
// incomplete one (a file missing or resized by hand), or a folder Graft did not write.
type Present = { kind: 'absent' } | { kind: 'complete' | 'incomplete'; manifest: BaseManifest; problem?: string } | { kind: 'foreign' };

async function inspect(dest: string): Promise<Present> {
  let entries: string[];
  try {
    entries = await readdir(dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  const manifest = await readManifest(dest);
  if (!manifest) return entries.length === 0 ? { kind: 'absent' } : { kind: 'foreign' };
  for (const f of manifest.files) {
    const st = await stat(join(dest, f.path)).catch(() => undefined);
    if (!st || st.size !== f.size) return { kind: 'incomplete', manifest, problem: `${f.path} is ${st ? `${st.size} bytes, not ${f.size}` : 'missing'}` };
  }
  return { kind: 'complete', manifest };
}

function sameFiles(m: BaseManifest, remote: readonly RemoteFile[]): boolean {
  if (m.files.length !== remote.length) return false;
  const byPath = new Map(m.files.map((f) => [f.path, f]));
  return remote.every((r) => { const f = byPath.get(r.path); return !!f && f.size === r.size && !!r.etag && f.etag === r.etag; });
}

const UPDATE_HINT = 'to serve other weights, publish them under a new source URI (the BaseModel keys the base folder by source URI, so new pods stage a new folder)';

export async function stageBase(o: {
  client: S3Client; source: string; dest: string; digest?: string; partSize: number; concurrency: number;
  retry?: RetryPolicy; log: Logger; metrics?: AgentMetrics; signal?: AbortSignal;
}): Promise<StageBaseResult> {
  const loc = parseS3Uri(o.source, '--source');
  const source = formatS3Uri(loc);
  const present = await inspect(o.dest);
  if (present.kind === 'foreign') {
    throw new StageBaseError('ForeignFolder', `${o.dest} exists and holds files but no ${MANIFEST_FILE} written by graft; it is left alone. Remove it, or pick another --dest`);
  }
  if (present.kind === 'complete') {
    const have = present.manifest;
    if (o.digest && have.digest === o.digest) {
      o.log.info({ dest: o.dest, digest: have.digest }, 'base weights already staged (same digest); nothing to download');
      return { skipped: true, digest: have.digest, bytes: 0, dest: o.dest };
    }
    if (o.digest) {
      throw new StageBaseError('DigestMismatch', `${o.dest} holds base weights with digest ${have.digest} (staged from ${have.source}), not the expected ${o.digest}; the copy is kept because running engines may be reading it; ${UPDATE_HINT}`);
    }
  }
  const onS3Error = (err: unknown) => o.metrics?.s3Errors.inc({ code: s3ErrorCode(err) });
  const files = await listRemoteFiles(o.client, loc, { retry: o.retry, signal: o.signal, onError: onS3Error });
  if (present.kind === 'complete') {
    const have = present.manifest;
    if (have.source === source && sameFiles(have, files)) {
      o.log.info({ dest: o.dest, digest: have.digest }, 'base weights already staged (same files and ETags); nothing to download');
      return { skipped: true, digest: have.digest, bytes: 0, dest: o.dest };
    }
    o.log.warn({ dest: o.dest, digest: have.digest, stagedFrom: have.source, source },
      `the source no longer holds what ${o.dest} was staged from; keeping the staged copy, since running engines may be reading it; ${UPDATE_HINT}`);
    return { skipped: true, sourceChanged: true, digest: have.digest, bytes: 0, dest: o.dest };
  }
  if (present.kind === 'incomplete') {
    o.log.warn({ dest: o.dest, problem: present.problem }, 'the staged base weights are incomplete (changed by hand?); staging them again');
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
    if (o.digest && r.digest !== o.digest) throw new StageBaseError('DigestMismatch', `the downloaded base weights have digest ${r.digest}, not the expected ${o.digest}`);
    const manifest: BaseManifest = { version: 1, kind: 'base', source, digest: r.digest, bytes: r.bytes, stagedAt: new Date().toISOString(), files: r.files };
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
    await putInPlace(tmp, o.dest, present.kind === 'incomplete', o.log);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    o.metrics?.stagingDuration.observe({ kind: 'base', result: 'success' }, seconds);
    if (seconds > 0) o.metrics?.stagingThroughput.observe({ kind: 'base' }, r.bytes / seconds);
    o.log.info({ dest: o.dest, digest: r.digest, bytes: r.bytes, seconds: Number(seconds.toFixed(3)), mbPerSecond: Number((r.bytes / 1e6 / seconds).toFixed(1)) }, 'base weights staged');
    return { skipped: false, digest: r.digest, bytes: r.bytes, dest: o.dest };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// Renames the finished download to dest. An incomplete copy is moved aside first (nothing can be
// serving from it correctly). When another pod's init step put a complete copy there first (a
// shared volume), that one stays and this download is dropped.
async function putInPlace(tmp: string, dest: string, replaceIncomplete: boolean, log: Logger): Promise<void> {
  const aside = `${tmp}.incomplete`;
  if (replaceIncomplete) await rename(dest, aside);
  else await rmdir(dest).catch(() => {}); // an empty folder (a mount point made early) gives way
  try {
    await rename(tmp, dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    const now = await inspect(dest);
    if (now.kind !== 'complete') throw err;
    log.info({ dest, digest: now.manifest.digest }, 'another stage-base finished first; keeping its copy');
  } finally {
    if (replaceIncomplete) await rm(aside, { recursive: true, force: true });
  }
}
