import type { Handler, InformerEvent, InformerOptions, SharedInformer } from '../../src/runtime/informer.js';
import { splitKey, type Kind, type KubeObject } from '../../src/runtime/object.js';

// An informer over an in-memory store, answering as Informer does: get by namespace and name (the
// namespace ignored for a cluster-scoped kind), list of one namespace or all, handlers called on
// put and remove, synced once started (or when `sync()` is called, with `manualSync`).
export class FakeInformer<T extends KubeObject = KubeObject> implements SharedInformer<T> {
  readonly kind: Kind;
  readonly namespace: string | undefined;
  readonly labelSelector: string | undefined;
  started = false;
  stopped = false;
  restarts = 0;
  private synced = false;
  private readonly store = new Map<string, T>();
  private readonly handlers: Record<InformerEvent, Handler<T>[]> = { add: [], update: [], delete: [] };
  private waiters: Array<() => void> = [];

  constructor(opts: Pick<InformerOptions, 'kind' | 'namespace' | 'labelSelector'>, private readonly manualSync = false) {
    this.kind = opts.kind;
    this.namespace = opts.kind.namespaced ? opts.namespace : undefined;
    this.labelSelector = opts.labelSelector;
  }

  private id(namespace: string | undefined, name: string): string {
    return this.kind.namespaced ? `${namespace ?? ''}/${name}` : name;
  }

  /** Adds or updates an object, as a watch event would. Refuses one outside its namespace. */
  put(obj: T): void {
    const ns = obj.metadata?.namespace;
    if (this.namespace && ns !== this.namespace) throw new Error(`${ns}/${obj.metadata?.name} is outside namespace ${this.namespace}`);
    const id = this.id(ns, obj.metadata!.name!);
    const ev: InformerEvent = this.store.has(id) ? 'update' : 'add';
    this.store.set(id, obj);
    for (const h of this.handlers[ev]) h(obj);
  }

  remove(obj: T): void {
    if (this.store.delete(this.id(obj.metadata?.namespace, obj.metadata!.name!))) for (const h of this.handlers.delete) h(obj);
  }

  on(event: InformerEvent, handler: Handler<T>): void { this.handlers[event].push(handler); }

  start(): void {
    this.started = true;
    if (!this.manualSync) this.sync();
  }

  sync(): void {
    this.synced = true;
    for (const w of this.waiters.splice(0)) w();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w();
  }

  waitForSync(): Promise<void> {
    if (this.synced || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  hasSynced(): boolean { return this.synced; }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(this.id(this.kind.namespaced ? namespace : undefined, name));
  }

  getByKey(key: string): T | undefined {
    const { namespace, name } = splitKey(key);
    return this.get(namespace, name);
  }

  list(namespace?: string): T[] {
    return [...this.store.values()].filter((o) => !namespace || !this.kind.namespaced || o.metadata?.namespace === namespace);
  }
}
