// The agent's Prometheus metrics, in a registry of its own (tests run several agents in a process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { EVENT_LOOP_SAMPLE_MS } from '../runtime/metrics.js';
import { ADAPTER_STATES, type AdapterState } from './types.js';

export type StageKind = 'adapter' | 'base';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly stagedBytes: Counter<'kind'>;
  readonly stagingDuration: Histogram<'kind' | 'result'>;
  readonly stagingThroughput: Histogram<'kind'>;
  readonly loadDuration: Histogram<'engine' | 'operation' | 'result'>;
  readonly adapters: Gauge<'state'>;
  readonly s3Errors: Counter<'code'>;
  readonly engineReloads: Counter;
  readonly evictions: Counter;
  readonly cacheBytes: Gauge;

  constructor(states: () => Iterable<AdapterState> = () => [], cacheBytes: () => number = () => 0, withDefaults = true) {
    const registers = [this.registry];
    // The event-loop delay histogram samples once a second, not every 10 ms (prom-client's default):
    // its timer woke the idle agent 100 times a second, about 5 ms of CPU a second on the 2-core
    // machine, per pod. A stall still shows in the max (a blocked loop delays the next sample).
    if (withDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'graft_agent_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.stagedBytes = new Counter({ name: 'graft_agent_staged_bytes_total', help: 'Bytes downloaded from S3 into the cache', labelNames: ['kind'], registers });
    this.stagingDuration = new Histogram({
      name: 'graft_agent_staging_duration_seconds', help: 'Time to stage one adapter or base model (list, download, verify)',
      labelNames: ['kind', 'result'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800], registers,
    });
    this.stagingThroughput = new Histogram({
      name: 'graft_agent_staging_throughput_bytes_per_second', help: 'Download throughput of each completed staging',
      labelNames: ['kind'], buckets: [1e6, 5e6, 1e7, 5e7, 1e8, 2.5e8, 5e8, 1e9, 2.5e9, 5e9], registers,
    });
    this.loadDuration = new Histogram({
      name: 'graft_agent_engine_load_duration_seconds', help: 'Latency of engine load and unload calls',
      labelNames: ['engine', 'operation', 'result'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
    });
    this.adapters = new Gauge({
      name: 'graft_agent_adapters', help: 'Adapters held by the agent, by state', labelNames: ['state'], registers,
      collect() {
        const counts = new Map<AdapterState, number>(ADAPTER_STATES.map((s) => [s, 0]));
        for (const s of states()) counts.set(s, (counts.get(s) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.s3Errors = new Counter({ name: 'graft_agent_s3_errors_total', help: 'Failed S3 requests (retried or not), by error code', labelNames: ['code'], registers });
    this.engineReloads = new Counter({ name: 'graft_agent_engine_reloads_total', help: 'Adapters loaded again because the engine no longer held them (engine restart)', registers });
    this.evictions = new Counter({ name: 'graft_agent_cache_evictions_total', help: 'Staged folders removed to stay within the disk budget', registers });
    this.cacheBytes = new Gauge({ name: 'graft_agent_cache_bytes', help: 'Bytes of staged adapters on disk', registers, collect() { this.set(cacheBytes()); } });
  }
}
