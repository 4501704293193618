// readRange picks the direct reader for clients built by createS3Client, and falls back to the
// SDK for answers the direct reader cannot take. A plain HTTP server on loopback plays S3.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRange } from '../../src/storage/range-read.js';
import { createS3Client } from '../../src/storage/s3-client.js';

const data = randomBytes(700_000);
let server: Server;
let endpoint: string;
let chunked = false;
let ignoreRange = false;
let seen: Array<{ url: string; range: string; connection: string; auth: boolean; ifMatch?: string }> = [];
let dir: string;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const range = req.headers.range ?? '';
    seen.push({ url: req.url ?? '', range, connection: req.headers.connection ?? '', auth: /^AWS4-HMAC-SHA256 /.test(req.headers.authorization ?? ''), ifMatch: req.headers['if-match'] });
    const m = /^bytes=(\d+)-(\d+)$/.exec(range)!;
    const [a, b] = [Number(m[1]), Number(m[2])];
    if (ignoreRange) { res.setHeader('Content-Length', data.length); res.end(data); return; }
    const body = data.subarray(a, b + 1);
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${a}-${b}/${data.length}`);
    res.setHeader('ETag', '"e1"');
    if (chunked) {
      res.write(body); // a write before end, without Content-Length: node sends it chunked
      res.end();
    } else {
      res.setHeader('Content-Length', body.length);
      res.end(body);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'graft-rr-'));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

async function readInto(client: ReturnType<typeof createS3Client>, start: number, end: number): Promise<Buffer> {
  const path = join(dir, `f-${start}-${end}-${Math.random()}`);
  const fh = await open(path, 'w');
  let written = 0;
  try {
    await readRange({ client, bucket: 'bkt', key: 'dir/obj name', etag: '"e1"', fd: fh.fd, start, end, signal: new AbortController().signal, onWritten: (n) => { written += n; } });
  } finally {
    await fh.close();
  }
  expect(written).toBe(end - start + 1);
  return (await readFile(path)).subarray(start);
}

describe('readRange', () => {
  const credentials = { accessKeyId: 'AKTEST', secretAccessKey: 'not-a-real-secret' };

  it('reads through the direct reader with a request signed by Graft (at the path the SDK resolved)', async () => {
    seen = [];
    chunked = false;
    const client = createS3Client({ endpoint, forcePathStyle: true }, { credentials });
    expect((await readInto(client, 1000, 600_000)).equals(data.subarray(1000, 600_001))).toBe(true);
    expect(seen).toEqual([{ url: '/bkt/dir/obj%20name', range: 'bytes=1000-600000', connection: 'close', auth: true, ifMatch: '"e1"' }]);
    client.destroy();
  });

  it('reads a small range over the client\'s keep-alive sockets, and refuses an answer that ignores the range', async () => {
    seen = [];
    chunked = false;
    const client = createS3Client({ endpoint, forcePathStyle: true }, { credentials });
    expect((await readInto(client, 10, 5009)).equals(data.subarray(10, 5010))).toBe(true);
    expect((await readInto(client, 0, 99)).equals(data.subarray(0, 100))).toBe(true);
    expect(seen.map((s) => [s.url, s.connection, s.auth, s.ifMatch])).toEqual([['/bkt/dir/obj%20name', 'keep-alive', true, '"e1"'], ['/bkt/dir/obj%20name', 'keep-alive', true, '"e1"']]);
    ignoreRange = true;
    try {
      await expect(readInto(client, 10, 5009)).rejects.toThrow(/got status 200 without a range/);
      await expect(readInto(client, 0, 99)).rejects.toThrow(/answer (holds more|is larger than)/);
    } finally { ignoreRange = false; }
    client.destroy();
  });

  it('uses the SDK when the client says so', async () => {
    seen = [];
    chunked = false;
    const client = createS3Client({ endpoint, forcePathStyle: true, directReads: false }, { credentials });
    expect((await readInto(client, 0, 99)).equals(data.subarray(0, 100))).toBe(true);
    expect(seen.map((s) => s.connection)).toEqual(['keep-alive']);
    client.destroy();
  });

  it('falls back to the SDK for a chunked answer, and stays with it for that client', async () => {
    seen = [];
    chunked = true;
    const client = createS3Client({ endpoint, forcePathStyle: true }, { credentials });
    expect((await readInto(client, 5, 300_004)).equals(data.subarray(5, 300_005))).toBe(true);
    expect(seen.map((s) => s.connection)).toEqual(['close', 'keep-alive']);
    expect((await readInto(client, 0, 9)).equals(data.subarray(0, 10))).toBe(true);
    expect(seen.map((s) => s.connection)).toEqual(['close', 'keep-alive', 'keep-alive']);
    client.destroy();
  });
});
