import { describe, expect, it } from 'vitest';
import { ControllerRunner, TerminalError, type Controller, type ReconcileResult } from '../../src/runtime/controller.js';
import { FakeClock, settle } from '../../src/runtime/fake-clock.js';
import { OperatorMetrics } from '../../src/runtime/metrics.js';
import { kind } from '../../src/runtime/object.js';
import { ItemExponentialFailureRateLimiter } from '../../src/runtime/rate-limiter.js';
import { silentLogger } from '../../src/util/log.js';

const CM = kind('v1', 'ConfigMap', 'configmaps');

function setup(reconcile: Controller['reconcile'], workers = 1) {
  const clock = new FakeClock();
  const metrics = new OperatorMetrics();
  const calls: Array<{ key: string; at: number }> = [];
  const controller: Controller = {
    name: 'test', for: CM, workers,
    reconcile: async (req, log, signal) => { calls.push({ key: req.key, at: clock.now() }); return reconcile(req, log, signal); },
  };
  const runner = new ControllerRunner(controller, { clock, logger: silentLogger, metrics, rateLimiter: new ItemExponentialFailureRateLimiter(5, 1_000_000) });
  return { clock, metrics, calls, runner };
}

async function value(metrics: OperatorMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)!.get();
  const v = m.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

describe('ControllerRunner', () => {
  it('reconciles each key and counts success', async () => {
    const { runner, calls, metrics } = setup(async () => {});
    runner.start();
    runner.enqueue('ns/a');
    runner.enqueue('ns/b');
    await settle();
    expect(calls.map((c) => c.key)).toEqual(['ns/a', 'ns/b']);
    expect(await value(metrics, 'controller_runtime_reconcile_total', { controller: 'test', result: 'success' })).toBe(2);
    await runner.drain();
  });

  it('retries a failing key with growing backoff and resets it after success', async () => {
    let fail = 4;
    const { runner, calls, clock, metrics } = setup(async () => { if (fail-- > 0) throw new Error('boom'); });
    runner.start();
    runner.enqueue('ns/a');
    await clock.advance(1000);
    const times = calls.map((c) => c.at - calls[0].at);
    expect(times).toEqual([0, 5, 15, 35, 75]); // waits of 5, 10, 20, 40 ms
    expect(await value(metrics, 'controller_runtime_reconcile_errors_total', { controller: 'test' })).toBe(4);
    expect(await value(metrics, 'workqueue_retries_total', { name: 'test' })).toBe(4);
    expect(runner.queue.numRequeues('ns/a')).toBe(0); // forgotten after the success
    await runner.drain();
  });

  it('does not retry a terminal error', async () => {
    const { runner, calls, clock, metrics } = setup(async () => { throw new TerminalError('spec.source.uri must be s3://'); });
    runner.start();
    runner.enqueue('ns/bad');
    await clock.advance(60_000);
    expect(calls).toHaveLength(1);
    expect(await value(metrics, 'controller_runtime_terminal_reconcile_errors_total', { controller: 'test' })).toBe(1);
    expect(await value(metrics, 'controller_runtime_reconcile_total', { controller: 'test', result: 'error' })).toBe(1);
    runner.enqueue('ns/bad'); // a later change to the object is reconciled again
    await settle();
    expect(calls).toHaveLength(2);
    await runner.drain();
  });

  it('requeues after the time the reconciler asks for', async () => {
    let n = 0;
    const { runner, calls, clock } = setup(async (): Promise<ReconcileResult> => (n++ < 2 ? { requeueAfter: 30_000 } : {}));
    runner.start();
    runner.enqueue('ns/a');
    await clock.advance(29_999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toHaveLength(2);
    await clock.advance(120_000);
    expect(calls.map((c) => c.at - calls[0].at)).toEqual([0, 30_000, 60_000]);
    await runner.drain();
  });

  it('never runs one key on two workers at once, even with many workers', async () => {
    const active = new Set<string>();
    let overlap = 0;
    let total = 0;
    const { runner, clock } = setup(async (req) => {
      if (active.has(req.key)) overlap++;
      active.add(req.key);
      total++;
      await new Promise((r) => setImmediate(r));
      active.delete(req.key);
    }, 8);
    runner.start();
    for (let round = 0; round < 20; round++) {
      for (const k of ['a', 'b', 'c']) runner.enqueue(`ns/${k}`);
      await settle(3);
    }
    await clock.advance(10);
    await runner.drain();
    expect(overlap).toBe(0);
    expect(total).toBeGreaterThanOrEqual(20);
  });

  it('halting drops queued keys and aborts the signal of reconciles in progress', async () => {
    let release!: () => void;
    let sawAbort = false;
    const { runner, calls } = setup(async (_req, _log, signal) => {
      await new Promise<void>((r) => { release = r; });
      sawAbort = signal.aborted;
    });
    runner.start();
    runner.enqueue('ns/a');
    runner.enqueue('ns/b');
    await settle();
    const halted = runner.halt();
    release();
    await halted;
    expect(sawAbort).toBe(true);
    expect(calls.map((c) => c.key)).toEqual(['ns/a']);
  });

  it('draining finishes the queued keys before stopping', async () => {
    const { runner, calls } = setup(async () => { await new Promise((r) => setImmediate(r)); });
    for (const k of ['a', 'b', 'c']) runner.enqueue(`ns/${k}`);
    runner.start();
    await runner.drain();
    expect(calls.map((c) => c.key)).toEqual(['ns/a', 'ns/b', 'ns/c']);
  });
});
