import { ListWatch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import type { KubeClient } from './kube-client.js';
import { apiVersionOf, joinKey, kindId, resourcePath, splitKey, withoutManagedFields, type Kind, type KubeObject } from './object.js';
import { silentLogger } from '../util/log.js';

// A shared informer over client-node's ListWatch (a cache kept current by list + watch), fixing
// two gaps of client-node 1.x: its ListWatch stops for good after any error other than 410 Gone,
// so this wrapper starts it again with backoff; and it has no resync, so this wrapper re-delivers
// every cached object to the update handlers periodically. A restart keeps the cache and the
// last resourceVersion, so the watch resumes where it stopped; when that version is too old the
// server answers 410 and ListWatch lists again, calling delete handlers for objects gone meanwhile.

export type InformerEvent = 'add' | 'update' | 'delete';
export type Handler<T> = (obj: T) => void;

export interface InformerOptions {
  client: KubeClient;
  kind: Kind;
  /** Watch one namespace; all namespaces when omitted (or for cluster-scoped kinds). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object this often (0: never). */
  resyncMs?: number;
  logger?: Logger;
  clock?: Clock;
  backoff?: Backoff;
  onRestart?: (kind: Kind) => void;
}

/** The read side of an informer: what reconcilers use. */
export interface Cache<T extends KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  getByKey(key: string): T | undefined;
  list(namespace?: string): T[];
  hasSynced(): boolean;
  /** False while the API server does not serve the kind (an optional kind); true otherwise. */
  served?(): boolean;
}

/** An informer as the Manager runs it: the cache, its events, its life. */
export interface SharedInformer<T extends KubeObject = KubeObject> extends Cache<T> {
  readonly kind: Kind;
  on(event: InformerEvent, handler: Handler<T>): void;
  start(): void;
  stop(): Promise<void>;
  waitForSync(): Promise<void>;
  /** How often it has been restarted after an error. */
  readonly restarts: number;
}

export class Informer<T extends KubeObject = KubeObject> implements SharedInformer<T> {
  readonly kind: Kind;
  private readonly lw: ListWatch<any>;
  private readonly handlers: Record<InformerEvent, Handler<T>[]> = { add: [], update: [], delete: [] };
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly resyncMs: number;
  private synced = false;
  private started = false;
  private stopped = false;
  private attemptFailed = false;
  private restartTimer: TimerHandle | undefined;
  private resyncTimer: TimerHandle | undefined;
  private syncWaiters: Array<() => void> = [];
  private restartCount = 0;

  constructor(private readonly opts: InformerOptions) {
    this.kind = opts.kind;
    this.clock = opts.clock ?? realClock;
    this.log = (opts.logger ?? silentLogger).child({ informer: kindId(opts.kind), namespace: opts.namespace || undefined });
    this.backoff = opts.backoff ?? new Backoff(800, 30_000);
    this.resyncMs = opts.resyncMs ?? 0;
    const ns = opts.kind.namespaced ? opts.namespace : undefined;
    // The API server leaves apiVersion and kind out of the items of a built-in kind's list (watch
    // events carry them): fill them in, so every cached object looks the same however it arrived.
    const apiVersion = apiVersionOf(opts.kind);
    const listFn = async () => {
      const list = await opts.client.list<T>(opts.kind, ns, { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector });
      for (const item of list.items) { item.apiVersion ??= apiVersion; item.kind ??= opts.kind.kind; withoutManagedFields(item); }
      return list;
    };
    this.lw = new ListWatch<any>(resourcePath(opts.kind, ns), opts.client.watcher(), listFn as any, false, opts.labelSelector, opts.fieldSelector);
    for (const ev of ['add', 'update', 'delete'] as const) {
      this.lw.on(ev, (obj: T) => this.deliver(ev, obj));
    }
    this.lw.on('error', (err: unknown) => this.onError(err));
  }

  on(event: InformerEvent, handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  /** Starts listing and watching; returns at once. Use waitForSync() to wait for the first list. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.attempt();
    this.armResync();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearTimeout(this.restartTimer);
    this.clock.clearTimeout(this.resyncTimer);
    await this.lw.stop();
    for (const w of this.syncWaiters.splice(0)) w();
  }

  hasSynced(): boolean { return this.synced; }

  served(): boolean { return true; }

  /** Resolves once the first list has been delivered (or the informer is stopped). */
  waitForSync(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** How often the informer has been restarted after an error. */
  get restarts(): number { return this.restartCount; }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.lw.get(name, this.kind.namespaced ? namespace || undefined : undefined) as T | undefined;
  }

  getByKey(key: string): T | undefined {
    const { namespace, name } = splitKey(key);
    return this.get(namespace, name);
  }

  list(namespace?: string): T[] {
    return [...this.lw.list(namespace || undefined)] as T[];
  }

  private attempt(): void {
    if (this.stopped) return;
    this.attemptFailed = false;
    this.lw.start().then(
      () => {
        if (this.stopped || this.attemptFailed) return;
        // Listed (or resumed) and the watch is open.
        this.backoff.reset();
        if (!this.synced) {
          this.synced = true;
          this.log.debug({ objects: this.lw.list().length }, 'informer synced');
          for (const w of this.syncWaiters.splice(0)) w();
        }
      },
      (err: unknown) => this.onError(err),
    );
  }

  private onError(err: unknown): void {
    if (this.stopped) return; // stopping aborts the watch, which ListWatch reports as an error
    this.attemptFailed = true;
    if (this.restartTimer) return;
    const delay = this.backoff.next();
    this.restartCount++;
    this.opts.onRestart?.(this.kind);
    this.log.warn({ err: describe(err), retryInMs: delay, attempt: this.backoff.attempts }, 'informer list/watch failed; restarting');
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      this.attempt();
    }, delay);
  }

  private deliver(ev: InformerEvent, obj: T): void {
    for (const h of this.handlers[ev]) {
      try {
        h(obj);
      } catch (err) {
        this.log.error({ err, event: ev, key: joinKey(obj.metadata?.namespace, obj.metadata?.name ?? '') }, 'informer handler threw');
      }
    }
  }

  private armResync(): void {
    if (!(this.resyncMs > 0) || this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.synced) for (const obj of this.list()) this.deliver('update', obj);
      this.armResync();
    }, this.resyncMs);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { statusCode?: unknown; code?: unknown }).statusCode ?? (err as { code?: unknown }).code;
    return code !== undefined ? `${err.message} (${String(code)})` : err.message;
  }
  return String(err);
}
