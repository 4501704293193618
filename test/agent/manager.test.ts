// The manager's engine logic against the exact vLLM and SGLang answers, with adapters already in
// the cache (so no S3 is involved).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdapterCache, type CacheEntry } from '../../src/agent/cache.js';
import { SglangClient } from '../../src/agent/engines/sglang.js';
import type { EngineClient } from '../../src/agent/engines/types.js';
import { VllmClient } from '../../src/agent/engines/vllm.js';
import { AdapterManager } from '../../src/agent/manager.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import { Limiter } from '../../src/util/limiter.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { silentLogger } from '../../src/util/log.js';
import { startFakeSglang, startFakeVllm, type FakeEngine } from './fake-engines.js';
import { digestOf, readFixture } from './fixtures.js';
import { freePort } from '../support/ports.js';

let root: string;
let fake: FakeEngine | undefined;
const client = createS3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true }, { credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });

beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'graft-mgr-')); });
afterEach(async () => {
  await fake?.close();
  fake = undefined;
  await rm(root, { recursive: true, force: true });
});

async function setup(engine: EngineClient, budget = 0, retry = { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 }) {
  const metrics = new AgentMetrics(() => [], () => 0, false);
  const cache = new AdapterCache(root, budget, silentLogger);
  await cache.init();
  const manager = new AdapterManager({
    engine, cache, metrics, log: silentLogger, reconcileIntervalMs: 60_000, retry,
    stager: { client, limiter: new Limiter(2), partSize: 1 << 20, concurrency: 2, retry, metrics, log: silentLogger, limits: { maxRank: 16, maxBytes: 1 << 30 } },
  });
  return { cache, manager, metrics };
}

// Puts a real adapter into the cache the way a download would.
async function seed(cache: AdapterCache, name: string, source: string, fixture = 'gpt2-causal-tigrinya'): Promise<CacheEntry> {
  const files = await readFixture(fixture);
  const tmp = await cache.newStagingDir(name);
  for (const [p, b] of Object.entries(files)) await writeFile(join(tmp, p), b);
  return cache.commit(tmp, {
    name, source, digest: digestOf(files), bytes: Object.values(files).reduce((n, b) => n + b.length, 0),
    files: Object.entries(files).map(([path, b]) => ({ path, size: b.length, sha256: createHash('sha256').update(b).digest('hex') })),
  });
}

