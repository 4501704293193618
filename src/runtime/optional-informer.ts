import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { Informer, type Handler, type InformerEvent, type InformerOptions, type SharedInformer } from './informer.js';
import { KubeApiError } from './kube-client.js';
import { apiVersionOf, kindId, type Kind, type KubeObject } from './object.js';
import { silentLogger } from '../util/log.js';

// The informer of a kind that only some clusters serve (Gateway API's HTTPRoute, from CRDs the
// cluster's admin may not have installed). A plain Informer of a kind that is not served fails
// its list forever, so the manager's caches would never sync and no controller would start.
// This one asks discovery first: while the kind is not served it is synced and empty, and asks
// again every `recheckMs`; once served, it runs a plain Informer for it (whose first list delivers
// the adds that bring their owners into the queues). A failed discovery request (the API server
// unreachable) is retried with backoff and leaves it unsynced, as any informer's failed list does.

export type OptionalInformerOptions = InformerOptions & { recheckMs?: number };

export const DEFAULT_RECHECK_MS = 15_000;

export class OptionalInformer<T extends KubeObject = KubeObject> implements SharedInformer<T> {
  readonly kind: Kind;
  private inner: Informer<T> | undefined;
  private readonly handlers: Array<[InformerEvent, Handler<T>]> = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff = new Backoff(800, 30_000);
  private readonly recheckMs: number;
  private timer: TimerHandle | undefined;
  private absent = false;
  private started = false;
  private stopped = false;
  private waiters: Array<() => void> = [];

  constructor(private readonly opts: OptionalInformerOptions) {
    this.kind = opts.kind;
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? silentLogger).child({ informer: kindId(opts.kind), namespace: opts.namespace || undefined });
    this.recheckMs = opts.recheckMs ?? DEFAULT_RECHECK_MS;
  }

  on(event: InformerEvent, handler: Handler<T>): void {
    this.handlers.push([event, handler]);
    this.inner?.on(event, handler);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.probe();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    await this.inner?.stop();
    this.release();
  }

  hasSynced(): boolean { return this.absent || (this.inner?.hasSynced() ?? false); }

  served(): boolean { return !!this.inner; }

  waitForSync(): Promise<void> {
    if (this.hasSynced() || this.stopped) return Promise.resolve();
    if (this.inner) return this.inner.waitForSync();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get restarts(): number { return this.inner?.restarts ?? 0; }

  get(namespace: string | undefined, name: string): T | undefined { return this.inner?.get(namespace, name); }

  getByKey(key: string): T | undefined { return this.inner?.getByKey(key); }

  list(namespace?: string): T[] { return this.inner?.list(namespace) ?? []; }

  private async probe(): Promise<void> {
    if (this.stopped) return;
    let served: boolean;
    try {
      await this.opts.client.resolve(apiVersionOf(this.kind), this.kind.kind);
      served = true;
    } catch (err) {
      if (!isNotServed(err)) {
        const delay = this.backoff.next();
        this.log.warn({ err, retryInMs: delay }, 'discovery failed; asking again');
        this.timer = this.clock.setTimeout(() => void this.probe(), delay);
        return;
      }
      served = false;
    }
    this.backoff.reset();
    if (this.stopped) return;
    if (!served) {
      if (!this.absent) this.log.info({ recheckMs: this.recheckMs }, `the API server does not serve ${this.kind.kind} ${apiVersionOf(this.kind)}; its cache stays empty until it does`);
      this.absent = true;
      this.release();
      this.timer = this.clock.setTimeout(() => void this.probe(), this.recheckMs);
      return;
    }
    const inner = new Informer<T>(this.opts);
    for (const [ev, h] of this.handlers) inner.on(ev, h);
    this.inner = inner;
    this.log.info(`the API server serves ${this.kind.kind} ${apiVersionOf(this.kind)}: watching it`);
    inner.start();
    // Until the first list, waiters keep waiting on the inner informer; an earlier "absent"
    // answer stays in force meanwhile, so readiness does not flap.
    await inner.waitForSync();
    this.release();
  }

  private release(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

// Discovery's two answers for a kind that is not there: the group version is unknown (404), or
// it is known and lacks the kind (KubeClient.resolve's error).
function isNotServed(err: unknown): boolean {
  if (err instanceof KubeApiError) return err.code === 404;
  return err instanceof Error && /does not serve kind/.test(err.message);
}
