// The wanted set's saver: bursts of changes become at most one write in flight and one pending,
// and the last write always holds the latest value.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CoalescedWriter } from '../../src/agent/coalesced-writer.js';
import { AdapterCache } from '../../src/agent/cache.js';
import { AdapterManager } from '../../src/agent/manager.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import type { EngineClient } from '../../src/agent/engines/types.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { Limiter } from '../../src/util/limiter.js';
import { silentLogger } from '../../src/util/log.js';

function slowWriter() {
  let value = 0;
  const writes: string[] = [];
  let open: Array<() => void> = [];
  const w = new CoalescedWriter(() => String(value), (text) => new Promise<void>((resolve) => {
    writes.push(text);
    open.push(resolve);
  }), () => {});
  return {
    w, writes,
    set(v: number) { value = v; w.schedule(); },
    finishWrites() { const o = open; open = []; for (const r of o) r(); },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('CoalescedWriter', () => {
  it('turns a burst of changes into one write of the latest value', async () => {
    const s = slowWriter();
    for (let i = 1; i <= 100; i++) s.set(i);
    await tick();
    expect(s.writes).toEqual(['100']);
    s.finishWrites();
    await s.w.flush();
    expect(s.writes).toEqual(['100']);
  });

  it('keeps one write in flight and one pending, which renders the value when it starts', async () => {
    const s = slowWriter();
    s.set(1);
    await tick();
    for (let i = 2; i <= 50; i++) s.set(i); // all while "1" is being written
    await tick();
    expect(s.writes).toEqual(['1']);
    s.finishWrites();
    await tick();
    expect(s.writes).toEqual(['1', '50']);
    s.set(51);
    s.finishWrites();
    await tick();
    s.finishWrites();
    await s.w.flush();
    expect(s.writes).toEqual(['1', '50', '51']);
  });

  it('reports a failed write and writes again on the next change', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const writes: string[] = [];
    let v = 'a';
    const w = new CoalescedWriter(() => v, async (t) => {
      if (fail) throw new Error('disk full');
      writes.push(t);
    }, (err) => errors.push(err));
    w.schedule();
    await w.flush();
    expect(errors).toHaveLength(1);
    fail = false;
    v = 'b';
    w.schedule();
    await w.flush();
    expect(writes).toEqual(['b']);
  });

  it('reports a value that cannot be rendered, and keeps working', async () => {
    const errors: unknown[] = [];
    let broken = true;
    const writes: string[] = [];
    const w = new CoalescedWriter(() => { if (broken) throw new Error('cannot render'); return 'ok'; }, async (t) => { writes.push(t); }, (err) => errors.push(err));
    w.schedule();
    await w.flush();
    broken = false;
    w.schedule();
    await w.flush();
    expect(errors).toHaveLength(1);
    expect(writes).toEqual(['ok']);
  });
});

describe('the wanted set on disk', () => {
  it('holds every adapter of a burst of PUTs and DELETEs once the manager stops', async () => {
    const root = await mkdtemp(join(tmpdir(), 'graft-wanted-'));
    try {
      const metrics = new AgentMetrics(() => [], () => 0, false);
      const cache = new AdapterCache(root, 0, silentLogger);
      await cache.init();
      // An engine that is never reached: staging fails first (no S3 at port 9), which is fine here.
      const engine = { kind: 'vllm', list: async () => [], load: async () => 'loaded', unload: async () => 'absent', ready: async () => true } as unknown as EngineClient;
      const retry = { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10 };
      const client = createS3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true }, { credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
      const manager = new AdapterManager({
        engine, cache, metrics, log: silentLogger, reconcileIntervalMs: 60_000, retry,
        stager: { client, limiter: new Limiter(2), partSize: 1 << 20, concurrency: 2, retry, metrics, log: silentLogger, limits: { maxRank: 16, maxBytes: 1 << 30 } },
      });
      await manager.start();
      for (let i = 0; i < 50; i++) manager.put(`a${i}`, { source: `s3://bucket/a${i}/` });
      manager.delete('a7');
      await manager.stop();
      const saved = JSON.parse(await readFile(join(root, 'state', 'wanted.json'), 'utf8')) as Record<string, { source: string }>;
      expect(Object.keys(saved)).toHaveLength(49);
      expect(saved.a7).toBeUndefined();
      expect(saved.a49).toEqual({ source: 's3://bucket/a49/' });
      client.destroy();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
