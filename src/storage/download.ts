// Downloads everything under an s3:// prefix into a local folder and returns its manifest and
// digest. Parallel ranged GETs (shared limiter), sha256 on the way (in a worker thread), resume after
// transient errors.
import { setMaxListeners } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { downloadFile } from './file-download.js';
import { sharedHasher, type FileHasher } from './hash-worker.js';
import { Limiter } from '../util/limiter.js';
import { comparePaths, manifestDigest, type ManifestEntry } from './manifest.js';
import { relativePathOf } from './rel-path.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.js';
import { isTransientS3Error } from './s3-errors.js';
import { listObjects } from './s3-objects.js';

export { TooManyObjectsError } from './s3-objects.js';
import { folderPrefix, type S3Location } from './s3-uri.js';

export const DEFAULT_PART_SIZE = 16 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 16;

// One remote file to fetch: where it is and where it goes.
export interface RemoteFile {
  key: string;
  path: string; // relative path in the destination folder
  size: number;
  etag?: string;
}

export interface StagedFile extends ManifestEntry {
  etag?: string;
}

export interface DownloadResult {
  files: StagedFile[]; // sorted by path
  digest: string;
  bytes: number;
  seconds: number;
}

export class SourceEmptyError extends Error {
  readonly code = 'SourceEmpty';
  constructor(uri: string) {
    super(`nothing found under ${uri}`);
    this.name = 'SourceEmptyError';
  }
}

// Lists the prefix (retrying transient errors) and maps keys to safe relative paths.
export async function listRemoteFiles(
  client: S3Client, source: S3Location,
  opts: { retry?: RetryPolicy; signal?: AbortSignal; onError?: (err: unknown) => void; maxObjects?: number } = {},
): Promise<RemoteFile[]> {
  const prefix = folderPrefix(source.prefix);
  const objects = await withRetry(() => listObjects(client, source.bucket, prefix, opts.signal, opts.maxObjects), {
    policy: opts.retry ?? DEFAULT_RETRY, isTransient: isTransientS3Error, signal: opts.signal, onError: (e) => opts.onError?.(e),
  });
  const files: RemoteFile[] = [];
  for (const o of objects) {
    const path = relativePathOf(prefix, o.key);
    if (path === null) continue;
    files.push({ key: o.key, path, size: o.size, etag: o.etag });
  }
  files.sort((a, b) => comparePaths(a.path, b.path));
  // a/b as a file and a/b/c below it cannot both exist on disk.
  const paths = new Set(files.map((f) => f.path));
  for (const f of files) {
    const segs = f.path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const parent = segs.slice(0, i).join('/');
      if (paths.has(parent)) throw new Error(`object key "${f.key}" lies below "${parent}", which is itself an object`);
    }
  }
  if (files.length === 0) throw new SourceEmptyError(`s3://${source.bucket}/${prefix}`);
  return files;
}

export interface DownloadOptions {
  client: S3Client;
  source: S3Location;
  dest: string; // an existing, empty folder
  files?: RemoteFile[]; // already listed; listed here when absent
  partSize?: number;
  concurrency?: number;
  // Share one limiter between downloads to bound requests for the whole process.
  limiter?: Limiter;
  // The threads that compute sha256s; the process-wide pool when absent.
  hasher?: FileHasher;
  retry?: RetryPolicy;
  signal?: AbortSignal;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  // Every failed S3 request, retried or not (for metrics).
  onS3Error?: (err: unknown) => void;
}

export async function downloadPrefix(o: DownloadOptions): Promise<DownloadResult> {
  const started = process.hrtime.bigint();
  const signal = o.signal ?? new AbortController().signal;
  const retry = o.retry ?? DEFAULT_RETRY;
  const files = o.files ?? await listRemoteFiles(o.client, o.source, { retry, signal, onError: o.onS3Error });
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  const limiter = o.limiter ?? new Limiter(concurrency);
  const partSize = o.partSize ?? DEFAULT_PART_SIZE;
  const hasher = o.hasher ?? sharedHasher();
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  const onBytes = (n: number) => {
    done += n;
    o.onProgress?.(done, total);
  };

  const dirs = new Set(files.map((f) => dirname(join(o.dest, f.path))));
  for (const d of dirs) await mkdir(d, { recursive: true });

  const sha = new Map<string, string>();
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  const onOuterAbort = () => abort.abort(signal.reason);
  signal.addEventListener('abort', onOuterAbort, { once: true });
  // Files are opened by a pool about as wide as the request limit; their parts then queue on the
  // shared limiter, so one large file still gets every request slot.
  let nextFile = 0;
  let failure: unknown;
  const worker = async () => {
    while (!abort.signal.aborted && nextFile < files.length) {
      const f = files[nextFile++]!;
      try {
        sha.set(f.path, await downloadFile({
          client: o.client, bucket: o.source.bucket, key: f.key, size: f.size, etag: f.etag,
          dest: join(o.dest, f.path), partSize, limiter, hasher, retry, signal: abort.signal,
          onBytes, onRetry: (err) => o.onS3Error?.(err),
        }));
      } catch (err) {
        if (failure === undefined) failure = err;
        abort.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(files.length, Math.max(concurrency, 1)) }, worker));
  } finally {
    signal.removeEventListener('abort', onOuterAbort);
  }
  if (failure !== undefined) throw signal.aborted ? (signal.reason ?? failure) : failure;

  const staged: StagedFile[] = files.map((f) => ({ path: f.path, size: f.size, sha256: sha.get(f.path)!, etag: f.etag }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { files: staged, digest: manifestDigest(staged), bytes: total, seconds };
}
