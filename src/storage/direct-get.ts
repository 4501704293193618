// One signed ranged GET on its own connection, its body written into a file at the range's
// offset. Over plain TCP with no copy in user space: the socket reads straight into one of two
// write buffers (net `onread`), a full buffer is written with one pwrite while the other fills, and
// reading pauses when both are busy. Compared with the SDK's streams this saves a copy, an
// allocation and several callbacks per 64 KiB, and most of the garbage collection they cause.
// Over TLS the decrypted 'data' chunks are copied into the same buffers: Node's TLS layer copies
// anyway, and it keeps delivering already-decrypted bytes after a read callback asks it to stop,
// so `onread` cannot pause it safely.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { write } from 'node:fs';
import type { BufferPool } from './buffer-pool.js';
import { DnsCache } from './dns-cache.js';
import { contentLength, contentRangeStart, HttpProtocolError, parseResponseHead, type ResponseHead } from './http-head.js';
import { s3ResponseError } from './s3-response-error.js';
import type { SignedGet } from './signed-get.js';

const MAX_ERROR_BODY = 64 * 1024;
const dns = new DnsCache();
// The latest TLS session per endpoint: later connections resume it and skip the full handshake.
const tlsSessions = new Map<string, Buffer>();
// Reads after the end of the body land here; any byte there is a protocol error.
const SCRATCH = Buffer.alloc(256);

export interface DirectGetOptions {
  fd: number;
  start: number; // the range's first byte: the file offset of the body's first byte
  end: number; // the range's last byte, inclusive
  buffers: BufferPool;
  onWritten: (bytes: number) => void; // after each write: `bytes` more are on disk, contiguous from `start`
  signal: AbortSignal;
  connectTimeoutMs: number;
  idleTimeoutMs: number; // no byte for this long: the request fails with TimeoutError
  tls?: ConnectionOptions; // extra TLS settings (a private CA); the system's trust store otherwise
}

// The answer is framed in a way this reader does not handle (chunked, compressed): the caller
// reads it through the SDK instead.
export class DirectGetUnsupportedError extends Error {
  constructor(why: string) {
    super(`the ranged reader cannot take this answer: ${why}`);
    this.name = 'DirectGetUnsupportedError';
  }
}

export class RangeMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RangeMismatchError';
  }
}

function netError(message: string, code: string, name = 'Error'): Error {
  return Object.assign(new Error(message), { code, name });
}

