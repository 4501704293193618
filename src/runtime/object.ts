// Kubernetes objects as they travel on the wire: plain JSON, timestamps as strings. The runtime
// never runs objects through client-node's model classes (which turn some timestamps into Date
// objects), so what a list returns and what a watch delivers look the same.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [field: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A kind the runtime reads or writes: enough to build its REST paths. */
export interface Kind {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  /** The resource name in paths, e.g. 'configmaps'. */
  plural: string;
  namespaced: boolean;
  /**
   * Served only where an optional API is installed (Gateway API's HTTPRoute): its informer then
   * counts as synced and empty while the API server does not serve it, and looks again now and
   * then (optional-informer.ts), so a missing CRD neither blocks the caches nor loops.
   */
  optional?: boolean;
}

export function apiVersionOf(k: Pick<Kind, 'group' | 'version'>): string {
  return k.group ? `${k.group}/${k.version}` : k.version;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** e.g. kind('apps/v1', 'Deployment', 'deployments'). */
export function kind(apiVersion: string, kindName: string, plural: string, namespaced = true): Kind {
  return { ...splitApiVersion(apiVersion), kind: kindName, plural, namespaced };
}

/** A stable name for a kind, used for informer sharing, logs and metrics. */
export function kindId(k: Kind): string {
  return `${k.plural}${k.group ? `.${k.group}` : ''}/${k.version}`;
}

/** The REST path of a collection (name omitted) or of one object, with an optional subresource. */
export function resourcePath(k: Kind, namespace?: string, name?: string, subresource?: string): string {
  const parts = [k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`];
  if (k.namespaced && namespace) parts.push('namespaces', encodeURIComponent(namespace));
  parts.push(k.plural);
  if (name !== undefined) {
    if (!name) throw new Error(`resourcePath: empty name for ${kindId(k)}`);
    parts.push(encodeURIComponent(name));
    if (subresource) parts.push(subresource);
  }
  return parts.join('/');
}

// Keys are client-go's: "namespace/name", or "name" for cluster-scoped objects.
export interface ObjectKey { namespace: string; name: string }

export function keyOf(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = obj.metadata?.namespace ?? '';
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function joinKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): ObjectKey {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

// Kinds the runtime itself uses.
export const LeaseKind = kind('coordination.k8s.io/v1', 'Lease', 'leases');
export const EventKind = kind('events.k8s.io/v1', 'Event', 'events');

// Drops metadata.managedFields from an object on its way into a cache (in place; returns it).
// Server-side apply fills them on every object it writes (more bytes than the rest of a small
// Adapter), and no reconcile reads them: at thousands of objects they were most of a cache.
export function withoutManagedFields<T>(obj: T): T {
  const m = (obj as { metadata?: { managedFields?: unknown } } | undefined)?.metadata;
  if (m && m.managedFields !== undefined) delete m.managedFields;
  return obj;
}