describe('AdapterManager with vLLM', () => {
  it('loads a staged adapter under the operator\'s name', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    expect(manager.get('a1')).toMatchObject({ state: 'Loaded', digest: e.digest, bytes: e.bytes, path: e.dir });
    expect(fake.loaded.get('a1')).toBe(e.dir);
    await manager.stop();
  });

  it('settled(): the status once the load is done, or where it stands when the wait runs out or is given up', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    expect(manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest }).state).not.toBe('Loaded');
    expect(await manager.settled('a1', 5_000)).toMatchObject({ state: 'Loaded', digest: e.digest });
    // Nothing running: at once.
    expect(await manager.settled('a1', 5_000)).toMatchObject({ state: 'Loaded' });
    expect(await manager.settled('nobody', 5_000)).toBeUndefined();
    // A wait given up (the caller went away) or run out answers where it stands.
    const e2 = await seed(cache, 'a2', 's3://bucket/a2/');
    manager.put('a2', { source: 's3://bucket/a2/', digest: e2.digest });
    const gone = new AbortController();
    gone.abort();
    expect((await manager.settled('a2', 5_000, gone.signal))!.state).not.toBe('Loaded');
    expect((await manager.settled('a2', 0))!.state).not.toBe('Loaded');
    await manager.idle();
    expect(manager.get('a2')!.state).toBe('Loaded');
    await manager.stop();
  });

  it('after a restart, treats an adapter the engine still holds from the same folder as Loaded, without a load call', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    fake.loaded.set('a1', e.dir);
    await mkdir(join(root, 'state'), { recursive: true });
    await writeFile(join(root, 'state', 'wanted.json'), JSON.stringify({ a1: { source: 's3://bucket/a1/', digest: e.digest } }));
    await manager.start();
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    expect(fake.calls.filter((c) => c.path === '/v1/load_lora_adapter')).toEqual([]);
    await manager.stop();
  });

  it('replaces another version in place (load_inplace)', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    fake.loaded.set('a1', '/somewhere/old-version');
    await manager.reconcile();
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    expect(fake.loaded.get('a1')).toBe(e.dir);
    expect(fake.calls.map((c) => c.body)).toEqual([{ lora_name: 'a1', lora_path: e.dir, load_inplace: true }]);
    await manager.stop();
  });

  // An engine that answers "already loaded" (no load_inplace): unload, then load the staged folder.
  async function replacesOn(opts: Parameters<typeof startFakeVllm>[0], reconcileFirst: boolean): Promise<void> {
    fake = await startFakeVllm(opts);
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    if (reconcileFirst) await manager.reconcile();
    fake.loaded.set('a1', '/somewhere/old-version');
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    expect(fake.loaded.get('a1')).toBe(e.dir);
    expect(fake.calls.map((c) => c.path)).toEqual(['/v1/load_lora_adapter', '/v1/unload_lora_adapter', '/v1/load_lora_adapter']);
    await manager.stop();
  }

  it('replaces another version it did not know of (registered since the last reconcile): "already loaded", then unload and load', async () => {
    await replacesOn({ inplace: false }, true);
  });

  it('loads with one engine call: no list of the engine per load', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const entries = await Promise.all(['a1', 'a2', 'a3'].map((n) => seed(cache, n, `s3://bucket/${n}/`)));
    await manager.reconcile();
    expect(fake.lists).toBe(1);
    for (const [i, e] of entries.entries()) manager.put(`a${i + 1}`, { source: `s3://bucket/a${i + 1}/`, digest: e.digest });
    await manager.idle();
    expect(manager.list().map((a) => a.state)).toEqual(['Loaded', 'Loaded', 'Loaded']);
    expect(fake.calls.map((c) => c.path)).toEqual(Array(3).fill('/v1/load_lora_adapter'));
    expect(fake.lists).toBe(1);
    await manager.stop();
  });

  it('does not load again when a list asked before a load finished arrives after it', async () => {
    fake = await startFakeVllm();
    const real = new VllmClient(fake.url);
    // The engine's answer is taken when the list is asked, and handed over when the test says so.
    let hold: Promise<void> | undefined;
    const engine: EngineClient = Object.assign(Object.create(real) as EngineClient, {
      list: async () => { const l = await real.list(); await hold; return l; },
    });
    const { cache, manager, metrics } = await setup(engine);
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    await manager.reconcile();
    let release!: () => void;
    hold = new Promise((r) => { release = r; });
    const reconciling = manager.reconcile(); // lists the engine: a1 is not there yet
    await new Promise((r) => setTimeout(r, 50));
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    release();
    await reconciling;
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    expect(fake.calls.filter((c) => c.path === '/v1/load_lora_adapter')).toHaveLength(1);
    expect((await metrics.engineReloads.get()).values[0]?.value ?? 0).toBe(0);
    await manager.stop();
  });

  it('unloads then loads on a vLLM without load_inplace', async () => {
    await replacesOn({ inplace: false, shape: 'flat' }, false);
  });

  it('loads again after the engine forgets (restart), and unloads on delete', async () => {
    fake = await startFakeVllm();
    const { cache, manager, metrics } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    fake.loaded.clear();
    await manager.reconcile();
    await manager.idle();
    expect(fake.loaded.get('a1')).toBe(e.dir);
    expect((await metrics.engineReloads.get()).values[0]!.value).toBe(1);
    manager.delete('a1');
    await manager.idle();
    expect(manager.get('a1')).toBeUndefined();
    expect(fake.loaded.has('a1')).toBe(false);
    expect(cache.find('a1', e.digest)).toBeUndefined(); // a deleted adapter's staged folder goes with it
    await manager.stop();
  });

  it('fails with EngineRejected when vLLM refuses, and nothing is loaded', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    fake.failNext = { status: 400, body: { error: { message: 'LoRA rank 8 is greater than max_lora_rank 4.', type: 'BadRequestError', param: null, code: 400 } } };
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    expect(manager.get('a1')).toMatchObject({ state: 'Failed', error: { reason: 'EngineRejected', message: expect.stringMatching(/max_lora_rank/) } });
    expect(fake.loaded.size).toBe(0);
    await manager.stop();
  });

  it('unloads adapters from its cache that nobody wants', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const e = await seed(cache, 'stale', 's3://bucket/stale/');
    fake.loaded.set('stale', e.dir);
    fake.loaded.set('foreign', '/models/static-lora'); // not ours: left alone
    await manager.reconcile();
    expect([...fake.loaded.keys()]).toEqual(['foreign']);
    await manager.stop();
  });
});

