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

  it('keeps a complete copy when the source changed (engines may be reading it), and says how to update', async () => {
    const inode = (await stat(join(work, 'cache', 'base', 'model-00001-of-00002.safetensors'))).ino;
    await putObject(client, 'models', 'gpt2/config.json', '{"model_type":"gpt2","v":2}');
    const r = await stage();
    expect(r.code, r.output).toBe(0);
    const warn = r.lines.find((l) => String(l.msg).includes('keeping the staged copy'));
    expect(warn, r.output).toBeDefined();
    expect(String(warn!.msg)).toContain('publish them under a new source URI');
    expect(r.lines.some((l) => l.msg === 'staging progress' || l.msg === 'base weights staged')).toBe(false);
    expect(await readFile(join(work, 'cache', 'base', 'config.json'), 'utf8')).toBe('{"model_type":"gpt2"}');
    expect((await stat(join(work, 'cache', 'base', 'model-00001-of-00002.safetensors'))).ino).toBe(inode);
    // A new source URI is a new folder: that one is staged with the new bytes.
    for (const [p, b] of Object.entries(files)) await putObject(client, 'models', `gpt2-v2/${p}`, p === 'config.json' ? '{"model_type":"gpt2","v":2}' : b);
    const next = await stage('--source', 's3://models/gpt2-v2/', '--dest', join(work, 'cache', 'base-v2'));
    expect(next.code, next.output).toBe(0);
    expect(await readFile(join(work, 'cache', 'base-v2', 'config.json'), 'utf8')).toContain('"v":2');
  });

  it('fails on a wrong digest and leaves the cache as it was', async () => {
    const r = await stage('--digest', `sha256:${'1'.repeat(64)}`);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/DigestMismatch: .*holds base weights with digest sha256:[0-9a-f]{64}.*not the expected sha256:1{64}.*new source URI/);
    expect(await readFile(join(work, 'cache', 'base', 'config.json'), 'utf8')).toBe('{"model_type":"gpt2"}');
  });

  it('stages an incomplete copy again, and leaves a folder it did not write alone', async () => {
    await rm(join(work, 'cache', 'base', 'tokenizer', 'tokenizer.json'));
    const r = await stage();
    expect(r.code, r.output).toBe(0);
    expect(r.lines.some((l) => String(l.msg).includes('incomplete'))).toBe(true);
    expect(await readFile(join(work, 'cache', 'base', 'tokenizer', 'tokenizer.json'), 'utf8')).toBe('{}');
    expect(await readFile(join(work, 'cache', 'base', 'config.json'), 'utf8')).toContain('"v":2'); // what the source holds now

    await mkdir(join(work, 'cache', 'mine'), { recursive: true });
    await writeFile(join(work, 'cache', 'mine', 'weights.bin'), 'user data');
    const foreign = await stage('--dest', join(work, 'cache', 'mine'));
    expect(foreign.code).toBe(1);
    expect(foreign.output).toMatch(/ForeignFolder: .*mine exists and holds files but no \.graft-manifest\.json/);
    expect(await readFile(join(work, 'cache', 'mine', 'weights.bin'), 'utf8')).toBe('user data');
  });

  it('two pods staging the same folder at once: one copy wins, both succeed, nothing is swapped', async () => {
    const dest = join(work, 'cache', 'common');
    const [a, b] = await Promise.all([stage('--dest', dest), stage('--dest', dest)]);
    expect([a.code, b.code], a.output + b.output).toEqual([0, 0]);
    expect(await readFile(join(dest, 'config.json'), 'utf8')).toContain('"v":2');
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(join(work, 'cache'))).filter((n) => n.includes('.staging-'))).toEqual([]);
  });
});
