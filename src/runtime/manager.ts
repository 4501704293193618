import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { realClock, sleep, type Clock } from './clock.js';
import { ControllerRunner, type Controller, type ControllerContext, type ControllerFactory } from './controller.js';
import { KubeEventSink, SeriesEventRecorder } from './events.js';
import { OperatorHttpServer, type BindAddress, type Readiness } from './http-server.js';
import { Informer, type InformerOptions, type SharedInformer } from './informer.js';
import { KubeClient } from './kube-client.js';
import { LeaderElector } from './leader-election.js';
import { KubeLeaseStore, type LeaseStore } from './lease-store.js';
import { OperatorMetrics } from './metrics.js';
import { MultiNamespaceInformer } from './multi-namespace-informer.js';
import { OptionalInformer } from './optional-informer.js';
import { joinKey, keyOf, kindId, type Kind, type KubeObject } from './object.js';
import { controllerOf } from './owner.js';
import { silentLogger } from '../util/log.js';

// The Manager runs an operator process: shared informers for every kind a controller watches,
// the HTTP endpoints, leader election, and the controllers themselves, which run only while this
// process leads. Caches run on every replica, so a new leader starts from warm caches.
//
// Watching a list of namespaces runs one informer per kind per namespace (so a Role in each is
// enough), merged behind the one cache a controller reads; no list means all namespaces.
//
// Shutdown, in order: stop the informers (no new work), drain the queues (finish what is queued
// and in progress, up to the graceful shutdown timeout), release the lease (the next leader takes
// over at once, and never while this one still writes), flush events, close the HTTP servers.

export interface LeaderElectionConfig {
  enabled: boolean;
  namespace: string;
  /** The Lease's name. */
  id: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  logger?: Logger;
  /** Watch only these namespaces (one informer per kind in each); all namespaces when undefined or empty. */
  namespaces?: readonly string[];
  leaderElection?: LeaderElectionConfig;
  metricsBindAddress?: BindAddress;
  healthProbeBindAddress?: BindAddress;
  /** How often informers re-deliver every cached object (default 10 minutes; 0 turns it off). */
  resyncMs?: number;
  /** How long a clean shutdown waits for queued and running reconciles (default 30 s). */
  gracefulShutdownMs?: number;
  /**
   * Restrict the cache of some kinds to objects with these labels (controller-runtime's
   * cache ByObject): the operator then lists and watches only what it manages, not every Secret
   * or Pod of the cluster.
   */
  cacheSelectors?: Array<{ kind: Kind; labelSelector: string }>;
  /** This process's name in the Lease and in events (default hostname_uuid). */
  identity?: string;
  clock?: Clock;
  /** Where leader election keeps its record (default: the Lease `leaderElection.id`); for tests. */
  leaseStore?: LeaseStore;
  /** Makes the informer of one kind in one namespace (default: an Informer on the API server); for tests. */
  newInformer?: (opts: InformerOptions) => SharedInformer;
}

interface Registered {
  controller: Controller;
  runner: ControllerRunner | undefined;
}

