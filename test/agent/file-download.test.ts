// downloadFile's digest: small files hashed on the main thread from the bytes on disk, larger ones
// by the hash worker; the same sha256 either way. A plain HTTP server on loopback plays S3.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, INLINE_HASH_MAX } from '../../src/storage/file-download.js';
import { sharedHasher, type FileHasher } from '../../src/storage/hash-worker.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { Limiter } from '../../src/util/limiter.js';

const objects = new Map<string, Buffer>([
  ['/b/small', randomBytes(5_000)],
  ['/b/edge', randomBytes(INLINE_HASH_MAX)],
  ['/b/large', randomBytes(INLINE_HASH_MAX + 1)],
]);
let server: Server;
let endpoint: string;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const data = objects.get((req.url ?? '').split('?')[0]!)!;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
    const [a, b] = [Number(m[1]), Number(m[2])];
    const body = data.subarray(a, b + 1);
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${a}-${b}/${data.length}`);
    res.setHeader('Content-Length', body.length);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'graft-fd-'));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('downloadFile', () => {
  it.each([['small', false], ['edge', false], ['large', true]] as const)('%s: the sha256 of the bytes on disk (hash worker used: %s)', async (key, worker) => {
    const client = createS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true }, { credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const started: string[] = [];
    const hasher: FileHasher = { start: (path, size) => { started.push(path); return sharedHasher().start(path, size); } };
    const data = objects.get(`/b/${key}`)!;
    const dest = join(dir, key);
    const hex = await downloadFile({
      client, bucket: 'b', key, size: data.length, dest, partSize: 64 * 1024, limiter: new Limiter(4), hasher,
      retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 10 }, signal: new AbortController().signal, onBytes: () => {}, onRetry: () => {},
    });
    expect(hex).toBe(createHash('sha256').update(data).digest('hex'));
    expect(await readFile(dest)).toEqual(data);
    expect(started.length > 0).toBe(worker);
    client.destroy();
  });
});
