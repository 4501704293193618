// The S3 basics and the test harnesses against the real versitygw and simulator.
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, readCredentialsDir, s3SettingsFromEnv } from '../../src/storage/s3-client.js';
import { getObjectBytes, getRange, headObject, listObjects, putFile, putObject } from '../../src/storage/s3-objects.js';
import { isTransientS3Error, s3ErrorCode } from '../../src/storage/s3-errors.js';
import { readRange } from '../../src/storage/range-read.js';
import { requestSigner } from '../../src/storage/request-signer.js';
import { Limiter } from '../../src/util/limiter.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';
import { startInferenceSim } from '../support/inference-sim.js';

async function text(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('S3 basics on versitygw', () => {
  let gw: VersityGw;
  let client: S3Client;
  let credDir: string;

  beforeAll(async () => {
    gw = await startVersityGw({ buckets: ['basics'] });
    credDir = await mkdtemp(join(tmpdir(), 'graft-creds-'));
    await writeFile(join(credDir, 'AWS_ACCESS_KEY_ID'), `${gw.accessKey}\n`);
    await writeFile(join(credDir, 'AWS_SECRET_ACCESS_KEY'), gw.secretKey);
    // Credentials from the mounted-Secret folder, settings from the environment.
    client = createS3Client(s3SettingsFromEnv({
      GRAFT_S3_ENDPOINT: gw.endpoint, AWS_REGION: gw.region, GRAFT_S3_FORCE_PATH_STYLE: 'true', GRAFT_S3_CREDENTIALS_DIR: credDir,
    }));
  });
  afterAll(async () => {
    client?.destroy();
    await gw?.stop();
    if (credDir) await rm(credDir, { recursive: true, force: true });
  });

  it('puts, lists, heads and reads ranges', async () => {
    await putObject(client, 'basics', 'p/a.txt', 'hello world');
    await putObject(client, 'basics', 'p/sub/b.txt', Buffer.from('0123456789'));
    const file = join(credDir, 'upload.bin');
    await writeFile(file, 'from a file');
    await putFile(client, 'basics', 'p/c.bin', file);
    await putObject(client, 'basics', 'other/x', 'x');

    const listed = await listObjects(client, 'basics', 'p/');
    expect(listed.map((o) => [o.key, o.size])).toEqual([['p/a.txt', 11], ['p/c.bin', 11], ['p/sub/b.txt', 10]]);
    expect((await headObject(client, 'basics', 'p/a.txt')).size).toBe(11);
    expect(await text(await getRange(client, 'basics', 'p/sub/b.txt', 2, 5))).toBe('2345');
    expect((await getObjectBytes(client, 'basics', 'p/c.bin')).toString()).toBe('from a file');
  });

  it('signs its own listings and ranged reads as S3 checks them: odd keys, many pages, a wrong secret refused', async () => {
    // Graft signs these itself (request-signer.ts), not through the SDK: versitygw checks every signature.
    expect(await requestSigner(client).sign('basics', { key: 'x' })).toBeDefined();
    const odd = ['odd/a b+c~d.txt', 'odd/é/ü(1)*!\'.bin', 'odd/&<>"%20.txt'];
    for (const k of odd) await putObject(client, 'basics', k, `body of ${k}`);
    expect((await listObjects(client, 'basics', 'odd/')).map((o) => o.key)).toEqual([...odd].sort());
    const dir = await mkdtemp(join(tmpdir(), 'graft-rr-'));
    for (const k of odd) {
      const fh = await open(join(dir, 'f'), 'w+');
      let got = 0;
      await readRange({ client, bucket: 'basics', key: k, fd: fh.fd, start: 2, end: 8, signal: new AbortController().signal, onWritten: (n) => { got += n; } });
      const buf = Buffer.alloc(7);
      await fh.read(buf, 0, 7, 2);
      await fh.close();
      expect([got, buf.toString()]).toEqual([7, `body of ${k}`.slice(2, 9)]);
    }
    await rm(dir, { recursive: true });
    // More keys than a page holds: the continuation token goes back signed.
    const lim = new Limiter(16);
    await Promise.all(Array.from({ length: 1100 }, (_, i) => lim.run(() => putObject(client, 'basics', `many/${String(i).padStart(4, '0')}`, 'x'))));
    const many = await listObjects(client, 'basics', 'many/');
    expect(many).toHaveLength(1100);
    expect(many[1099]!.key).toBe('many/1099');
    const wrong = createS3Client({ endpoint: gw.endpoint, region: gw.region, forcePathStyle: true, maxAttempts: 1 }, { credentials: { accessKeyId: gw.accessKey, secretAccessKey: 'not-the-secret' } });
    const err = await listObjects(wrong, 'basics', 'odd/').catch((e: unknown) => e);
    wrong.destroy();
    expect(s3ErrorCode(err)).toBe('SignatureDoesNotMatch');
    expect(isTransientS3Error(err)).toBe(false);
  }, 120_000);

  it('reports a missing key with its S3 code, not as transient', async () => {
    const err = await getObjectBytes(client, 'basics', 'nope').catch((e: unknown) => e);
    expect(s3ErrorCode(err)).toBe('NoSuchKey');
    expect(isTransientS3Error(err)).toBe(false);
  });

  it('reads the credential files and names a missing one without its content', async () => {
    expect(await readCredentialsDir(credDir)).toEqual({ accessKeyId: gw.accessKey, secretAccessKey: gw.secretKey });
    const empty = await mkdtemp(join(tmpdir(), 'graft-nocreds-'));
    await expect(readCredentialsDir(empty)).rejects.toThrow(/AWS_ACCESS_KEY_ID/);
    await rm(empty, { recursive: true });
  });

  it('keeps its data across a restart on the same port', async () => {
    await gw.restart();
    expect((await getObjectBytes(client, 'basics', 'p/a.txt')).toString()).toBe('hello world');
  });

  it('a stopped server is a transient error', async () => {
    const c = createS3Client({ ...gw.settings, endpoint: 'http://127.0.0.1:1', maxAttempts: 1 }, { credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const err = await listObjects(c, 'basics', '').catch((e: unknown) => e);
    c.destroy();
    expect(isTransientS3Error(err)).toBe(true);
  });
});

describe('llm-d-inference-sim harness', () => {
  it('loads a LoRA and forgets it after a restart', async () => {
    const sim = await startInferenceSim();
    try {
      const r = await fetch(`${sim.url}/v1/load_lora_adapter`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ lora_name: 'l1', lora_path: '/tmp/l1' }),
      });
      expect(r.status).toBe(200);
      expect(await sim.loras()).toEqual(['l1']);
      await sim.kill();
      await sim.start();
      expect(await sim.loras()).toEqual([]);
    } finally {
      await sim.stop();
    }
  });
});
