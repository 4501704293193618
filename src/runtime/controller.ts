import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from './clock.js';
import { isTerminal } from './errors.js';
import type { EventRecorder } from './events.js';
import type { Cache } from './informer.js';
import type { KubeClient } from './kube-client.js';
import type { OperatorMetrics } from './metrics.js';
import { splitKey, type Kind, type KubeObject } from './object.js';
import type { RateLimiter } from './rate-limiter.js';
import { WorkQueue } from './workqueue.js';

export { TerminalError } from './errors.js';

// A controller in the manner of controller-runtime: it watches a primary kind (plus the kinds it
// owns, mapped to their owner, and any kind through a mapper), feeds keys ("namespace/name") into
// its work queue, and runs `reconcile` for each key on a few workers. Reconcilers are level
// triggered: they read the object from the cache, compare with the world, act, write status.

export interface ReconcileRequest {
  key: string;
  namespace: string;
  name: string;
}

export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (the backoff is reset). */
  requeueAfter?: number;
  /** Reconcile again with the rate limiter's backoff, without counting an error. */
  requeue?: boolean;
}

export interface Controller {
  /** Names the queue, the metrics series and the logs, e.g. 'basemodel'. */
  name: string;
  /** The primary kind: its objects are reconciled. */
  for: Kind;
  /** Kinds this controller creates; an event on one enqueues its controlling owner of kind `for`. */
  owns?: Kind[];
  /** Any other kind, with a function from its objects to the keys to reconcile. */
  watches?: Array<{ kind: Kind; map: (obj: KubeObject) => string[] }>;
  /** Keys processed at once (never the same key twice at once). Default 1. */
  workers?: number;
  /**
   * Brings the world in line with the object at `req`. Throw to retry with backoff; throw a
   * TerminalError to stop retrying until the object changes. `signal` aborts when this process
   * stops leading: stop writing then.
   */
  reconcile(req: ReconcileRequest, log: Logger, signal: AbortSignal): Promise<ReconcileResult | void>;
}

/** What a controller may use, handed to its factory by the Manager. */
export interface ControllerContext {
  client: KubeClient;
  /** The shared informer cache of a kind (registered before the manager starts). */
  cache<T extends KubeObject>(kind: Kind): Cache<T>;
  events: EventRecorder;
  logger: Logger;
  clock: Clock;
  /** The namespaces the operator watches, or undefined for all. */
  namespaces: readonly string[] | undefined;
  /** The operator's metrics registry, for a controller's own graft_* metrics. */
  registry: Registry;
  /**
   * Throws when this process no longer leads, judged by the clock now (and stops the term then):
   * call it right before a side effect that does not go through `client` (an agent call).
   * Requests of `client.withSignal(signal)` check it themselves.
   */
  checkLeadership: () => void;
}

export type ControllerFactory = (ctx: ControllerContext) => Controller;

export interface RunnerOptions {
  clock: Clock;
  logger: Logger;
  metrics: OperatorMetrics;
  rateLimiter?: RateLimiter<string>;
}

/**
 * Runs one controller for one leadership term: its queue and workers. A new term gets a new
 * runner, so nothing from a lost term leaks into the next.
 */
export class ControllerRunner {
  readonly queue: WorkQueue<string>;
  private readonly abort = new AbortController();
  private halted = false;
  private workers: Promise<void>[] = [];

  constructor(readonly controller: Controller, private readonly opts: RunnerOptions) {
    this.queue = new WorkQueue<string>({ clock: opts.clock, rateLimiter: opts.rateLimiter, metrics: opts.metrics.queue(controller.name) });
    opts.metrics.reconcileTotal.labels(controller.name, 'success');
    opts.metrics.reconcileErrors.labels(controller.name);
  }

  get signal(): AbortSignal { return this.abort.signal; }

  enqueue(key: string): void { this.queue.add(key); }

  start(): void {
    const n = Math.max(1, this.controller.workers ?? 1);
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  get running(): boolean { return this.workers.length > 0 && !this.queue.shuttingDown; }

  /** Clean stop: no new keys; queued keys and those in progress are finished. */
  async drain(): Promise<void> {
    await this.queue.shutDownWithDrain();
    await Promise.all(this.workers);
  }

  /** Stop now (leadership lost): queued keys are dropped; reconciles in progress see `signal` abort. */
  async halt(): Promise<void> {
    this.halted = true;
    this.abort.abort(new Error('controller stopped: leadership lost or shutdown'));
    this.queue.shutDown();
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (;;) {
      const got = await this.queue.get();
      if (got.shutdown) return;
      try {
        if (!this.halted) await this.processItem(got.item);
      } finally {
        this.queue.done(got.item);
      }
    }
  }

  /** One reconcile of `key`, mapping its outcome to the queue as controller-runtime does. */
  async processItem(key: string): Promise<void> {
    const { clock, metrics, logger } = this.opts;
    const name = this.controller.name;
    const { namespace, name: objName } = splitKey(key);
    const log = logger.child({ controller: name, namespace: namespace || undefined, name: objName, reconcileID: randomUUID() });
    const started = clock.now();
    metrics.activeWorkers.labels(name).inc();
    try {
      const result = await this.controller.reconcile({ key, namespace, name: objName }, log, this.abort.signal);
      if (result?.requeueAfter !== undefined && result.requeueAfter > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, result.requeueAfter);
        metrics.reconcileTotal.labels(name, 'requeue_after').inc();
      } else if (result?.requeue) {
        this.queue.addRateLimited(key);
        metrics.reconcileTotal.labels(name, 'requeue').inc();
      } else {
        this.queue.forget(key);
        metrics.reconcileTotal.labels(name, 'success').inc();
      }
    } catch (err) {
      metrics.reconcileErrors.labels(name).inc();
      metrics.reconcileTotal.labels(name, 'error').inc();
      if (isTerminal(err)) {
        metrics.terminalReconcileErrors.labels(name).inc();
        this.queue.forget(key);
        log.error({ err }, 'reconcile failed; not retrying (terminal error)');
      } else if (this.abort.signal.aborted) {
        log.info({ err }, 'reconcile aborted: controller stopping');
      } else {
        this.queue.addRateLimited(key);
        log.error({ err, retries: this.queue.numRequeues(key) }, 'reconcile failed; retrying with backoff');
      }
    } finally {
      metrics.activeWorkers.labels(name).dec();
      metrics.reconcileTime.labels(name).observe((clock.now() - started) / 1000);
    }
  }
}
