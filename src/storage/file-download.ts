// One object to one local file: parallel ranged GETs written at their offsets, sha256 computed on
// the way (by the hash worker, from the written prefix), each part resumed from its last written
// byte after a transient failure.
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FileHasher } from './hash-worker.js';
import type { Limiter } from '../util/limiter.js';
import { OrderedHasher } from './ordered-hasher.js';
import { planParts, type Part } from './parts.js';
import { sleepBackoff, type RetryPolicy } from './retry.js';
import { isTransientS3Error } from './s3-errors.js';
import { readRange } from './range-read.js';

export interface FileDownload {
  client: S3Client;
  bucket: string;
  key: string;
  size: number;
  etag?: string;
  dest: string;
  partSize: number;
  // Shared by every file of a download (and across downloads): bounds requests in flight.
  limiter: Limiter;
  hasher: FileHasher;
  retry: RetryPolicy;
  signal: AbortSignal;
  onBytes: (n: number) => void;
  onRetry: (err: unknown, attempt: number) => void;
}

// Files up to this size are hashed on the main thread once written, read back from the page cache
// like the worker reads them: for a file of a few kB (an adapter's config, a small adapter) the
// worker's messages cost more than the hash, and it need not be started at all.
export const INLINE_HASH_MAX = 256 * 1024;

export class BodyEndedEarlyError extends Error {
  readonly code = 'IncompleteBody';
  constructor(key: string, at: number, end: number) {
    super(`the body of ${key} ended at byte ${at}, before ${end + 1}`);
    this.name = 'BodyEndedEarlyError';
  }
}

// Downloads the file; resolves to its sha256 (hex). Parts are scheduled through the limiter, so
// a caller can start several files and the limiter decides what runs.
export async function downloadFile(d: FileDownload): Promise<string> {
  const inline = d.size <= INLINE_HASH_MAX;
  const fh = await open(d.dest, inline ? 'w+' : 'w');
  let hasher: OrderedHasher | undefined;
  let hex: string | undefined;
  try {
    const parts = planParts(d.size, d.partSize);
    hasher = inline ? undefined : new OrderedHasher(d.hasher.start(d.dest, d.size), parts, d.size);
    const h = hasher;
    const inner = new AbortController();
    setMaxListeners(0, inner.signal); // one listener per queued part and request
    const onOuterAbort = () => inner.abort(d.signal.reason);
    d.signal.addEventListener('abort', onOuterAbort, { once: true });
    try {
      const results = await Promise.allSettled(parts.map((p) => d.limiter.run(() => fetchPart(d, fh.fd, h, p, inner.signal), inner.signal)
        .catch((err: unknown) => { inner.abort(err); throw err; })));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      // The first real failure, not the aborts it caused in the other parts.
      if (failed) throw (inner.signal.reason ?? failed.reason);
    } finally {
      d.signal.removeEventListener('abort', onOuterAbort);
    }
    if (inline) hex = await hashWritten(fh, d.size, d.dest);
  } catch (err) {
    hasher?.abandon();
    await fh.close();
    throw err;
  }
  await fh.close();
  return hex ?? await hasher!.digest();
}

// sha256 of the `size` bytes on disk, read back through the same descriptor.
async function hashWritten(fh: FileHandle, size: number, path: string): Promise<string> {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const { bytesRead } = await fh.read(buf, got, size - got, got);
    if (bytesRead === 0) throw new Error(`${path} holds ${got} bytes after its download, not ${size}`);
    got += bytesRead;
  }
  return createHash('sha256').update(buf).digest('hex');
}

async function fetchPart(d: FileDownload, fd: number, hasher: OrderedHasher | undefined, part: Part, signal: AbortSignal): Promise<void> {
  let pos = part.start;
  let attempt = 0;
  const onWritten = (n: number) => {
    pos += n;
    hasher?.markWritten(part.index, pos - part.start);
    d.onBytes(n);
  };
  while (pos <= part.end) {
    const before = pos;
    try {
      // Keeps what arrived before a cut (reported through onWritten): the retry resumes after it.
      await readRange({ client: d.client, bucket: d.bucket, key: d.key, etag: d.etag, fd, start: pos, end: part.end, signal, onWritten });
      if (pos <= part.end) throw new BodyEndedEarlyError(d.key, pos, part.end);
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      if (pos > before) attempt = 0; // progress was made: only consecutive failures count
      d.onRetry(err, attempt);
      if (!isTransientS3Error(err) && !(err instanceof BodyEndedEarlyError)) throw err;
      if (attempt + 1 >= d.retry.maxAttempts) throw err;
      await sleepBackoff(attempt++, d.retry, signal);
    }
  }
}
