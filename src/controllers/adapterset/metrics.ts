import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DECISION_ACTIONS } from '../../api/adapterset.js';

// The AdapterSet controller's own metrics.
export class AdapterSetMetrics {
  readonly decisions: Counter<'action'>;
  readonly mergeSeconds: Histogram;
  readonly modules: Gauge<'namespace' | 'name'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.decisions = new Counter({ name: 'graft_adapterset_decisions_total', help: 'AdapterSet decisions recorded, by action', labelNames: ['action'], registers });
    for (const a of DECISION_ACTIONS) this.decisions.labels(a);
    this.mergeSeconds = new Histogram({
      name: 'graft_adapterset_merge_seconds', help: 'Seconds from a merge Job\'s start to its completion',
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600], registers,
    });
    this.modules = new Gauge({ name: 'graft_adapterset_modules', help: 'Modules (served Adapters) per AdapterSet', labelNames: ['namespace', 'name'], registers });
  }
}
