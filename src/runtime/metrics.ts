import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// prom-client's event-loop delay monitor is a timer at its resolution: at the default 10 ms it woke
// an idle process 100 times a second (most of an idle agent's CPU). Once a second still shows a
// blocked loop in the max.
export const EVENT_LOOP_SAMPLE_MS = 1_000;
import { hostOf, resourceOf } from './request-counting.js';

// The operator's Prometheus metrics, under controller-runtime's and client-go's names so the
// dashboards and alerts written for Go operators work unchanged. One registry per Manager (not the
// prom-client global), so tests can run several in one process. docs/metrics.md lists them all.

/** What a work queue reports; the queue itself knows nothing of Prometheus. */
export interface QueueMetrics {
  added(): void;
  depth(n: number): void;
  /** An item was handed to a worker after waiting `waitedMs` in the queue. */
  started(waitedMs: number): void;
  /** A worker finished an item after `workedMs`. */
  finished(workedMs: number): void;
  retried(): void;
}

export const noQueueMetrics: QueueMetrics = { added() {}, depth() {}, started() {}, finished() {}, retried() {} };

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100];
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly terminalReconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly queueDepth: Gauge<'name'>;
  readonly queueAdds: Counter<'name'>;
  readonly queueDuration: Histogram<'name'>;
  readonly workDuration: Histogram<'name'>;
  readonly queueRetries: Counter<'name'>;
  readonly restRequests: Counter<'code' | 'method' | 'host'>;
  readonly kubeRequests: Counter<'code' | 'method' | 'resource'>;
  readonly kubeRequestSeconds: Histogram<'method' | 'resource'>;
  readonly leaderStatus: Gauge<'name'>;
  readonly informerRestarts: Counter<'kind'>;

  constructor(opts: { registry?: Registry; processMetrics?: boolean } = {}) {
    const registers = [this.registry = opts.registry ?? new Registry()];
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers });
    this.terminalReconcileErrors = new Counter({ name: 'controller_runtime_terminal_reconcile_errors_total', help: 'Total number of terminal reconciliation errors per controller', labelNames: ['controller'], registers });
    this.reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: RECONCILE_BUCKETS, registers });
    this.activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'], registers });
    this.queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers });
    this.queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers });
    this.queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers });
    this.workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers });
    this.queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'], registers });
    this.restRequests = new Counter({ name: 'rest_client_requests_total', help: 'Number of HTTP requests to the Kubernetes API, partitioned by status code, method, and host', labelNames: ['code', 'method', 'host'], registers });
    this.kubeRequests = new Counter({ name: 'graft_kube_requests_total', help: 'Requests to the Kubernetes API by status code, method and resource (leases, configmaps, adapters/status, ...)', labelNames: ['code', 'method', 'resource'], registers });
    this.kubeRequestSeconds = new Histogram({
      name: 'graft_kube_request_duration_seconds', help: 'Seconds until the Kubernetes API answered a request (watches aside), by method and resource',
      labelNames: ['method', 'resource'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers,
    });
    this.leaderStatus = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master', labelNames: ['name'], registers });
    this.informerRestarts = new Counter({ name: 'graft_informer_restarts_total', help: 'Times an informer was restarted after an error', labelNames: ['kind'], registers });
  }

  /** The QueueMetrics of the work queue called `name` (the controller's name). */
  queue(name: string): QueueMetrics {
    // Touch every series so they appear (at zero) before the first item arrives.
    this.queueAdds.labels(name);
    this.queueRetries.labels(name);
    this.queueDepth.labels(name).set(0);
    return {
      added: () => this.queueAdds.labels(name).inc(),
      depth: (n) => this.queueDepth.labels(name).set(n),
      started: (ms) => this.queueDuration.labels(name).observe(ms / 1000),
      finished: (ms) => this.workDuration.labels(name).observe(ms / 1000),
      retried: () => this.queueRetries.labels(name).inc(),
    };
  }

  /** Records one API request; `code` is the HTTP status, or '<error>' when no answer came. */
  request(method: string, url: string, code: number | '<error>', seconds?: number): void {
    const m = method.toUpperCase();
    this.restRequests.labels({ code: String(code), method: m, host: hostOf(url) }).inc();
    const resource = resourceOf(url);
    this.kubeRequests.labels({ code: String(code), method: m, resource }).inc();
    if (seconds !== undefined) this.kubeRequestSeconds.labels({ method: m, resource }).observe(seconds);
  }
}
