// Going back and moving on, against the real agent process, versitygw and the vLLM simulator:
// v1 Loaded, v2 broken, v1 again → Loaded (it used to stay Failed for good, with no engine call);
// a newer version Loaded → the older staged folders leave the disk; transient failures that do
// not clear → RetriesExhausted after --max-attempts, and a changed spec starts afresh.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentProcess, type AgentProcess } from '../agent/agent-process.js';
import { bitFlipHeader, digestOf, readFixture, upload, type AdapterFiles } from '../agent/fixtures.js';
import { startInferenceSim, type InferenceSim } from '../support/inference-sim.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';

const BUCKET = 'adapters';
const TOKEN = 'recovery-test-token-71aa';

describe('graft agent (process): revert, old versions, bounded retries', () => {
  let gw: VersityGw;
  let sim: InferenceSim;
  let client: S3Client;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let agent: AgentProcess;
  let tigrinya: AdapterFiles;
  let seqcls: AdapterFiles;

  const engineRoot = async (name: string) => {
    const r = await fetch(`${sim.url}/v1/models`);
    return ((await r.json()) as { data: Array<{ id: string; root: string }> }).data.find((m) => m.id === name)?.root;
  };

  beforeAll(async () => {
    [gw, sim] = await Promise.all([startVersityGw({ buckets: [BUCKET] }), startInferenceSim({ model: 'gpt2' })]);
    client = gw.client();
    work = await mkdtemp(join(tmpdir(), 'graft-agent-recovery-'));
    const creds = join(work, 'creds');
    await mkdir(creds);
    await writeFile(join(creds, 'AWS_ACCESS_KEY_ID'), gw.accessKey);
    await writeFile(join(creds, 'AWS_SECRET_ACCESS_KEY'), gw.secretKey);
    await writeFile(join(work, 'token'), TOKEN);
    env = { GRAFT_S3_ENDPOINT: gw.endpoint, AWS_REGION: gw.region, GRAFT_S3_FORCE_PATH_STYLE: 'true', GRAFT_S3_CREDENTIALS_DIR: creds };
    [tigrinya, seqcls] = await Promise.all([readFixture('gpt2-causal-tigrinya'), readFixture('gpt2-seqcls-c_attn')]);
    agent = await startAgentProcess({ token: TOKEN, cacheDir: join(work, 'cache'), engineUrl: sim.url, env, args: ['--token-file', join(work, 'token'), '--base-model', 'gpt2'] });
  });

  afterAll(async () => {
    await agent?.stop();
    client?.destroy();
    await Promise.all([gw?.stop(), sim?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('v1 Loaded, v2 broken, v1 again: Loaded again, served from v1\'s folder', async () => {
    const v1 = await upload(client, BUCKET, 'team/r1/v1', tigrinya);
    const v2 = await upload(client, BUCKET, 'team/r1/v2', { ...tigrinya, 'adapter_model.safetensors': bitFlipHeader(tigrinya['adapter_model.safetensors']!) });
    await agent.api('PUT', '/v1/adapters/r1', { source: v1 });
    const loaded = await agent.settle('r1', ['Loaded', 'Failed']);
    expect(loaded.state).toBe('Loaded');

    await agent.api('PUT', '/v1/adapters/r1', { source: v2 });
    const failed = await agent.settle('r1', ['Failed']);
    expect(failed.error?.reason).toBe('SafetensorsHeaderInvalid');
    expect(await engineRoot('r1')).toBe(loaded.path); // the engine kept serving v1

    const t0 = Date.now();
    const put = await agent.api('PUT', '/v1/adapters/r1', { source: v1 });
    expect(put.status).toBeLessThan(300);
    const back = await agent.settle('r1', ['Loaded'], 10_000);
    console.log(`revert: Loaded again ${Date.now() - t0} ms after the PUT`);
    expect(back).toMatchObject({ state: 'Loaded', digest: digestOf(tigrinya), path: loaded.path, attempts: 0 });
    expect(back.error).toBeUndefined();
    expect(await engineRoot('r1')).toBe(loaded.path);
  });

  it('once v3 is Loaded, the older folders of the name leave the disk', async () => {
    const v3 = await upload(client, BUCKET, 'team/r1/v3', seqcls);
    await agent.api('PUT', '/v1/adapters/r1', { source: v3 });
    const s = await agent.settle('r1', ['Loaded', 'Failed']);
    expect(s).toMatchObject({ state: 'Loaded', digest: digestOf(seqcls) });
    expect(await engineRoot('r1')).toBe(s.path);
    expect(await readdir(join(work, 'cache', 'adapters', 'r1'))).toEqual([digestOf(seqcls).slice('sha256:'.length)]);
  });

  it('gives up on a failure that does not clear after --max-attempts (RetriesExhausted, the last error named); a changed spec starts afresh', async () => {
    // A second agent whose disk budget (2 MiB) cannot hold the 3.2 MB adapter: DiskBudgetExceeded,
    // a transient reason (something may be deleted meanwhile), retried with backoff, then given up.
    const small = await startAgentProcess({
      token: TOKEN, cacheDir: join(work, 'cache-small'), engineUrl: sim.url, env,
      args: ['--token-file', join(work, 'token'), '--disk-budget', '2Mi', '--max-attempts', '2'],
    });
    try {
      const big = await upload(client, BUCKET, 'team/big', tigrinya);
      await small.api('PUT', '/v1/adapters/big', { source: big });
      const first = await small.settle('big', ['Failed']);
      expect(first).toMatchObject({ attempts: 1, error: { reason: 'DiskBudgetExceeded' } });
      const t0 = Date.now();
      let last = first;
      while (last.error?.reason !== 'RetriesExhausted' && Date.now() - t0 < 20_000) {
        await new Promise((r) => setTimeout(r, 200));
        last = await small.status('big');
      }
      console.log(`RetriesExhausted ${Date.now() - t0} ms after the first failure`);
      expect(last).toMatchObject({ state: 'Failed', attempts: 2, error: { reason: 'RetriesExhausted' } });
      expect(last.error!.message).toMatch(/gave up after 2 attempts; the last error was DiskBudgetExceeded: staging needs \d+ bytes/);
      // Permanent now: nothing more happens.
      await new Promise((r) => setTimeout(r, 2500));
      expect((await small.status('big')).attempts).toBe(2);
      // A changed spec (an adapter that fits) starts from zero and loads.
      const fits = await upload(client, BUCKET, 'team/fits', seqcls);
      await small.api('PUT', '/v1/adapters/big', { source: fits });
      expect(await small.settle('big', ['Loaded', 'Failed'])).toMatchObject({ state: 'Loaded', attempts: 0 });
      expect(small.proc.output).not.toMatch(/"reason":"DiskError"/);
    } finally {
      await small.api('DELETE', '/v1/adapters/big').catch(() => undefined);
      await small.stop();
    }
  });
});