export class Manager {
  readonly metrics: OperatorMetrics;
  readonly client: KubeClient;
  readonly events: SeriesEventRecorder;
  readonly identity: string;
  readonly http: OperatorHttpServer;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly informers = new Map<string, MultiNamespaceInformer>();
  private readonly namespaces: readonly string[] | undefined;
  private readonly controllers: Registered[] = [];
  private readonly elector: LeaderElector | undefined;
  private leading = false;
  private started = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  // Runners of the current term, and of a lost term until they have halted.
  private readonly live = new Set<ControllerRunner>();
  // The halt of the last lost term: a new term starts only after it, so an old and a new runner
  // never drive the same key at once after a quick re-election.
  private halting: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ManagerOptions) {
    this.clock = opts.clock ?? realClock;
    this.log = opts.logger ?? silentLogger;
    this.identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
    this.namespaces = opts.namespaces?.length ? [...new Set(opts.namespaces)] : undefined;
    this.metrics = new OperatorMetrics({ processMetrics: true });
    this.client = new KubeClient(opts.kubeConfig, (m, h, c, s) => this.metrics.request(m, h, c, s));
    this.client.instrumentKubeConfig();
    this.events = new SeriesEventRecorder({ sink: new KubeEventSink(this.client), instance: this.identity, clock: this.clock, logger: this.log });
    this.http = new OperatorHttpServer({
      metrics: opts.metricsBindAddress, probes: opts.healthProbeBindAddress,
      registry: this.metrics.registry, readiness: () => this.readiness(),
    });
    const le = opts.leaderElection;
    if (le?.enabled) {
      this.metrics.leaderStatus.labels(le.id).set(0);
      this.elector = new LeaderElector({
        store: opts.leaseStore ?? new KubeLeaseStore(this.client, le.namespace, le.id),
        identity: this.identity,
        leaseDurationMs: le.leaseDurationMs, renewDeadlineMs: le.renewDeadlineMs, retryPeriodMs: le.retryPeriodMs,
        clock: this.clock, logger: this.log,
        onStartedLeading: () => this.startTerm(),
        onStoppedLeading: () => this.endTerm(),
      });
      this.client.leaseGuard = () => this.checkLeadership();
    }
  }

  /** Registers a controller; its informers start with the manager. */
  add(factory: ControllerFactory): Controller {
    const ctx: ControllerContext = {
      client: this.client,
      cache: <T extends KubeObject>(k: Kind) => this.informer(k) as unknown as MultiNamespaceInformer<T>,
      events: this.events,
      logger: this.log,
      clock: this.clock,
      namespaces: this.namespaces,
      registry: this.metrics.registry,
      checkLeadership: () => this.checkLeadership(),
    };
    const controller = factory(ctx);
    if (this.controllers.some((r) => r.controller.name === controller.name)) throw new Error(`controller ${controller.name} registered twice`);
    const reg: Registered = { controller, runner: undefined };
    this.controllers.push(reg);
    const enqueue = (key: string) => reg.runner?.enqueue(key);
    const primary = this.informer(controller.for);
    for (const ev of ['add', 'update', 'delete'] as const) primary.on(ev, (obj) => enqueue(keyOf(obj)));
    for (const k of controller.owns ?? []) {
      const inf = this.informer(k);
      const toOwner = (obj: KubeObject) => {
        const ref = controllerOf(obj);
        if (!ref || ref.kind !== controller.for.kind || groupOf(ref.apiVersion) !== controller.for.group) return;
        enqueue(controller.for.namespaced ? joinKey(obj.metadata?.namespace, ref.name) : ref.name);
      };
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, toOwner);
    }
    for (const w of controller.watches ?? []) {
      const inf = this.informer(w.kind);
      for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, (obj) => { for (const key of w.map(obj)) enqueue(key); });
    }
    return controller;
  }

  /** The shared informer of a kind (one per watched namespace, merged), created on first use. */
  informer(k: Kind): MultiNamespaceInformer {
    const id = kindId(k);
    let inf = this.informers.get(id);
    if (!inf) {
      const labelSelector = this.opts.cacheSelectors?.find((c) => kindId(c.kind) === id)?.labelSelector;
      const make = this.opts.newInformer ?? ((o: InformerOptions) => (k.optional ? new OptionalInformer(o) : new Informer(o)));
      inf = new MultiNamespaceInformer(k, this.namespaces, (namespace) => make({
        client: this.client, kind: k, namespace, labelSelector, resyncMs: this.opts.resyncMs ?? 10 * 60_000,
        clock: this.clock, logger: this.log, onRestart: (kk) => this.metrics.informerRestarts.labels(kindId(kk)).inc(),
      }));
      this.informers.set(id, inf);
      if (this.started && !this.stopping) inf.start();
    }
    return inf;
  }

  isLeader(): boolean { return this.leading; }

  // Throws unless this process holds the lease by the clock now (always passes without leader
  // election). A lapsed lease ends the term here and then, before the caller's side effect.
  checkLeadership(): void {
    if (!this.elector) return;
    if (!this.elector.holdsLease()) throw new Error('not the leader: the lease was lost or has lapsed');
  }

  synced(): boolean {
    for (const inf of this.informers.values()) if (!inf.hasSynced()) return false;
    return true;
  }

  readiness(): Readiness {
    if (this.stopping) return { ready: false, reason: 'shutting down' };
    if (!this.started) return { ready: false, reason: 'starting' };
    if (!this.synced()) return { ready: false, reason: 'informer caches not synced' };
    if (this.leading && this.controllers.some((r) => !r.runner?.running)) return { ready: false, reason: 'controllers not running' };
    return { ready: true, reason: '' };
  }

  /** Starts the HTTP servers and informers, waits for the caches, then campaigns (or runs the controllers). */
  async start(): Promise<void> {
    if (this.started) throw new Error('manager already started');
    this.started = true;
    await this.http.start();
    this.log.info({ metrics: this.http.metricsAddress, probes: this.http.probesAddress, identity: this.identity, namespaces: this.namespaces ?? '(all)' }, 'manager starting');
    for (const inf of this.informers.values()) inf.start();
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    if (this.stopping) return;
    this.log.info({ kinds: [...this.informers.keys()] }, 'caches synced');
    if (this.elector) this.elector.start();
    else this.startTerm();
  }

  /** The ordered shutdown; safe to call more than once. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.log.info('shutting down: stopping informers');
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    this.log.info('shutting down: draining work queues');
    const drained = await this.drainAll();
    if (this.elector) {
      if (drained) await this.elector.release();
      else {
        // Reconciles still run: releasing would let another leader write beside them.
        await this.elector.release({ write: false });
        this.log.warn('shutting down: reconciles did not finish in time; the lease is left to expire');
      }
    }
    this.setLeading(false);
    await this.events.stop();
    await this.http.close();
    this.client.close();
    this.log.info('shut down');
  }

  private async drainAll(): Promise<boolean> {
    const runners = [...this.live];
    if (runners.length === 0) return true;
    const timeoutMs = this.opts.gracefulShutdownMs ?? 30_000;
    const abort = new AbortController();
    const all = Promise.all(runners.map((r) => r.drain())).then(() => true);
    const timer = sleep(this.clock, timeoutMs, abort.signal).then(() => false, () => false);
    const ok = await Promise.race([all, timer]);
    abort.abort();
    if (ok) return true;
    // Out of time: abort what runs and give it a moment to notice.
    const halted = Promise.all(runners.map((r) => r.halt())).then(() => true);
    const grace = sleep(this.clock, 5_000).then(() => false);
    return Promise.race([halted, grace]);
  }

  private setLeading(on: boolean): void {
    this.leading = on;
    if (this.opts.leaderElection?.enabled) this.metrics.leaderStatus.labels(this.opts.leaderElection.id).set(on ? 1 : 0);
  }

  private startTerm(): void {
    if (this.stopping) return;
    this.setLeading(true);
    void this.halting.then(() => this.startRunners());
  }

  private startRunners(): void {
    if (this.stopping || !this.leading || this.controllers.some((r) => r.runner)) return;
    for (const reg of this.controllers) {
      const runner = new ControllerRunner(reg.controller, { clock: this.clock, logger: this.log, metrics: this.metrics });
      reg.runner = runner;
      this.live.add(runner);
      for (const obj of this.informer(reg.controller.for).list()) runner.enqueue(keyOf(obj));
      runner.start();
    }
    this.log.info({ controllers: this.controllers.map((r) => r.controller.name) }, 'leading: controllers started');
  }

  // Leadership lost (or released): stop every controller at once, also in the middle of a
  // shutdown's drain, since another process may now lead. Queued keys are dropped and reconciles
  // in progress see their signal abort.
  private endTerm(): void {
    this.setLeading(false);
    const runners = this.controllers.map((r) => r.runner).filter((r): r is ControllerRunner => !!r);
    for (const reg of this.controllers) reg.runner = undefined;
    if (runners.length === 0) return;
    const previous = this.halting;
    this.halting = Promise.all([previous, ...runners.map((r) => r.halt())]).then(() => {
      for (const r of runners) this.live.delete(r);
      if (!this.stopping) this.log.info('controllers stopped after losing leadership');
    });
  }
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}