describe('AdapterManager with SGLang', () => {
  it('loads, and replaces a different version by unloading first', async () => {
    fake = await startFakeSglang();
    const { cache, manager } = await setup(new SglangClient(fake.url));
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    fake.loaded.set('a1', '/old');
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    expect(fake.loaded.get('a1')).toBe(e.dir);
    await manager.stop();
  });
});

describe('AdapterCache', () => {
  it('evicts unwanted folders least recently used first, never protected ones', async () => {
    const cache = new AdapterCache(root, 0, silentLogger);
    await cache.init();
    const size = (await seed(cache, 'a', 's3://bucket/a/')).bytes;
    await seed(cache, 'b', 's3://bucket/b/');
    await seed(cache, 'c', 's3://bucket/c/');
    const budgeted = new AdapterCache(root, size * 3, silentLogger);
    await budgeted.init();
    for (const e of budgeted.all()) e.lastUsed = { a: 1, b: 2, c: 3 }[e.name]!;
    const release = await budgeted.reserve(size, (e) => e.name === 'a'); // 'a' protected: 'b' goes
    expect(release).not.toBeNull();
    expect(budgeted.all().map((e) => e.name).sort()).toEqual(['a', 'c']);
    expect(await readdir(join(root, 'adapters'))).toContain('a');
    expect(await readdir(join(root, 'adapters', 'b'))).toEqual([]);
    release!();
    expect(await budgeted.reserve(size * 10, () => true)).toBeNull();
  });

  it('indexes staged folders at start and removes folders without a manifest', async () => {
    const cache = new AdapterCache(root, 0, silentLogger);
    await cache.init();
    const e = await seed(cache, 'a', 's3://bucket/a/');
    await mkdir(join(root, 'adapters', 'a', 'f'.repeat(64)));
    await mkdir(join(root, '.staging', 'leftover'), { recursive: true });
    const again = new AdapterCache(root, 0, silentLogger);
    await again.init();
    expect(again.all().map((x) => x.dir)).toEqual([e.dir]);
    expect((await readdir(join(root, 'adapters', 'a'))).sort()).toEqual([e.dir.split('/').at(-1)]);
    expect(await readdir(join(root, '.staging'))).toEqual([]);
  });
});