// Resolves once the whole body is on disk. On failure, what arrived before it is still written
// (and reported through onWritten), then the promise rejects with the first error.
export function directGet(req: SignedGet, o: DirectGetOptions): Promise<void> {
  let head = `GET ${req.target} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(req.headers)) {
    // An ETag from a listing ends up in If-Match: refuse anything that could split the request.
    if (/[\r\n\0]/.test(k) || /[\r\n\0]/.test(v)) return Promise.reject(new Error(`header ${JSON.stringify(k)} holds a line break`));
    if (k.toLowerCase() !== 'connection') head += `${k}: ${v}\r\n`;
  }
  head += 'connection: close\r\n\r\n';
  const want = o.end - o.start + 1;

  return new Promise<void>((resolve, reject) => {
    let cur = o.buffers.take(); // filling
    let other: Buffer | null = o.buffers.take(); // free, or null while `inflight`
    let inflight: Buffer | null = null;
    let fill = 0;
    let phase: 'head' | 'body' | 'error' | 'done' = 'head';
    let status = 0;
    let requestId: string | undefined;
    let errorLength: number | undefined;
    let left = 0; // body bytes still to read
    let pos = o.start; // file offset of cur[0]
    let paused = false;
    let stash: Buffer | null = null; // TLS: the rest of a chunk that arrived while both buffers were busy
    let ended = false; // the server closed its side
    let failure: unknown;
    let keep = true; // write what arrived before a failure
    let settled = false;

    const nextBuffer = (): Buffer => {
      if (phase === 'done' || failure !== undefined || (phase === 'body' && left === 0)) return SCRATCH;
      // Paused: reading resumes once `inflight` is written, and that buffer is then the one filling.
      const into = paused ? inflight! : cur;
      const from = paused ? 0 : fill;
      return phase === 'body' ? into.subarray(from, from + Math.min(into.length - from, left)) : into.subarray(from);
    };

    const settle = () => {
      if (settled || inflight) return;
      if (failure !== undefined && keep && phase === 'body' && fill > 0) return send();
      settled = true;
      cleanup();
      o.buffers.give(cur);
      if (other) o.buffers.give(other);
      if (failure !== undefined) reject(failure);
      else resolve();
    };

    const fail = (err: unknown, keepWhatArrived = true) => {
      if (failure === undefined) failure = err;
      if (!keepWhatArrived) keep = false;
      sock.destroy();
      settle();
    };

    // Writes cur (fill bytes at pos) and swaps in the free buffer.
    const send = () => {
      const buf = cur;
      const len = fill;
      const at = pos;
      inflight = buf;
      cur = other!;
      other = null;
      fill = 0;
      pos += len;
      writeFull(o.fd, buf, len, at, (err) => {
        inflight = null;
        other = buf;
        if (err) return fail(err, false);
        o.onWritten(len);
        if (failure !== undefined) return settle();
        if (phase === 'body' && (fill === cur.length || (left === 0 && fill > 0))) send();
        if (paused) {
          paused = false;
          const rest = stash;
          stash = null;
          if (rest) onChunk(rest);
          if (!paused) sock.resume();
          if (ended && !stash) onEnd();
        }
        if (phase === 'body' && left === 0 && fill === 0 && !inflight) {
          phase = 'done';
          sock.destroy();
          settle();
        }
      });
    };

    const onHead = (h: ResponseHead) => {
      status = h.status;
      requestId = h.headers.get('x-amz-request-id');
      const bodyBytes = fill - h.length;
      cur.copyWithin(0, h.length, fill);
      fill = bodyBytes;
      if (status < 200 || status > 299) {
        phase = 'error';
        errorLength = contentLength(h);
        return;
      }
      const te = h.headers.get('transfer-encoding');
      const ce = h.headers.get('content-encoding');
      const length = contentLength(h);
      if (te !== undefined && te.toLowerCase() !== 'identity') throw new DirectGetUnsupportedError(`Transfer-Encoding ${te}`);
      if (ce !== undefined && ce.toLowerCase() !== 'identity' && ce !== '') throw new DirectGetUnsupportedError(`Content-Encoding ${ce}`);
      if (length === undefined) throw new DirectGetUnsupportedError('no Content-Length');
      if (status === 206) {
        const first = contentRangeStart(h);
        if (first !== o.start) throw new RangeMismatchError(`asked for bytes from ${o.start}, the answer starts at ${first ?? 'an unknown offset'}`);
      } else if (status !== 200 || o.start !== 0) {
        throw new RangeMismatchError(`asked for bytes ${o.start}-${o.end}, got status ${status} without a range`);
      }
      if (length > want) throw new RangeMismatchError(`asked for ${want} bytes, the answer holds ${length}`);
      if (bodyBytes > length) throw new HttpProtocolError('more bytes after the head than its Content-Length');
      left = length - bodyBytes;
      phase = 'body';
    };

    const finishError = () => {
      const body = cur.toString('utf8', 0, Math.min(fill, MAX_ERROR_BODY));
      phase = 'done';
      fill = 0;
      fail(s3ResponseError(status, body, requestId), false);
    };

    const onRead = (n: number): boolean => {
      if (paused) { // libuv stops reading inside the callback that returns false: never expected
        fail(new Error('read into a buffer being written'), false);
        return false;
      }
      if (failure !== undefined || phase === 'done') {
        fail(new HttpProtocolError('bytes after the end of the answer'), false);
        return false;
      }
      try {
        fill += n;
        if (phase === 'head') {
          const h = parseResponseHead(cur.subarray(0, fill));
          if (h === null) return true;
          onHead(h);
        } else if (phase === 'body') {
          left -= n;
        }
        if (phase === 'error') {
          if (fill < Math.min(errorLength ?? MAX_ERROR_BODY, MAX_ERROR_BODY, cur.length)) return true;
          finishError();
          return false;
        }
        if (fill === cur.length || (left === 0 && fill > 0)) {
          if (inflight) {
            paused = true;
            return false;
          }
          send();
        } else if (left === 0 && !inflight) {
          phase = 'done';
          sock.destroy();
          settle();
        }
        return true;
      } catch (err) {
        fail(err, false);
        return false;
      }
    };

    // TLS: copies a decrypted chunk into the buffers, as if the socket had read it there.
    const onChunk = (chunk: Buffer) => {
      if (paused) { // not expected after pause(), but never write into a buffer in flight
        stash = stash ? Buffer.concat([stash, chunk]) : chunk;
        return;
      }
      for (let off = 0; off < chunk.length;) {
        const into = nextBuffer();
        const n = Math.min(into.length, chunk.length - off);
        chunk.copy(into, 0, off, off + n);
        off += n;
        if (!onRead(n)) {
          if (paused) {
            if (off < chunk.length) stash = chunk.subarray(off);
            sock.pause();
          }
          return;
        }
      }
    };

    const onEnd = () => {
      ended = true;
      if (stash) return; // bytes still to take in; the write callback comes back here
      if (phase === 'error') return finishError();
      if (phase === 'body' && left === 0) return; // all read; the last write is still landing
      if (phase !== 'done' && failure === undefined) {
        fail(netError(`the connection closed ${phase === 'head' ? 'before the answer' : `with ${left} bytes of the body still to come`}`, 'ERR_STREAM_PREMATURE_CLOSE'));
      }
    };
    const onError = (err: Error) => fail(err);
    const onTimeout = () => fail(netError(`${sock.connecting ? 'could not connect to' : 'no bytes from'} ${req.host}:${req.port} in time`, 'ETIMEDOUT', 'TimeoutError'));
    const onAbort = () => fail(o.signal.reason, false);

    const endpoint = `${req.host}:${req.port}`;
    const sock: Socket = req.tls
      ? tlsConnect({
        ...o.tls, host: req.host, port: req.port, lookup: dns.lookup,
        servername: isIP(req.host) ? undefined : req.host, ALPNProtocols: ['http/1.1'], session: tlsSessions.get(endpoint),
      }).on('session', (session: Buffer) => { tlsSessions.set(endpoint, session); }).on('data', onChunk)
      : netConnect({ host: req.host, port: req.port, lookup: dns.lookup, onread: { buffer: nextBuffer, callback: onRead } });
    const cleanup = () => {
      o.signal.removeEventListener('abort', onAbort);
      sock.off('timeout', onTimeout);
    };
    sock.setNoDelay(true);
    // The connect timeout until connected, then the idle timeout (the timer restarts on every read).
    sock.setTimeout(o.connectTimeoutMs);
    sock.once('connect', () => sock.setTimeout(o.idleTimeoutMs));
    sock.on('timeout', onTimeout);
    sock.on('error', onError);
    sock.on('end', onEnd);
    sock.on('close', onEnd);
    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener('abort', onAbort, { once: true });
    sock.write(head);
  });
}

// One pwrite of `len` bytes at `pos`, finishing short writes (rare: a full disk raises instead).
function writeFull(fd: number, buf: Buffer, len: number, pos: number, cb: (err: Error | null) => void, off = 0): void {
  write(fd, buf, off, len - off, pos + off, (err, n) => {
    if (err) return cb(err);
    if (off + n >= len) return cb(null);
    writeFull(fd, buf, len, pos, cb, off + n);
  });
}
