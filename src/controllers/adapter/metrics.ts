import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PLACEMENT_STATES } from '../../api/adapter.js';

// The Adapter controller's own metrics.
export class AdapterMetrics {
  private readonly placements: Gauge<'state'>;
  readonly readySeconds: Histogram;
  readonly agentErrors: Counter<'code'>;
  private readonly perBaseModel = new Map<string, Map<string, number>>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.placements = new Gauge({ name: 'graft_adapter_placements', help: 'Adapter placements on serving pods, by state', labelNames: ['state'], registers });
    for (const s of PLACEMENT_STATES) this.placements.labels(s).set(0);
    this.readySeconds = new Histogram({
      name: 'graft_adapter_ready_seconds', help: 'Seconds from an Adapter\'s creation (or source change) until every replica is Loaded',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800], registers,
    });
    this.agentErrors = new Counter({ name: 'graft_agent_call_errors_total', help: 'Failed calls from the operator to pod agents, by code (http_<status>, timeout, network, tls, bad_answer, aborted)', labelNames: ['code'], registers });
  }

  // Replaces one BaseModel's counts; the gauge shows the sum over all base models.
  setPlacements(baseModelKey: string, counts: Map<string, number> | undefined): void {
    if (counts) this.perBaseModel.set(baseModelKey, counts); else this.perBaseModel.delete(baseModelKey);
    for (const s of PLACEMENT_STATES) {
      let n = 0;
      for (const c of this.perBaseModel.values()) n += c.get(s) ?? 0;
      this.placements.labels(s).set(n);
    }
  }
}
