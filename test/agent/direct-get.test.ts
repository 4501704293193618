// The direct ranged reader against a scripted HTTP server on loopback: what it writes, and how it
// fails.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/storage/buffer-pool.js';
import { directGet, DirectGetUnsupportedError, RangeMismatchError } from '../../src/storage/direct-get.js';
import { isTransientS3Error, s3ErrorCode } from '../../src/storage/s3-errors.js';
import type { SignedGet } from '../../src/storage/signed-get.js';

type Script = (sock: Socket, request: string) => void;

let server: Server;
let port: number;
let script: Script;
let dir: string;
let fh: FileHandle;
let requests: string[];
const pool = new BufferPool(64 * 1024, 4); // small buffers: many writes and pauses

beforeAll(async () => {
  server = createServer((sock) => {
    let got = '';
    sock.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        requests.push(got);
        script(sock, got);
        got = '';
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  dir = await mkdtemp(join(tmpdir(), 'graft-direct-'));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  requests = [];
  fh = await open(join(dir, 'f'), 'w+');
});
afterEach(async () => {
  await fh.close();
});

const req = (headers: Record<string, string> = {}): SignedGet => ({
  tls: false, host: '127.0.0.1', port, target: '/b/k?x-id=GetObject', headers: { host: `127.0.0.1:${port}`, authorization: 'AWS4-HMAC-SHA256 sig', ...headers },
});

function get(start: number, end: number, opts: { signal?: AbortSignal; idleTimeoutMs?: number; headers?: Record<string, string> } = {}) {
  let written = 0;
  const done = directGet(req(opts.headers), {
    fd: fh.fd, start, end, buffers: pool, onWritten: (n) => { written += n; },
    signal: opts.signal ?? new AbortController().signal, connectTimeoutMs: 2_000, idleTimeoutMs: opts.idleTimeoutMs ?? 5_000,
  });
  return { done, written: () => written };
}

const partial = (data: Buffer, start: number, total: number) =>
  `HTTP/1.1 206 Partial Content\r\nContent-Length: ${data.length}\r\nContent-Range: bytes ${start}-${start + data.length - 1}/${total}\r\n\r\n`;

// Sends `data` in pieces of irregular size with pauses, as a network would.
async function trickle(sock: Socket, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length;) {
    const n = Math.min(data.length - off, 1 + Math.floor(Math.random() * 200_000));
    if (!sock.write(data.subarray(off, off + n))) await new Promise((r) => sock.once('drain', r));
    off += n;
    if (Math.random() < 0.2) await new Promise((r) => setTimeout(r, 1));
  }
}

describe('directGet', () => {
  it('writes the body at the range offset, every byte, and sends the signed headers', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const start = 1000;
    script = (sock) => {
      void (async () => {
        sock.write(partial(data, start, start + data.length));
        await trickle(sock, data);
      })();
    };
    const g = get(start, start + data.length - 1);
    await g.done;
    expect(g.written()).toBe(data.length);
    const file = await readFile(join(dir, 'f'));
    expect(file.subarray(start).equals(data)).toBe(true);
    expect(requests[0]).toMatch(/^GET \/b\/k\?x-id=GetObject HTTP\/1\.1\r\n/);
    expect(requests[0]).toContain('authorization: AWS4-HMAC-SHA256 sig\r\n');
    expect(requests[0]).toContain('connection: close\r\n');
  });

  it('takes body bytes that arrive with the head, and a whole-object 200 for a range from 0', async () => {
    const data = randomBytes(1000);
    script = (sock) => sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data]));
    const g = get(0, data.length - 1);
    await g.done;
    expect((await readFile(join(dir, 'f'))).equals(data)).toBe(true);
  });

  it('keeps what arrived before the connection was cut, and the error is transient', async () => {
    const data = randomBytes(300_000);
    script = (sock) => {
      void (async () => {
        sock.write(partial(data, 0, 1_000_000).replace(`Content-Length: ${data.length}`, 'Content-Length: 1000000'));
        await trickle(sock, data);
        sock.destroy();
      })();
    };
    const g = get(0, 999_999);
    const err = await g.done.catch((e: unknown) => e);
    expect(isTransientS3Error(err)).toBe(true);
    expect(g.written()).toBe(data.length);
    expect((await readFile(join(dir, 'f'))).subarray(0, data.length).equals(data)).toBe(true);
  });

  it('turns an S3 error answer into an error with its code', async () => {
    const body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>';
    script = (sock) => sock.end(`HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\nx-amz-request-id: R1\r\n\r\n${body}`);
    const err = await get(0, 99, { headers: { 'if-match': '"abc"' } }).done.catch((e: unknown) => e);
    expect(s3ErrorCode(err)).toBe('PreconditionFailed');
    expect(err).toMatchObject({ $metadata: { httpStatusCode: 412, requestId: 'R1' } });
    expect(isTransientS3Error(err)).toBe(false);
    expect(requests[0]).toContain('if-match: "abc"\r\n');
  });

  it('reads an error body that has no Content-Length up to the end of the connection', async () => {
    script = (sock) => sock.end('HTTP/1.1 503 Slow Down\r\nConnection: close\r\n\r\n<Error><Code>SlowDown</Code></Error>');
    const err = await get(0, 99).done.catch((e: unknown) => e);
    expect(s3ErrorCode(err)).toBe('SlowDown');
    expect(isTransientS3Error(err)).toBe(true);
  });

  it('hands chunked or compressed answers back to the caller untouched', async () => {
    script = (sock) => sock.end('HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\nContent-Range: bytes 0-3/4\r\n\r\n4\r\nabcd\r\n0\r\n\r\n');
    await expect(get(0, 3).done).rejects.toBeInstanceOf(DirectGetUnsupportedError);
    script = (sock) => sock.end('HTTP/1.1 206 Partial Content\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\nContent-Range: bytes 0-3/4\r\n\r\nabcd');
    await expect(get(0, 3).done).rejects.toBeInstanceOf(DirectGetUnsupportedError);
  });

  it('refuses an answer for other bytes than asked, or more of them', async () => {
    script = (sock) => sock.end('HTTP/1.1 206 Partial Content\r\nContent-Length: 4\r\nContent-Range: bytes 0-3/100\r\n\r\nabcd');
    await expect(get(50, 53).done).rejects.toBeInstanceOf(RangeMismatchError);
    script = (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd');
    await expect(get(50, 53).done).rejects.toBeInstanceOf(RangeMismatchError);
    script = (sock) => sock.end('HTTP/1.1 206 Partial Content\r\nContent-Length: 8\r\nContent-Range: bytes 0-7/100\r\n\r\nabcdefgh');
    await expect(get(0, 3).done).rejects.toBeInstanceOf(RangeMismatchError);
  });

  it('refuses a header value that would split the request', async () => {
    script = () => undefined;
    await expect(get(0, 3, { headers: { 'if-match': '"x"\r\nevil: 1' } }).done).rejects.toThrow(/line break/);
    expect(requests).toEqual([]);
  });

  it('stops on abort with the abort reason', async () => {
    script = (sock) => sock.write('HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\nContent-Range: bytes 0-99/100\r\n\r\nabc');
    const ac = new AbortController();
    const g = get(0, 99, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop now')), 50);
    await expect(g.done).rejects.toThrow('stop now');
    expect(g.written()).toBe(0); // abort does not wait to write what arrived
  });

  it('gives up on a silent server with a transient TimeoutError', async () => {
    script = (sock) => sock.write('HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\nContent-Range: bytes 0-99/100\r\n\r\nabc');
    const err = await get(0, 99, { idleTimeoutMs: 200 }).done.catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TimeoutError' });
    expect(isTransientS3Error(err)).toBe(true);
  });

  it('connects by host name too (looked up through its cache)', async () => {
    const data = randomBytes(5000);
    script = (sock) => sock.end(Buffer.concat([Buffer.from(partial(data, 0, data.length)), data]));
    await directGet({ ...req(), host: 'localhost' }, {
      fd: fh.fd, start: 0, end: data.length - 1, buffers: pool, onWritten: () => undefined, signal: new AbortController().signal, connectTimeoutMs: 2_000, idleTimeoutMs: 2_000,
    });
    expect((await readFile(join(dir, 'f'))).equals(data)).toBe(true);
  });

  it('fails with a transient error when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await directGet({ ...req(), port: deadPort }, {
      fd: fh.fd, start: 0, end: 9, buffers: pool, onWritten: () => undefined, signal: new AbortController().signal, connectTimeoutMs: 2_000, idleTimeoutMs: 2_000,
    }).catch((e: unknown) => e);
    expect(s3ErrorCode(err)).toBe('ECONNREFUSED');
    expect(isTransientS3Error(err)).toBe(true);
  });
});