describe('AdapterManager recovery', () => {
  // The S3 client of these tests points at a closed port: any download fails with ECONNREFUSED.
  const waitRetry = async (manager: AdapterManager, name: string) => {
    for (let i = 0; i < 100 && manager.get(name)!.state === 'Failed'; i++) {
      await new Promise((r) => setTimeout(r, 30));
      await manager.reconcile();
      await manager.idle();
    }
  };

  it.each([
    ['a permanent staging failure (InvalidSource)', 's3://bucket/a1/v2/../x/'],
    ['transient failures that run out (RetriesExhausted)', 's3://bucket/a1/v2/'],
  ])('reverts to the version still staged after %s: Loaded again, no engine call needed', async (_what, v2) => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const v1 = await seed(cache, 'a1', 's3://bucket/a1/v1/');
    manager.put('a1', { source: 's3://bucket/a1/v1/', digest: v1.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    const loadsBefore = fake.calls.length;

    manager.put('a1', { source: v2 });
    await manager.idle();
    await waitRetry(manager, 'a1');
    const failed = manager.get('a1')!;
    expect(failed.state).toBe('Failed');
    expect(['InvalidSource', 'RetriesExhausted']).toContain(failed.error!.reason);
    expect(fake.loaded.get('a1')).toBe(v1.dir); // the engine kept serving v1

    manager.put('a1', { source: 's3://bucket/a1/v1/', digest: v1.digest });
    await manager.idle();
    expect(manager.get('a1')).toMatchObject({ state: 'Loaded', digest: v1.digest, path: v1.dir, attempts: 0 });
    expect(manager.get('a1')!.error).toBeUndefined();
    expect(fake.calls.length).toBe(loadsBefore); // already held from that folder: nothing to do
    await manager.stop();
  });

  it('reverts and loads again when the engine no longer holds the old version', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const v1 = await seed(cache, 'a1', 's3://bucket/a1/v1/');
    manager.put('a1', { source: 's3://bucket/a1/v1/', digest: v1.digest });
    await manager.idle();
    manager.put('a1', { source: 's3://bucket/a1/v2/../x/' });
    await manager.idle();
    fake.loaded.clear(); // an engine restart meanwhile
    manager.put('a1', { source: 's3://bucket/a1/v1/', digest: v1.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    expect(fake.loaded.get('a1')).toBe(v1.dir);
    await manager.stop();
  });

  it('gives up on transient failures after maxAttempts with RetriesExhausted naming the last error; a changed spec starts afresh', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url), 0, { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 10 });
    manager.put('b1', { source: 's3://bucket/b1/' });
    await manager.idle();
    expect(manager.get('b1')).toMatchObject({ state: 'Failed', attempts: 1, error: { reason: 'S3Error' } });
    await waitRetry(manager, 'b1');
    await new Promise((r) => setTimeout(r, 30));
    await manager.reconcile();
    await manager.idle();
    const s = manager.get('b1')!;
    expect(s).toMatchObject({ state: 'Failed', attempts: 3, error: { reason: 'RetriesExhausted' } });
    expect(s.error!.message).toMatch(/gave up after 3 attempts; the last error was S3Error: .*ECONNREFUSED/);
    // Permanent now: the reconcile loop leaves it alone.
    await new Promise((r) => setTimeout(r, 30));
    await manager.reconcile();
    await manager.idle();
    expect(manager.get('b1')!.attempts).toBe(3);
    // The same spec again changes nothing; a changed one starts from zero attempts.
    expect(manager.put('b1', { source: 's3://bucket/b1/' }).attempts).toBe(3);
    const e = await seed(cache, 'b1', 's3://bucket/b1-fixed/');
    manager.put('b1', { source: 's3://bucket/b1-fixed/', digest: e.digest });
    await manager.idle();
    expect(manager.get('b1')).toMatchObject({ state: 'Loaded', attempts: 0 });
    await manager.stop();
  });

  it('waits for an engine that does not answer without counting attempts, and loads once it does', async () => {
    fake = await startFakeVllm();
    const endpoint = { url: `http://127.0.0.1:${await freePort()}` };
    const { cache, manager } = await setup(new VllmClient(endpoint), 0, { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 });
    const e = await seed(cache, 'a1', 's3://bucket/a1/');
    manager.put('a1', { source: 's3://bucket/a1/', digest: e.digest });
    await manager.idle();
    for (let i = 0; i < 5; i++) {
      await manager.reconcile();
      await manager.idle();
    }
    expect(manager.get('a1')).toMatchObject({ state: 'Staged', attempts: 0, error: { reason: 'EngineUnavailable' } });
    expect(manager.engineProblem).toMatch(/cannot be reached/);
    endpoint.url = fake.url; // the engine is up
    await manager.reconcile();
    await manager.idle();
    expect(manager.get('a1')).toMatchObject({ state: 'Loaded', attempts: 0 });
    expect(manager.get('a1')!.error).toBeUndefined();
    await manager.stop();
  });
});

