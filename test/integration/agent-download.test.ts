// The downloader against a real versitygw: digests, layout, and an S3 outage in the middle.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadPrefix, listRemoteFiles, SourceEmptyError } from '../../src/storage/download.js';
import { manifestDigest } from '../../src/storage/manifest.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { s3ErrorCode } from '../../src/storage/s3-errors.js';
import { putFile, putObject } from '../../src/storage/s3-objects.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('downloadPrefix on versitygw', () => {
  let gw: VersityGw;
  let client: S3Client;
  let work: string;

  beforeAll(async () => {
    gw = await startVersityGw({ buckets: ['dltest'] });
    client = gw.client();
    work = await mkdtemp(join(tmpdir(), 'graft-dl-'));
  });
  afterAll(async () => {
    client?.destroy();
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('downloads every file with its sha256 and the manifest digest', async () => {
    const files: Record<string, Buffer> = {
      'a.bin': randomBytes(5 * 1024 * 1024 + 17), // several parts
      'sub/b.json': Buffer.from('{"x":1}'),
      'sub/deeper/c': randomBytes(1000),
      'empty': Buffer.alloc(0),
    };
    for (const [p, b] of Object.entries(files)) await putObject(client, 'dltest', `set1/${p}`, b);
    await putObject(client, 'dltest', 'set10/not-mine', 'x'); // shares the string prefix "set1"
    const dest = await mkdtemp(join(work, 'd-'));
    let last = 0;
    const r = await downloadPrefix({ client, source: { bucket: 'dltest', prefix: 'set1' }, dest, partSize: 1024 * 1024, concurrency: 4, onProgress: (d) => { last = d; } });
    const expected = Object.entries(files).map(([path, b]) => ({ path, size: b.length, sha256: sha(b) }));
    expect(r.files.map(({ path, size, sha256 }) => ({ path, size, sha256 }))).toEqual(expected.sort((x, y) => (x.path < y.path ? -1 : 1)));
    expect(r.digest).toBe(manifestDigest(expected));
    expect(r.bytes).toBe(Object.values(files).reduce((n, b) => n + b.length, 0));
    expect(last).toBe(r.bytes);
    for (const [p, b] of Object.entries(files)) expect((await readFile(join(dest, p))).equals(b)).toBe(true);
    expect((await readdir(dest)).sort()).toEqual(['a.bin', 'empty', 'sub']);
  });

  it('pins each object to its listed ETag: an object replaced after the listing fails the download', async () => {
    await putObject(client, 'dltest', 'pinned/a.bin', randomBytes(3 * 1024 * 1024));
    const files = await listRemoteFiles(client, { bucket: 'dltest', prefix: 'pinned/' });
    await putObject(client, 'dltest', 'pinned/a.bin', randomBytes(3 * 1024 * 1024)); // a new version
    const dest = await mkdtemp(join(work, 'd-'));
    const err = await downloadPrefix({ client, source: { bucket: 'dltest', prefix: 'pinned/' }, dest, files, partSize: 1024 * 1024 }).catch((e: unknown) => e);
    expect(s3ErrorCode(err)).toBe('PreconditionFailed');
  });

  it('gives the same files and digest through the SDK reader (directReads: false)', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 3);
    await putObject(client, 'dltest', 'both/x.bin', data);
    const sdkClient = createS3Client({ ...gw.settings, directReads: false }, { credentials: { accessKeyId: gw.accessKey, secretAccessKey: gw.secretKey } });
    try {
      const a = await downloadPrefix({ client, source: { bucket: 'dltest', prefix: 'both/' }, dest: await mkdtemp(join(work, 'd-')), partSize: 512 * 1024 });
      const b = await downloadPrefix({ client: sdkClient, source: { bucket: 'dltest', prefix: 'both/' }, dest: await mkdtemp(join(work, 'd-')), partSize: 512 * 1024 });
      expect(a.files[0]!.sha256).toBe(sha(data));
      expect(b.digest).toBe(a.digest);
    } finally {
      sdkClient.destroy();
    }
  });

  it('fails on an empty prefix with SourceEmpty', async () => {
    const dest = await mkdtemp(join(work, 'd-'));
    await expect(downloadPrefix({ client, source: { bucket: 'dltest', prefix: 'nothing-here/' }, dest })).rejects.toBeInstanceOf(SourceEmptyError);
  });

  it('survives the S3 server being killed mid-download and started again', async () => {
    const big = randomBytes(96 * 1024 * 1024);
    const src = join(work, 'big.bin');
    await writeFile(src, big);
    await putFile(client, 'dltest', 'outage/big.bin', src);
    await putObject(client, 'dltest', 'outage/small.txt', 'small');
    const dest = await mkdtemp(join(work, 'd-'));
    const errors: string[] = [];
    let outage: Promise<void> | undefined;
    const r = await downloadPrefix({
      client, source: { bucket: 'dltest', prefix: 'outage/' }, dest, partSize: 256 * 1024, concurrency: 2,
      retry: { maxAttempts: 12, baseDelayMs: 100, maxDelayMs: 1_000 },
      onS3Error: (e) => errors.push(s3ErrorCode(e)),
      onProgress: (done) => {
        if (!outage && done > 16 * 1024 * 1024) {
          outage = (async () => {
            await gw.kill();
            await new Promise((res) => setTimeout(res, 1_500));
            await gw.start();
          })();
        }
      },
    });
    await outage;
    expect(errors.length).toBeGreaterThan(0); // the outage really hit the download
    const expected = [{ path: 'big.bin', size: big.length, sha256: sha(big) }, { path: 'small.txt', size: 5, sha256: sha(Buffer.from('small')) }];
    expect(r.digest).toBe(manifestDigest(expected));
    expect(sha(await readFile(join(dest, 'big.bin')))).toBe(sha(big));
  });
});
