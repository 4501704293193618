import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../src/runtime/fake-clock.js';
import { WorkQueue } from '../../src/runtime/workqueue.js';
import { ItemExponentialFailureRateLimiter, type RateLimiter } from '../../src/runtime/rate-limiter.js';
import type { QueueMetrics } from '../../src/runtime/metrics.js';

function newQueue(clock = new FakeClock(), rateLimiter?: RateLimiter<string>, metrics?: QueueMetrics) {
  return { clock, q: new WorkQueue<string>({ clock, rateLimiter, metrics }) };
}

// Resolves to the item if get() answers within the current turn of settled promises, else 'pending'.
async function poll(p: Promise<{ item?: string; shutdown: boolean }>): Promise<string> {
  const marker = Symbol('pending');
  const r = await Promise.race([p.then((g) => (g.shutdown ? 'SHUTDOWN' : g.item!)), settle().then(() => marker)]);
  return r === marker ? 'pending' : (r as string);
}

describe('WorkQueue', () => {
  it('queues a key once however often it is added while waiting', async () => {
    const { q } = newQueue();
    q.add('a'); q.add('b'); q.add('a'); q.add('a');
    expect(q.len()).toBe(2);
    expect((await q.get()).item).toBe('a');
    expect((await q.get()).item).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands one key to two workers; a key added while processing comes back after done()', async () => {
    const { q } = newQueue();
    q.add('a');
    const first = await q.get();
    expect(first.item).toBe('a');
    q.add('a'); // arrives while a worker holds it
    q.add('a');
    expect(q.len()).toBe(0);
    const second = q.get();
    expect(await poll(second)).toBe('pending');
    q.done('a');
    expect(await poll(second)).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('runs concurrent workers on distinct keys but never the same key twice at once', async () => {
    const { q } = newQueue();
    const active = new Set<string>();
    let overlaps = 0;
    let processed = 0;
    const worker = async () => {
      for (;;) {
        const g = await q.get();
        if (g.shutdown) return;
        if (active.has(g.item)) overlaps++;
        active.add(g.item);
        // Re-adding during processing must not lead to a second concurrent hand-out.
        if (processed < 200) q.add(g.item);
        await settle(2);
        active.delete(g.item);
        processed++;
        q.done(g.item);
      }
    };
    for (const k of ['a', 'b', 'c']) q.add(k);
    const workers = [worker(), worker(), worker(), worker()];
    while (processed < 200) await settle(2);
    await q.shutDownWithDrain();
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(processed).toBeGreaterThanOrEqual(200);
  });

  it('backs off per key exponentially from 5 ms, capped at 1000 s, and forget() resets it', () => {
    const rl = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    const waits = Array.from({ length: 5 }, () => rl.when('a'));
    expect(waits).toEqual([5, 10, 20, 40, 80]);
    expect(rl.numRequeues('a')).toBe(5);
    expect(rl.when('b')).toBe(5); // keys are independent
    for (let i = 0; i < 40; i++) rl.when('a');
    expect(rl.when('a')).toBe(1_000_000);
    rl.forget('a');
    expect(rl.numRequeues('a')).toBe(0);
    expect(rl.when('a')).toBe(5);
  });

  it('addRateLimited delays by the growing backoff; forget resets it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock, rateLimiter: new ItemExponentialFailureRateLimiter(5, 1_000_000) });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = clock.now();
      q.addRateLimited('k');
      const got = q.get();
      let step = 0;
      while ((await poll(got)) === 'pending') { await clock.advance(1); step++; if (step > 100) throw new Error('never came'); }
      delays.push(clock.now() - t0);
      q.done('k');
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    q.forget('k');
    const t0 = clock.now();
    q.addRateLimited('k');
    const got = q.get();
    while ((await poll(got)) === 'pending') await clock.advance(1);
    expect(clock.now() - t0).toBe(5);
  });

  it('addAfter holds a key back until its time, keeping the earliest time when added twice', async () => {
    const { q, clock } = newQueue();
    q.addAfter('late', 1000);
    q.addAfter('x', 500);
    q.addAfter('x', 2000); // later: ignored, 500 stays
    expect(q.len()).toBe(0);
    expect(q.delayedLen()).toBe(2);
    await clock.advance(499);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
    expect((await q.get()).item).toBe('x');
    q.addAfter('late', 100); // earlier than its pending 1000 ms: moves up
    await clock.advance(100);
    expect((await q.get()).item).toBe('late');
    await clock.advance(5000);
    expect(q.len()).toBe(0); // the superseded 1000 ms entry did not fire a second add
  });

  it('addAfter with no delay adds at once, and a delayed key already queued is not duplicated', async () => {
    const { q, clock } = newQueue();
    q.addAfter('a', 0);
    expect(q.len()).toBe(1);
    q.addAfter('a', 10);
    await clock.advance(10);
    expect(q.len()).toBe(1);
  });

  it('rate-limits overall with a token bucket (10 qps, burst 100) on top of per-key backoff', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock }); // client-go's default limiter
    for (let i = 0; i < 100; i++) q.addRateLimited(`k${i}`);
    await clock.advance(5); // first failure of each key: 5 ms, within the burst
    expect(q.len()).toBe(100);
    for (let i = 100; i < 110; i++) q.addRateLimited(`k${i}`);
    await clock.advance(5);
    expect(q.len()).toBe(100); // the bucket is empty: the next ten come one per 100 ms
    await clock.advance(100);
    expect(q.len()).toBe(101);
    await clock.advance(900);
    expect(q.len()).toBe(110);
  });

  it('shuts down: adds are ignored, delayed keys dropped, queued keys still handed out, then shutdown', async () => {
    const { q, clock } = newQueue();
    q.add('a'); q.add('b');
    q.addAfter('c', 100);
    const a = await q.get();
    q.shutDown();
    q.add('d');
    await clock.advance(200);
    expect(q.len()).toBe(1);
    expect((await q.get()).item).toBe('b');
    expect((await q.get()).shutdown).toBe(true);
    q.done(a.item!);
    q.done('b');
  });

  it('wakes idle workers on shutdown, and shutDownWithDrain waits for work in progress', async () => {
    const { q } = newQueue();
    const idle = q.get();
    q.shutDown();
    expect((await idle).shutdown).toBe(true);

    const { q: q2 } = newQueue();
    q2.add('a');
    const g = await q2.get();
    let drained = false;
    const d = q2.shutDownWithDrain().then(() => { drained = true; });
    await settle();
    expect(drained).toBe(false);
    q2.done(g.item!);
    await d;
    expect(drained).toBe(true);
  });

  it('reports depth, adds, retries and durations', async () => {
    const seen = { added: 0, depth: [] as number[], started: [] as number[], finished: [] as number[], retried: 0 };
    const metrics: QueueMetrics = {
      added: () => { seen.added++; }, depth: (n) => { seen.depth.push(n); },
      started: (ms) => { seen.started.push(ms); }, finished: (ms) => { seen.finished.push(ms); }, retried: () => { seen.retried++; },
    };
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock, metrics, rateLimiter: new ItemExponentialFailureRateLimiter(5, 1000) });
    q.add('a'); q.add('a');
    await clock.advance(30);
    const g = await q.get();
    await clock.advance(70);
    q.done(g.item!);
    q.addRateLimited('a');
    expect(seen.added).toBe(1);
    expect(seen.depth).toEqual([1, 0]);
    expect(seen.started).toEqual([30]);
    expect(seen.finished).toEqual([70]);
    expect(seen.retried).toBe(1);
  });
});
