// `graft agent stage-base` as the init step runs it: the CLI against versitygw, twice.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putObject } from '../../src/storage/s3-objects.js';
import { Proc } from '../support/process.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

describe('graft agent stage-base', () => {
  let gw: VersityGw;
  let client: S3Client;
  let work: string;
  let creds: string;
  const files: Record<string, Buffer> = {
    'config.json': Buffer.from('{"model_type":"gpt2"}'),
    'model-00001-of-00002.safetensors': randomBytes(6 * 1024 * 1024),
    'model-00002-of-00002.safetensors': randomBytes(3 * 1024 * 1024 + 5),
    'tokenizer/tokenizer.json': Buffer.from('{}'),
  };

  beforeAll(async () => {
    gw = await startVersityGw({ buckets: ['models'] });
    client = gw.client();
    for (const [p, b] of Object.entries(files)) await putObject(client, 'models', `gpt2/${p}`, b);
    work = await mkdtemp(join(tmpdir(), 'graft-stage-base-'));
    creds = join(work, 'creds');
    await mkdir(creds);
    await writeFile(join(creds, 'AWS_ACCESS_KEY_ID'), gw.accessKey);
    await writeFile(join(creds, 'AWS_SECRET_ACCESS_KEY'), gw.secretKey);
  });
  afterAll(async () => {
    client?.destroy();
    await gw?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const stage = async (...extra: string[]) => {
    const p = new Proc('stage-base', process.execPath, [
      '--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'agent', 'stage-base',
      '--source', 's3://models/gpt2/', '--dest', join(work, 'cache', 'base'), '--part-size', '1Mi', ...extra,
    ], { cwd: repoRoot, env: { GRAFT_S3_ENDPOINT: gw.endpoint, AWS_REGION: gw.region, GRAFT_S3_FORCE_PATH_STYLE: 'true', GRAFT_S3_CREDENTIALS_DIR: creds } });
    const code = await p.exited;
    const lines = p.output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { code, lines, output: p.output };
  };

  it('downloads once; the second run downloads nothing', async () => {
    const first = await stage();
    expect(first.code, first.output).toBe(0);
    const staged = first.lines.find((l) => l.msg === 'base weights staged')!;
    expect(staged.bytes).toBe(Object.values(files).reduce((n, b) => n + b.length, 0));
    expect(first.lines.some((l) => l.msg === 'staging progress')).toBe(true);
    for (const [p, b] of Object.entries(files)) expect((await readFile(join(work, 'cache', 'base', p))).equals(b)).toBe(true);
    const inode = (await stat(join(work, 'cache', 'base', 'model-00001-of-00002.safetensors'))).ino;

    const second = await stage();
    expect(second.code, second.output).toBe(0);
    expect(second.lines.some((l) => String(l.msg).includes('nothing to download'))).toBe(true);
    expect(second.lines.some((l) => l.msg === 'staging progress' || l.msg === 'base weights staged')).toBe(false);
    expect((await stat(join(work, 'cache', 'base', 'model-00001-of-00002.safetensors'))).ino).toBe(inode);

    // With the digest named, the cache is trusted without even listing S3.
    const third = await stage('--digest', String(staged.digest));
    expect(third.code).toBe(0);
    expect(third.lines.some((l) => String(l.msg).includes('same digest'))).toBe(true);
    for (const out of [first.output, second.output, third.output]) expect(out).not.toContain(gw.secretKey);
  });

  it('downloads again when the source changed', async () => {
    await putObject(client, 'models', 'gpt2/config.json', '{"model_type":"gpt2","v":2}');
    const r = await stage();
    expect(r.code, r.output).toBe(0);
    expect(r.lines.some((l) => l.msg === 'base weights staged')).toBe(true);
    expect((await readFile(join(work, 'cache', 'base', 'config.json'), 'utf8'))).toContain('"v":2');
  });

  it('fails on a wrong digest and leaves the cache as it was', async () => {
    const r = await stage('--digest', `sha256:${'1'.repeat(64)}`);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/DigestMismatch/);
    expect((await readFile(join(work, 'cache', 'base', 'config.json'), 'utf8'))).toContain('"v":2');
  });
});
