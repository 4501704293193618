// Bytes [start, end] of an object into a file at the same offsets: through the direct reader
// (signed by request-signer.ts with what the SDK resolved for the bucket, zero-copy into the file) when the client allows it, else through the SDK's
// GetObject stream. A server whose answers the direct reader cannot take (chunked or compressed
// bodies) is read through the SDK from then on.
import type { S3Client } from '@aws-sdk/client-s3';
import { writeBody } from './body-writer.js';
import { BufferPool } from './buffer-pool.js';
import { write } from 'node:fs';
import { promisify } from 'node:util';
import { directGet, DirectGetUnsupportedError, RangeMismatchError } from './direct-get.js';
import { rangeStartOf } from './http-head.js';
import type { SignedGet } from './signed-get.js';
import { directReadSettings, keepAliveAgents, type DirectReadSettings } from './s3-client.js';
import { smallGet, type KeepAliveAgents } from './small-get.js';
import { getRange } from './s3-objects.js';
import { requestSigner } from './request-signer.js';
import { signGetObject } from './signed-get.js';

// Bytes per write of the direct reader. Larger writes mean fewer syscalls and callbacks; each
// stream holds two buffers.
const DIRECT_BATCH = 512 * 1024;
// Buffers kept for reuse: two per stream for up to 32 streams.
const pool = new BufferPool(DIRECT_BATCH, 64);
// The SDK's stream hands over ≤ 64 KiB chunks, gathered into one writev of about this size.
const SDK_BATCH = 256 * 1024;
const sdkOnly = new WeakSet<S3Client>();
// Ranges up to this size are read over the client's keep-alive sockets into memory, then written
// at once: for a small file a connection of its own costs more than the zero-copy path saves.
export const SMALL_RANGE_MAX = 256 * 1024;
const pwrite = promisify(write);

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
    const headers: Record<string, string> = { range: `bytes=${r.start}-${r.end}` };
    if (r.etag) headers['if-match'] = r.etag;
    const req = await requestSigner(r.client).sign(r.bucket, { key: r.key, headers }, r.signal)
      ?? await signGetObject(r.client, { bucket: r.bucket, key: r.key, start: r.start, end: r.end, ifMatch: r.etag }, r.signal);
    const agents = keepAliveAgents(r.client);
    try {
      if (agents && r.end - r.start + 1 <= SMALL_RANGE_MAX) await smallRead(req, r, agents, direct);
      else await directGet(req, { fd: r.fd, start: r.start, end: r.end, buffers: pool, onWritten: r.onWritten, signal: r.signal, ...direct });
      return;
    } catch (err) {
      if (!(err instanceof DirectGetUnsupportedError)) throw err;
      sdkOnly.add(r.client); // nothing was written: read the same range through the SDK
    }
  }
  const body = await getRange(r.client, r.bucket, r.key, r.start, r.end, { signal: r.signal, ifMatch: r.etag });
  await writeBody(body, { fd: r.fd, start: r.start, limit: r.end + 1, batch: SDK_BATCH, onWritten: r.onWritten });
}

// The same checks as the direct reader: the answer starts where asked and holds no more than asked;
// a compressed body goes to the SDK.
async function smallRead(req: SignedGet, r: RangeRead, agents: KeepAliveAgents, direct: DirectReadSettings): Promise<void> {
  const want = r.end - r.start + 1;
  const res = await smallGet(req, {
    agents, limit: want + 1, idleTimeoutMs: direct.idleTimeoutMs, signal: r.signal,
    onHead: (status, headers) => {
      const ce = headers['content-encoding'];
      if (ce !== undefined && ce !== '' && ce.toLowerCase() !== 'identity') throw new DirectGetUnsupportedError(`Content-Encoding ${ce}`);
      if (status === 206) {
        const first = rangeStartOf(headers['content-range']);
        if (first !== r.start) throw new RangeMismatchError(`asked for bytes from ${r.start}, the answer starts at ${first ?? 'an unknown offset'}`);
      } else if (status !== 200 || r.start !== 0) {
        throw new RangeMismatchError(`asked for bytes ${r.start}-${r.end}, got status ${status} without a range`);
      }
    },
  });
  if (res.body.length > want) throw new RangeMismatchError(`asked for ${want} bytes, the answer holds more`);
  let done = 0;
  while (done < res.body.length) {
    const { bytesWritten } = await pwrite(r.fd, res.body, done, res.body.length - done, r.start + done);
    done += bytesWritten;
  }
  if (done > 0) r.onWritten(done);
}
