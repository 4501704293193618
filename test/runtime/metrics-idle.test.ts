// What the operator's process metrics cost when nothing happens: prom-client's event-loop delay
// monitor wakes the process at its resolution (10 ms by default).
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OperatorMetrics } from '../../src/runtime/metrics.js';

// prom-client reads perf_hooks through require(), so its monitor can be watched on that object.
const perfHooks = createRequire(import.meta.url)('perf_hooks') as typeof import('node:perf_hooks');

afterEach(() => { vi.restoreAllMocks(); });

describe('OperatorMetrics', () => {
  it('samples the event-loop delay at most once a second, and still reports it', async () => {
    const spy = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    const m = new OperatorMetrics({ processMetrics: true });
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![0]!.resolution).toBeGreaterThanOrEqual(1000);
    expect(await m.registry.metrics()).toMatch(/^nodejs_eventloop_lag_max_seconds /m);
    spy.mock.results[0]!.value.disable();
  });
});
