import type { KubeClient } from './kube-client.js';
import type { Kind, KubeObject } from './object.js';

// Finalizers, written with JSON patches that carry their own preconditions, so two writers never
// silently undo each other: adding tests the resourceVersion the caller read, removing tests that
// the entry is still at the index it was read at. A failed test is an error the reconcile retries.

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isDeleting(obj: KubeObject): boolean {
  return !!obj.metadata?.deletionTimestamp;
}

/** Adds `finalizer` unless present; returns the updated object, or undefined when nothing was written. */
export async function addFinalizer<T extends KubeObject>(client: KubeClient, k: Kind, obj: T, finalizer: string, signal?: AbortSignal): Promise<T | undefined> {
  if (hasFinalizer(obj, finalizer)) return undefined;
  const m = obj.metadata;
  if (!m?.name || !m.resourceVersion) throw new Error('addFinalizer: pass the object as read from the API (name and resourceVersion)');
  const ops: unknown[] = [{ op: 'test', path: '/metadata/resourceVersion', value: m.resourceVersion }];
  if (m.finalizers) ops.push({ op: 'add', path: '/metadata/finalizers/-', value: finalizer });
  else ops.push({ op: 'add', path: '/metadata/finalizers', value: [finalizer] });
  return client.patch<T>(k, m.namespace, m.name, 'json', ops, { signal });
}

/** Removes `finalizer` if present; returns the updated object, or undefined when nothing was written. */
export async function removeFinalizer<T extends KubeObject>(client: KubeClient, k: Kind, obj: T, finalizer: string, signal?: AbortSignal): Promise<T | undefined> {
  const list = obj.metadata?.finalizers ?? [];
  const i = list.indexOf(finalizer);
  if (i < 0) return undefined;
  const m = obj.metadata!;
  if (!m.name) throw new Error('removeFinalizer: the object has no name');
  const ops = [
    { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
    { op: 'remove', path: `/metadata/finalizers/${i}` },
  ];
  return client.patch<T>(k, m.namespace, m.name, 'json', ops, { signal });
}
