// The merge engine against a real S3 server (versitygw on loopback): s3:// inputs read by range,
// s3:// outputs written through temporary keys, and nothing left behind by a failed merge.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMerge } from '../../src/merge/merge.js';
import { readHeader } from '../../src/merge/safetensors/reader.js';
import { BufferSource } from '../../src/merge/safetensors/source.js';
import { getObjectBytes, listObjects, putObject } from '../../src/storage/s3-objects.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';
import { GPT2_CAUSAL, GPT2_SEQCLS, repoRoot } from '../merge/fixtures.js';

const BUCKET = 'adapters';
let gw: VersityGw;
let s3: S3Client;
let tmp: string;

async function upload(dir: string, prefix: string): Promise<string> {
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) await putObject(s3, BUCKET, `${prefix}/${f}`, await readFile(join(dir, f)));
  return `s3://${BUCKET}/${prefix}/`;
}

const keys = async (prefix: string) => (await listObjects(s3, BUCKET, prefix)).map((o) => o.key).sort();

beforeAll(async () => {
  gw = await startVersityGw({ buckets: [BUCKET] });
  s3 = gw.client();
  tmp = await mkdtemp(join(tmpdir(), 'graft-merge-s3-'));
  await upload(GPT2_SEQCLS, 'in/seqcls');
  await upload(GPT2_CAUSAL, 'in/causal');
});

afterAll(async () => {
  s3?.destroy();
  await gw?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('merge from and to s3://', () => {
  it('merges s3:// inputs into an s3:// output, identical to a local merge', async () => {
    const inputs = [`s3://${BUCKET}/in/seqcls/`, `s3://${BUCKET}/in/causal`];
    const s = await runMerge({ method: 'svd', rank: 8, inputs, out: `s3://${BUCKET}/out/v1/`, dropExtraTensors: true, s3, workers: 2 });
    expect(await keys('out/')).toEqual(['out/v1/adapter_config.json', 'out/v1/adapter_model.safetensors']);
    const local = join(tmp, 'local');
    const l = await runMerge({ method: 'svd', rank: 8, inputs: [GPT2_SEQCLS, GPT2_CAUSAL], out: local, dropExtraTensors: true, workers: 0 });
    expect(s.inputs.map((i) => i.safetensorsSha256)).toEqual(l.inputs.map((i) => i.safetensorsSha256));
    const remote = await getObjectBytes(s3, BUCKET, 'out/v1/adapter_model.safetensors');
    const mine = await readFile(join(local, 'adapter_model.safetensors'));
    const hr = await readHeader(new BufferSource('remote', remote));
    const hl = await readHeader(new BufferSource('local', mine));
    // Same tensors, same bytes; only the metadata's input locations differ.
    expect(hr.tensors).toEqual(hl.tensors);
    expect(Buffer.compare(remote.subarray(hr.dataStart), mine.subarray(hl.dataStart))).toBe(0);
    expect(JSON.parse((await getObjectBytes(s3, BUCKET, 'out/v1/adapter_config.json')).toString())).toMatchObject({ r: 8, lora_alpha: 8, base_model_name_or_path: 'gpt2' });
  });

  it('mixes an s3:// input with a local one, into a local folder', async () => {
    const out = join(tmp, 'mixed');
    const s = await runMerge({ method: 'cat', inputs: [`s3://${BUCKET}/in/causal/`, GPT2_CAUSAL], out, s3, weights: [0.5, 0.5] });
    expect(s.rank).toBe(16);
    expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).r).toBe(16);
  });

  it('a merge that fails halfway leaves no key under the output prefix', async () => {
    let n = 0;
    await expect(runMerge({ method: 'svd', rank: 8, inputs: [`s3://${BUCKET}/in/seqcls/`, `s3://${BUCKET}/in/causal/`], out: `s3://${BUCKET}/out/failed/`, dropExtraTensors: true, s3 },
      () => { if (++n === 10) throw new Error('injected failure'); })).rejects.toThrow(/injected failure/);
    expect(await keys('out/failed')).toEqual([]);
  });

  it('refuses to overwrite an existing s3:// adapter unless forced, and a missing input with a clear message', async () => {
    const req = { method: 'cat' as const, inputs: [`s3://${BUCKET}/in/causal/`], out: `s3://${BUCKET}/out/v1/`, s3 };
    await expect(runMerge(req)).rejects.toThrow(/already holds an adapter/);
    const s = await runMerge({ ...req, force: true });
    expect(s.rank).toBe(8);
    await expect(runMerge({ ...req, inputs: [`s3://${BUCKET}/in/nothing/`], out: `s3://${BUCKET}/out/v2/` })).rejects.toThrow(/no adapter_config.json there/);
    expect(await keys('out/v2')).toEqual([]);
  });

  it('runs as `graft merge` with S3 settings from the environment (exit 0, then 2 for bad input)', () => {
    const env = { ...process.env, ...gw.env(), GRAFT_S3_ENDPOINT: gw.endpoint, GRAFT_S3_FORCE_PATH_STYLE: 'true' };
    const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', resolve(repoRoot, 'src/cli/main.ts'), 'merge', ...args], { env, encoding: 'utf8', cwd: repoRoot });
    const ok = cli(['--method', 'svd', '--rank', '4', '--weights', '0.7,0.3', '--drop-extra-tensors', '--json', '--out', `s3://${BUCKET}/out/cli/`, `s3://${BUCKET}/in/seqcls/`, `s3://${BUCKET}/in/causal/`]);
    expect(ok.stderr).toMatch(/36\/36 modules/);
    expect(ok.status).toBe(0);
    const summary = JSON.parse(ok.stdout);
    expect(summary).toMatchObject({ method: 'svd', rank: 4, modules: 36, extrasDropped: ['base_model.model.score.weight'] });
    expect(summary.truncationError.relative).toBeGreaterThan(0);
    const bad = cli(['--method', 'svd', '--out', `s3://${BUCKET}/out/cli2/`, `s3://${BUCKET}/in/seqcls/`, `s3://${BUCKET}/in/nothing/`]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/graft: .*no adapter_config.json there/);
  });
});
