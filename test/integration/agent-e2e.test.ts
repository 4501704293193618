// The agent as it runs in a pod: the real CLI process, a real S3 server (versitygw) and the vLLM
// simulator. Every bullet of the agent tests that needs real processes is here.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterStatus } from '../../src/agent/types.js';
import { startInferenceSim, type InferenceSim } from '../support/inference-sim.js';
import { freePort, waitFor } from '../support/ports.js';
import { Proc } from '../support/process.js';
import { startVersityGw, type VersityGw } from '../support/versitygw.js';
import {
  bitFlipHeader, digestOf, duplicateTensorName, overlappingOffsets, oversizedHeaderLength, readFixture, upload, withConfig, type AdapterFiles,
} from '../agent/fixtures.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'agent-test-token-5f1c2e';
const BUCKET = 'adapters';

describe('graft agent (process) with versitygw and llm-d-inference-sim', () => {
  let gw: VersityGw;
  let sim: InferenceSim;
  let client: S3Client;
  let work: string;
  let cacheDir: string;
  let agent: Proc;
  let url: string;
  let good: AdapterFiles;
  let goodSource: string;

  const api = async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  const status = async (name: string) => (await api('GET', `/v1/adapters/${name}`)).body as AdapterStatus;
  const settle = async (name: string, states: string[], timeoutMs = 30_000) => {
    let last: AdapterStatus | undefined;
    await waitFor(`${name} to reach ${states.join('|')}`, async () => {
      last = await status(name);
      return states.includes(last.state);
    }, timeoutMs, 100).catch((err: Error) => { throw new Error(`${err.message}; last: ${JSON.stringify(last)}\n${agent.output.slice(-3000)}`); });
    return last!;
  };

  beforeAll(async () => {
    [gw, sim] = await Promise.all([startVersityGw({ buckets: [BUCKET] }), startInferenceSim({ model: 'gpt2' })]);
    client = gw.client();
    work = await mkdtemp(join(tmpdir(), 'graft-agent-e2e-'));
    cacheDir = join(work, 'cache');
    const creds = join(work, 'creds');
    await mkdir(creds);
    await writeFile(join(creds, 'AWS_ACCESS_KEY_ID'), gw.accessKey);
    await writeFile(join(creds, 'AWS_SECRET_ACCESS_KEY'), gw.secretKey);
    await writeFile(join(work, 'token'), `${TOKEN}\n`);
    good = await readFixture('gpt2-causal-tigrinya');
    goodSource = await upload(client, BUCKET, 'team/tigrinya', good);

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    agent = new Proc('agent', process.execPath, [
      '--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'agent',
      '--host', '127.0.0.1', '--port', String(port), '--token-file', join(work, 'token'), '--cache-dir', cacheDir,
      '--engine', 'vllm', '--engine-url', sim.url, '--max-lora-rank', '16', '--base-model', 'gpt2',
      '--reconcile-interval', '500ms', '--part-size', '1Mi', '--concurrency', '4', '--log-level', 'debug',
    ], {
      cwd: repoRoot,
      env: {
        GRAFT_S3_ENDPOINT: gw.endpoint, AWS_REGION: gw.region, GRAFT_S3_FORCE_PATH_STYLE: 'true', GRAFT_S3_CREDENTIALS_DIR: creds,
        // Make sure nothing falls back to credentials from the test runner's environment.
        AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '',
      },
    });
    await waitFor('agent /readyz', async () => {
      if (!agent.running) throw new Error(`agent exited:\n${agent.output}`);
      return (await fetch(`${url}/readyz`)).status === 200;
    }, 60_000, 200);
  });

  afterAll(async () => {
    await agent?.stop();
    client?.destroy();
    await Promise.all([gw?.stop(), sim?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('refuses /v1 without the token (401) and bad names and bodies (400)', async () => {
    expect((await api('GET', '/v1/adapters', undefined, null)).status).toBe(401);
    expect((await api('GET', '/v1/adapters', undefined, 'wrong-token')).status).toBe(401);
    expect((await api('PUT', '/v1/adapters/a1', { source: goodSource }, null)).status).toBe(401);
    expect((await api('GET', '/healthz', undefined, null)).status).toBe(200);

    const dotdot = await api('PUT', '/v1/adapters/..%2Fx', { source: goodSource });
    expect(dotdot.status).toBe(400);
    expect(dotdot.body.error.field).toBe('name');
    const upper = await api('PUT', '/v1/adapters/Bad_Name', { source: goodSource });
    expect(upper).toMatchObject({ status: 400, body: { error: { field: 'name' } } });
    const noSource = await api('PUT', '/v1/adapters/a1', { digest: 'sha256:00' });
    expect(noSource).toMatchObject({ status: 400, body: { error: { field: 'source' } } });
    const creds = await api('PUT', '/v1/adapters/a1', { source: goodSource, accessKeyId: 'AKIA...' });
    expect(creds).toMatchObject({ status: 400, body: { error: { field: 'accessKeyId' } } });
  });

  it('stages and loads an adapter: Staged → Loaded, listed by the engine, digest and bytes reported', async () => {
    const put = await api('PUT', '/v1/adapters/tigrinya', { source: goodSource });
    expect([200, 202]).toContain(put.status);
    const s = await settle('tigrinya', ['Loaded', 'Failed']);
    expect(s).toMatchObject({ state: 'Loaded', digest: digestOf(good), bytes: good['adapter_config.json']!.length + good['adapter_model.safetensors']!.length });
    expect(s.progress.bytesDone).toBe(s.bytes);
    const models = (await (await fetch(`${sim.url}/v1/models`)).json()) as { data: Array<{ id: string; root: string; parent: string | null }> };
    expect(models.data.find((m) => m.id === 'tigrinya')).toMatchObject({ root: s.path, parent: 'gpt2' });
    // Idempotent: the same PUT again changes nothing.
    const again = await api('PUT', '/v1/adapters/tigrinya', { source: goodSource });
    expect(again).toMatchObject({ status: 200, body: { state: 'Loaded' } });
  });

  it('with ?wait=, answers once the load is done: 200 Loaded, or 200 Failed with the reason', async () => {
    const src = await upload(client, BUCKET, 'team/waited', good);
    const t0 = Date.now();
    const put = await api('PUT', '/v1/adapters/waited?wait=10000', { source: src });
    expect(put).toMatchObject({ status: 200, body: { state: 'Loaded', digest: digestOf(good) } });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await sim.loras()).toContain('waited');
    const bad = await api('PUT', '/v1/adapters/waited-bad?wait=10000', { source: src, digest: `sha256:${'0'.repeat(64)}` });
    expect(bad).toMatchObject({ status: 200, body: { state: 'Failed', error: { reason: 'DigestMismatch' } } });
    // Gone again, so the later tests count only their own.
    for (const name of ['waited', 'waited-bad']) await api('DELETE', `/v1/adapters/${name}`);
    const deadline = Date.now() + 20_000;
    while ((await api('GET', '/v1/adapters/waited')).status !== 404 || (await api('GET', '/v1/adapters/waited-bad')).status !== 404) {
      if (Date.now() > deadline) throw new Error('the waited adapters were not unloaded within 20 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('fails a wrong expected digest with DigestMismatch: nothing loaded, no folder left', async () => {
    const src = await upload(client, BUCKET, 'team/wrong-digest', good);
    await api('PUT', '/v1/adapters/wrong-digest', { source: src, digest: `sha256:${'0'.repeat(64)}` });
    const s = await settle('wrong-digest', ['Failed', 'Loaded']);
    expect(s).toMatchObject({ state: 'Failed', error: { reason: 'DigestMismatch' } });
    expect(await sim.loras()).not.toContain('wrong-digest');
    expect(await readdir(join(cacheDir, 'adapters'))).not.toContain('wrong-digest');
    expect(await readdir(join(cacheDir, '.staging'))).toEqual([]);
  });

  it('fails each broken safetensors file with its own reason, and too high a rank', async () => {
    const st = good['adapter_model.safetensors']!;
    const cases: Array<[string, AdapterFiles, string]> = [
      ['bitflip', { ...good, 'adapter_model.safetensors': bitFlipHeader(st) }, 'SafetensorsHeaderInvalid'],
      ['hugeheader', { ...good, 'adapter_model.safetensors': oversizedHeaderLength(st) }, 'SafetensorsHeaderTooLarge'],
      ['overlap', { ...good, 'adapter_model.safetensors': overlappingOffsets(st) }, 'SafetensorsOffsets'],
      ['duplicate', { ...good, 'adapter_model.safetensors': duplicateTensorName(st) }, 'SafetensorsDuplicateTensor'],
      ['rank32', withConfig(good, { r: 32 }), 'RankTooHigh'],
      ['dora', withConfig(good, { use_dora: true }), 'UnsupportedVariant'],
    ];
    for (const [name, files] of cases) await api('PUT', `/v1/adapters/${name}`, { source: await upload(client, BUCKET, `bad/${name}`, files) });
    for (const [name, , reason] of cases) {
      const s = await settle(name, ['Failed', 'Loaded']);
      expect(s.error?.reason, `${name}: ${JSON.stringify(s.error)}`).toBe(reason);
    }
    const loras = await sim.loras();
    for (const [name] of cases) expect(loras).not.toContain(name);
    expect((await readdir(join(cacheDir, 'adapters'))).filter((n) => cases.some(([c]) => c === n))).toEqual([]);
  });

  it('loads its adapters again within 10 s after the engine is killed and restarted', async () => {
    expect(await sim.loras()).toContain('tigrinya');
    await sim.kill();
    const t0 = Date.now();
    await sim.start(); // a fresh process holds no adapters; the agent may reload before this test looks
    await waitFor('the agent to reload tigrinya', async () => (await sim.loras()).includes('tigrinya'), 10_000, 100);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await status('tigrinya')).state).toBe('Loaded');
  });

  it('exposes its metrics', async () => {
    const r = await fetch(`${url}/metrics`);
    const text = await r.text();
    for (const m of ['graft_agent_staged_bytes_total', 'graft_agent_staging_duration_seconds_bucket', 'graft_agent_staging_throughput_bytes_per_second_bucket',
      'graft_agent_engine_load_duration_seconds_bucket', 'graft_agent_adapters{state="Loaded"} 1', 'graft_agent_engine_reloads_total']) {
      expect(text).toContain(m);
    }
    expect(text).toMatch(/graft_agent_adapters\{state="Failed"\} [1-9]/);
    // The restart above is counted unless the agent found the engine down first and loaded from
    // Staged (the two paths race with the simulator's restart): the count is 0 or 1, never more.
    expect(text).toMatch(/graft_agent_engine_reloads_total [01]\n/);
  });

  it('unloads on DELETE', async () => {
    const d = await api('DELETE', '/v1/adapters/tigrinya');
    expect(d.status).toBe(202);
    await waitFor('tigrinya to be gone', async () => (await api('GET', '/v1/adapters/tigrinya')).status === 404, 10_000, 100);
    expect(await sim.loras()).not.toContain('tigrinya');
    expect((await api('DELETE', '/v1/adapters/tigrinya')).status).toBe(204);
  });

  it('never writes credentials or the token to its logs', async () => {
    // Make the agent log S3 activity at debug level once more, then read everything it wrote.
    await api('PUT', '/v1/adapters/again', { source: goodSource });
    await settle('again', ['Loaded', 'Failed']);
    const logs = agent.output;
    expect(logs.length).toBeGreaterThan(1000);
    expect(logs).toContain('adapter staged');
    for (const secret of [gw.secretKey, gw.accessKey, TOKEN]) expect(logs).not.toContain(secret);
  });
});