describe('older versions leave the disk', () => {
  it.each([0, 1 << 30])('once a new version is Loaded, unprotected older folders of the name are removed (budget %i)', async (budget) => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url), budget);
    const v1 = await seed(cache, 'a1', 's3://bucket/a1/v1/');
    const v2 = await seed(cache, 'a1', 's3://bucket/a1/v2/', 'gpt2-seqcls-c_attn');
    const other = await seed(cache, 'b1', 's3://bucket/b1/');
    manager.put('a1', { source: 's3://bucket/a1/v1/', digest: v1.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    // v1 Loaded: v2 (never loaded, staged earlier) is not protected and goes too.
    expect(cache.all().map((e) => e.dir).sort()).toEqual([v1.dir, other.dir].sort());
    const v2again = await seed(cache, 'a1', 's3://bucket/a1/v2/', 'gpt2-seqcls-c_attn');
    expect(v2again.dir).toBe(v2.dir);
    manager.put('a1', { source: 's3://bucket/a1/v2/', digest: v2.digest });
    await manager.idle();
    expect(manager.get('a1')).toMatchObject({ state: 'Loaded', path: v2.dir });
    expect(fake.loaded.get('a1')).toBe(v2.dir);
    expect(cache.all().map((e) => e.dir).sort()).toEqual([v2.dir, other.dir].sort());
    expect(await readdir(join(root, 'adapters', 'a1'))).toEqual([v2.dir.split('/').at(-1)]);
    await manager.stop();
  });

  it('keeps an older folder the engine still holds (under any name)', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const v1 = await seed(cache, 'a1', 's3://bucket/a1/v1/');
    const v2 = await seed(cache, 'a1', 's3://bucket/a1/v2/', 'gpt2-seqcls-c_attn');
    fake.loaded.set('pinned-copy', v1.dir); // someone registered v1's folder under another name
    manager.put('a1', { source: 's3://bucket/a1/v2/', digest: v2.digest });
    await manager.idle();
    expect(manager.get('a1')!.state).toBe('Loaded');
    expect(cache.all().map((e) => e.dir).sort()).toEqual([v1.dir, v2.dir].sort());
    await manager.stop();
  });

  it('keeps the old version while the new one fails', async () => {
    fake = await startFakeVllm();
    const { cache, manager } = await setup(new VllmClient(fake.url));
    const v1 = await seed(cache, 'a1', 's3://bucket/a1/v1/');
    const v2 = await seed(cache, 'a1', 's3://bucket/a1/v2/', 'gpt2-seqcls-c_attn');
    manager.put('a1', { source: 's3://bucket/a1/v1/', digest: v1.digest });
    await manager.idle();
    await seed(cache, 'a1', 's3://bucket/a1/v2/', 'gpt2-seqcls-c_attn');
    fake.failNext = { status: 400, body: { error: { message: 'LoRA rank 8 is greater than max_lora_rank 4.', type: 'BadRequestError', param: null, code: 400 } } };
    manager.put('a1', { source: 's3://bucket/a1/v2/', digest: v2.digest });
    await manager.idle();
    expect(manager.get('a1')).toMatchObject({ state: 'Failed', error: { reason: 'EngineRejected' } });
    expect(fake.loaded.get('a1')).toBe(v1.dir);
    expect(cache.find('a1', v1.digest)).toBeDefined();
    await manager.stop();
  });
});
