import { LABEL_BASEMODEL } from '../../contracts/names.js';
import { addFinalizer, removeFinalizer } from '../../runtime/finalizers.js';
import type { Cache } from '../../runtime/informer.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import type { KubeObject } from '../../runtime/object.js';
import { AdapterKind } from '../kinds.js';
import type { OwnerLookup } from '../owned-pods.js';

// The narrow interfaces the reconcile steps depend on: what a pass reads (the informer caches),
// what it writes to the API server, and the status it last wrote. The controller hands in the
// cache- and client-backed versions below; the unit tests hand in fakes.

export interface AdapterReader {
  baseModel(namespace: string, name: string): KubeObject | undefined;
  // The Adapters whose spec.baseModel names this BaseModel.
  adapters(namespace: string, baseModel: string): KubeObject[];
  // The pods labelled with this BaseModel (ownership is checked by the pass, not trusted).
  pods(namespace: string, baseModel: string): KubeObject[];
  owners(namespace: string): OwnerLookup;
}

export interface AdapterWriter {
  // Both send nothing once `signal` has aborted, and return the object as written (or undefined).
  addFinalizer(obj: KubeObject, finalizer: string, signal: AbortSignal): Promise<KubeObject | undefined>;
  removeFinalizer(obj: KubeObject, finalizer: string, signal: AbortSignal): Promise<KubeObject | undefined>;
}

export interface StatusStore {
  current(obj: KubeObject): Record<string, unknown> | undefined;
  write(obj: KubeObject, status: Record<string, unknown>, signal: AbortSignal): Promise<boolean>;
  forget(obj: KubeObject): void;
}

export function cacheReader(c: { adapters: Cache<KubeObject>; basemodels: Cache<KubeObject>; pods: Cache<KubeObject>; replicaSets: Cache<KubeObject>; deployments: Cache<KubeObject> }): AdapterReader {
  return {
    baseModel: (ns, name) => c.basemodels.get(ns, name),
    adapters: (ns, bm) => c.adapters.list(ns).filter((a) => (a as { spec?: { baseModel?: unknown } }).spec?.baseModel === bm),
    pods: (ns, bm) => c.pods.list(ns).filter((p) => p.metadata?.labels?.[LABEL_BASEMODEL] === bm),
    owners: (ns) => ({ replicaSet: (name) => c.replicaSets.get(ns, name), deployment: (name) => c.deployments.get(ns, name) }),
  };
}

// Every write goes through the client bound to the reconcile's signal.
export function kubeWriter(client: KubeClient): AdapterWriter {
  return {
    addFinalizer: (obj, f, signal) => addFinalizer(client.withSignal(signal), AdapterKind, obj, f, signal),
    removeFinalizer: (obj, f, signal) => removeFinalizer(client.withSignal(signal), AdapterKind, obj, f, signal),
  };
}
