// What the agent's metrics cost an idle pod: prom-client's event-loop delay monitor is a timer that
// wakes the process at its resolution; at the default 10 ms that was most of an idle agent's CPU.
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentMetrics } from '../../src/agent/metrics.js';

// prom-client reads perf_hooks through require(), so its monitor can be watched on that object.
const perfHooks = createRequire(import.meta.url)('perf_hooks') as typeof import('node:perf_hooks');

afterEach(() => { vi.restoreAllMocks(); });

describe('AgentMetrics', () => {
  it('samples the event-loop delay at most once a second, and still reports it', async () => {
    const spy = vi.spyOn(perfHooks, 'monitorEventLoopDelay');
    const m = new AgentMetrics(() => [], () => 0, true);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![0]!.resolution).toBeGreaterThanOrEqual(1000);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^graft_agent_nodejs_eventloop_lag_max_seconds /m);
    spy.mock.results[0]!.value.disable();
  });
});
