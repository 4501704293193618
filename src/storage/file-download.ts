// One object to one local file: parallel ranged GETs written at their offsets, sha256 computed on
// the way (by the hash worker, from the written prefix), each part resumed from its last written
// byte after a transient failure.
import { setMaxListeners } from 'node:events';
import { open } from 'node:fs/promises';
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
  const fh = await open(d.dest, 'w');
  let hasher: OrderedHasher | undefined;
  try {
    const parts = planParts(d.size, d.partSize);
    hasher = new OrderedHasher(d.hasher.start(d.dest, d.size), parts, d.size);
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
  } catch (err) {
    hasher?.abandon();
    await fh.close();
    throw err;
  }
  await fh.close();
  return await hasher.digest();
}

async function fetchPart(d: FileDownload, fd: number, hasher: OrderedHasher, part: Part, signal: AbortSignal): Promise<void> {
  let pos = part.start;
  let attempt = 0;
  const onWritten = (n: number) => {
    pos += n;
    hasher.markWritten(part.index, pos - part.start);
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