describe('directGet over TLS', () => {
  it('reads through TLS, checks the certificate, and resumes the session on later connections', async () => {
    const certDir = await mkdtemp(join(tmpdir(), 'graft-tls-'));
    try {
      // A throwaway self-signed certificate for 127.0.0.1.
      await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=graft-test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')]);
      const key = await readFile(join(certDir, 'key.pem'));
      const cert = await readFile(join(certDir, 'cert.pem'));
      const data = randomBytes(2 * 1024 * 1024 + 1);
      let resumed = 0;
      const tlsServer = createTlsServer({ key, cert }, (sock) => {
        if (sock.isSessionReused()) resumed++;
        let got = '';
        sock.on('data', (d) => {
          got += d.toString('latin1');
          if (!got.includes('\r\n\r\n')) return;
          const m = /range: bytes=(\d+)-(\d+)/.exec(got)!;
          const body = data.subarray(Number(m[1]), Number(m[2]) + 1);
          sock.end(Buffer.concat([Buffer.from(partial(body, Number(m[1]), data.length)), body]));
        });
        sock.on('error', () => undefined);
      });
      await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
      const tlsPort = (tlsServer.address() as AddressInfo).port;
      const tlsReq = (start: number, end: number): SignedGet => ({ ...req({ range: `bytes=${start}-${end}` }), tls: true, port: tlsPort });
      const opts = (start: number, end: number, ca?: Buffer) => ({
        fd: fh.fd, start, end, buffers: pool, onWritten: () => undefined, signal: new AbortController().signal,
        connectTimeoutMs: 2_000, idleTimeoutMs: 2_000, tls: ca ? { ca } : undefined,
      });
      try {
        await expect(directGet(tlsReq(0, 9), opts(0, 9))).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
        const half = 1024 * 1024;
        await directGet(tlsReq(0, half - 1), opts(0, half - 1, cert));
        await directGet(tlsReq(half, data.length - 1), opts(half, data.length - 1, cert));
        expect((await readFile(join(dir, 'f'))).equals(data)).toBe(true);
        expect(resumed).toBeGreaterThanOrEqual(1);
      } finally {
        await new Promise((r) => tlsServer.close(r));
      }
    } finally {
      await rm(certDir, { recursive: true, force: true });
    }
  });
});
