import type { Cache } from '../../runtime/informer.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import type { Kind, KubeObject } from '../../runtime/object.js';
import type { OwnerLookup } from '../owned-pods.js';

// The narrow interfaces routing's reconcile steps depend on: what a pass reads (the informer
// caches) and what it sends to the API server. The controller hands in the cache- and
// client-backed versions below; the unit tests hand in fakes that record every call.

export interface RoutingReader {
  adapter(namespace: string, name: string): KubeObject | undefined;
  adapters(namespace: string, baseModel: string): KubeObject[];
  baseModel(namespace: string, name: string): KubeObject | undefined;
  pod(namespace: string, name: string): KubeObject | undefined;
  owners(namespace: string): OwnerLookup;
  service(namespace: string, name: string): KubeObject | undefined;
  endpointSlice(namespace: string, name: string): KubeObject | undefined;
  // The HTTPRoutes in the namespace that Graft made (the cache holds no others).
  routes(namespace: string): KubeObject[];
  // Whether the API server serves HTTPRoute (Gateway API installed).
  routesServed(): boolean;
}

export interface RoutingWriter {
  // Reads a name the cache lacks (the caches hold only Graft's objects; someone else's may sit there).
  get(kind: Kind, namespace: string, name: string, signal: AbortSignal): Promise<KubeObject | undefined>;
  // Server-side apply (field manager graft); answers the object as written.
  apply(body: KubeObject, signal: AbortSignal): Promise<KubeObject>;
  // Deletes the object with this uid; false when it was already gone.
  delete(kind: Kind, namespace: string, name: string, uid: string, signal: AbortSignal): Promise<boolean>;
}

export type RoutingCaches = {
  adapters: Cache<KubeObject>; basemodels: Cache<KubeObject>; pods: Cache<KubeObject>; replicaSets: Cache<KubeObject>;
  deployments: Cache<KubeObject>; services: Cache<KubeObject>; endpointSlices: Cache<KubeObject>; routes: Cache<KubeObject>;
};

export function cacheReader(c: RoutingCaches): RoutingReader {
  return {
    adapter: (ns, name) => c.adapters.get(ns, name),
    adapters: (ns, bm) => c.adapters.list(ns).filter((a) => (a as { spec?: { baseModel?: unknown } }).spec?.baseModel === bm),
    baseModel: (ns, name) => c.basemodels.get(ns, name),
    pod: (ns, name) => c.pods.get(ns, name),
    owners: (ns) => ({ replicaSet: (name) => c.replicaSets.get(ns, name), deployment: (name) => c.deployments.get(ns, name) }),
    service: (ns, name) => c.services.get(ns, name),
    endpointSlice: (ns, name) => c.endpointSlices.get(ns, name),
    routes: (ns) => c.routes.list(ns),
    routesServed: () => c.routes.served?.() ?? true,
  };
}

// Every request goes through the client bound to the reconcile's signal.
export function kubeWriter(client: KubeClient): RoutingWriter {
  return {
    get: (kind, ns, name, signal) => client.withSignal(signal).get<KubeObject>(kind, ns, name),
    apply: (body, signal) => client.withSignal(signal).apply(body),
    delete: (kind, ns, name, uid, signal) => client.withSignal(signal).delete(kind, ns, name, { preconditionUid: uid }),
  };
}
