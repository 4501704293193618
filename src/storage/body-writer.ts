// Streams one HTTP response body into a file at an offset. Socket reads (≤ 64 KiB) are gathered
// into writes of about `batch` bytes (one writev each), the body is paused while a write is in
// flight and a full batch waits, and chunks arrive through 'data' events: no promise per chunk.
import { writev, write } from 'node:fs';
import { finished, type Readable } from 'node:stream';

export interface BodyWrite {
  fd: number;
  start: number; // file offset of the body's first byte
  limit: number; // the body must not reach past this offset (exclusive)
  batch: number;
  // After each completed write: `bytes` more are on disk, contiguous from `start`.
  onWritten: (bytes: number) => void;
}

export class BodyTooLongError extends Error {
  constructor(limit: number) {
    super(`the server sent more bytes than asked for (past offset ${limit})`);
    this.name = 'BodyTooLongError';
  }
}

// Resolves with the bytes written once the body has ended and every byte is on disk. On failure
// (of the body or of a write) what arrived before it is still written, reported through
// onWritten, and then the promise rejects with the first error.
export function writeBody(body: Readable, o: BodyWrite): Promise<number> {
  return new Promise((resolve, reject) => {
    let pos = o.start;
    let chunks: Buffer[] = [];
    let queued = 0;
    let writing = false;
    let done = false; // the body has ended or failed
    let failure: unknown;
    let settled = false;

    const settle = () => {
      if (settled || writing || !done || queued > 0) return;
      settled = true;
      body.off('data', onData);
      if (failure !== undefined) reject(failure);
      else resolve(pos - o.start);
    };

    const flush = () => {
      const bufs = chunks;
      const len = queued;
      chunks = [];
      queued = 0;
      if (pos + len > o.limit) {
        failure ??= new BodyTooLongError(o.limit);
        done = true;
        body.destroy();
        settle();
        return;
      }
      writing = true;
      writeAll(o.fd, bufs, pos, len, (err) => {
        writing = false;
        if (err) {
          failure ??= err;
          done = true;
          chunks = [];
          queued = 0;
          body.destroy();
        } else {
          pos += len;
          o.onWritten(len);
        }
        if (queued >= o.batch || (done && queued > 0)) flush();
        else if (done) settle();
        else body.resume();
      });
    };

    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      queued += chunk.length;
      if (queued >= o.batch) {
        body.pause();
        if (!writing) flush();
      }
    };

    body.on('data', onData);
    finished(body, (err) => {
      if (err && failure === undefined) failure = err;
      done = true;
      if (writing) return; // the write's callback carries on
      if (queued > 0) flush(); // after a cut too: keep what arrived before it
      else settle();
    });
  });
}

// One writev (or write for a single buffer) at `pos`, finishing short writes, which are rare
// (a full disk raises instead) but legal.
function writeAll(fd: number, bufs: Buffer[], pos: number, len: number, cb: (err: Error | null) => void): void {
  const after = (err: Error | null, n: number) => {
    if (err) return cb(err);
    if (n >= len) return cb(null);
    const rest = Buffer.concat(bufs, len).subarray(n);
    writeAll(fd, [rest], pos + n, rest.length, cb);
  };
  if (bufs.length === 1) write(fd, bufs[0]!, 0, len, pos, after);
  else writev(fd, bufs, pos, after);
}
