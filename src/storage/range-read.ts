// Bytes [start, end] of an object into a file at the same offsets: through the direct reader
// (signed by the SDK, zero-copy into the file) when the client allows it, else through the SDK's
// GetObject stream. A server whose answers the direct reader cannot take (chunked or compressed
// bodies) is read through the SDK from then on.
import type { S3Client } from '@aws-sdk/client-s3';
import { writeBody } from './body-writer.js';
import { BufferPool } from './buffer-pool.js';
import { directGet, DirectGetUnsupportedError } from './direct-get.js';
import { directReadSettings } from './s3-client.js';
import { getRange } from './s3-objects.js';
import { signGetObject } from './signed-get.js';

// Bytes per write of the direct reader. Larger writes mean fewer syscalls and callbacks; each
// stream holds two buffers.
const DIRECT_BATCH = 512 * 1024;
// Buffers kept for reuse: two per stream for up to 32 streams.
const pool = new BufferPool(DIRECT_BATCH, 64);
// The SDK's stream hands over ≤ 64 KiB chunks, gathered into one writev of about this size.
const SDK_BATCH = 256 * 1024;
const sdkOnly = new WeakSet<S3Client>();

export interface RangeRead {
  client: S3Client;
  bucket: string;
  key: string;
  etag?: string;
  fd: number;
  start: number;
  end: number; // inclusive
  signal: AbortSignal;
  onWritten: (bytes: number) => void;
}

// Resolves once the body is on disk (it may be shorter than asked: the caller checks). On failure
// what arrived first is written and reported, then it rejects.
export async function readRange(r: RangeRead): Promise<void> {
  const direct = sdkOnly.has(r.client) ? undefined : directReadSettings(r.client);
  if (direct) {
    const req = await signGetObject(r.client, { bucket: r.bucket, key: r.key, start: r.start, end: r.end, ifMatch: r.etag }, r.signal);
    try {
      await directGet(req, { fd: r.fd, start: r.start, end: r.end, buffers: pool, onWritten: r.onWritten, signal: r.signal, ...direct });
      return;
    } catch (err) {
      if (!(err instanceof DirectGetUnsupportedError)) throw err;
      sdkOnly.add(r.client); // nothing was written: read the same range through the SDK
    }
  }
  const body = await getRange(r.client, r.bucket, r.key, r.start, r.end, { signal: r.signal, ifMatch: r.etag });
  await writeBody(body, { fd: r.fd, start: r.start, limit: r.end + 1, batch: SDK_BATCH, onWritten: r.onWritten });
}
