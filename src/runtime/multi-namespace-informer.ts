import type { Cache, Handler, InformerEvent, SharedInformer } from './informer.js';
import { splitKey, type Kind, type KubeObject } from './object.js';

// One kind watched in a list of namespaces (controller-runtime's multiNamespaceCache): one
// informer per namespace, each listing and watching only its namespace, so a Role in each of them
// is enough and nothing cluster-wide is needed. Merged behind the Cache and informer interfaces the
// controllers and the Manager use, so neither knows how many namespaces there are. A cluster-scoped
// kind, or "all namespaces", has one informer.

export type NewInformer<T extends KubeObject> = (namespace: string | undefined) => SharedInformer<T>;

export class MultiNamespaceInformer<T extends KubeObject = KubeObject> implements SharedInformer<T>, Cache<T> {
  /** undefined when one informer covers every namespace (or the kind is cluster-scoped). */
  readonly namespaces: readonly string[] | undefined;
  private readonly children = new Map<string, SharedInformer<T>>();
  private readonly all: SharedInformer<T> | undefined;

  /** `namespaces`: the namespaces to watch; undefined or empty for all of them. */
  constructor(readonly kind: Kind, namespaces: readonly string[] | undefined, make: NewInformer<T>) {
    const list = [...new Set((namespaces ?? []).filter(Boolean))];
    if (!kind.namespaced || list.length === 0) {
      this.namespaces = undefined;
      this.all = make(undefined);
    } else {
      this.namespaces = list;
      for (const ns of list) this.children.set(ns, make(ns));
    }
  }

  private informers(): SharedInformer<T>[] {
    return this.all ? [this.all] : [...this.children.values()];
  }

  // The informer that holds objects of `namespace`; undefined for a namespace not watched.
  private informerFor(namespace: string | undefined): SharedInformer<T> | undefined {
    if (this.all) return this.all;
    return namespace ? this.children.get(namespace) : undefined;
  }

  on(event: InformerEvent, handler: Handler<T>): void {
    for (const inf of this.informers()) inf.on(event, handler);
  }

  start(): void {
    for (const inf of this.informers()) inf.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers().map((i) => i.stop()));
  }

  async waitForSync(): Promise<void> {
    await Promise.all(this.informers().map((i) => i.waitForSync()));
  }

  hasSynced(): boolean {
    return this.informers().every((i) => i.hasSynced());
  }

  served(): boolean {
    return this.informers().every((i) => i.served?.() ?? true);
  }

  get restarts(): number {
    return this.informers().reduce((n, i) => n + i.restarts, 0);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.informerFor(this.kind.namespaced ? namespace : undefined)?.get(namespace, name);
  }

  getByKey(key: string): T | undefined {
    const { namespace, name } = splitKey(key);
    return this.get(namespace, name);
  }

  /** Objects of one namespace (none when it is not watched), or of every watched namespace. */
  list(namespace?: string): T[] {
    if (namespace && this.kind.namespaced) return this.informerFor(namespace)?.list(namespace) ?? [];
    return this.informers().flatMap((i) => i.list());
  }
}
