import { patchStatus, statusEqual } from './apply.js';
import type { KubeClient } from './kube-client.js';
import type { KubeObject } from './object.js';

// Status as this controller last wrote it, for reconciles that run before the informer cache has
// seen that write. Without it, the next pass compares with the stale cached status, writes the
// same status again and reports the same transition twice. An entry applies while the cached
// object is older than the write: the version it was written over, or any version before the one
// the write produced. resourceVersions are opaque strings in the API; the API server takes them
// from etcd's revision, so where both are integers an older one is a smaller one. When they are not
// integers, only the exact version written over counts as older.
export class StatusWriter {
  private readonly written = new Map<string, { overVersion: string | undefined; resultVersion: string | undefined; status: Record<string, unknown> }>();

  constructor(private readonly client: KubeClient) {}

  // The object's status as it stands: the cache's, or the newer one this writer wrote.
  current(obj: KubeObject): Record<string, unknown> | undefined {
    const id = idOf(obj);
    const w = this.written.get(id);
    if (w && isOlder(obj.metadata?.resourceVersion, w)) return w.status;
    if (w) this.written.delete(id);
    return obj.status as Record<string, unknown> | undefined;
  }

  // Writes `status` unless it equals the current one; returns whether a write was sent. `signal`
  // is the reconcile's: nothing is sent once it has aborted.
  async write(obj: KubeObject, status: Record<string, unknown>, signal?: AbortSignal): Promise<boolean> {
    const current = this.current(obj);
    if (statusEqual(current, status)) return false;
    const result = await patchStatus(this.client, obj, current, status, signal);
    if (!result) return false;
    this.written.set(idOf(obj), { overVersion: obj.metadata?.resourceVersion, resultVersion: result.metadata?.resourceVersion, status });
    return true;
  }

  forget(obj: KubeObject): void {
    this.written.delete(idOf(obj));
  }
}

function isOlder(version: string | undefined, w: { overVersion?: string; resultVersion?: string }): boolean {
  if (version === w.overVersion) return true;
  if (!version || !w.resultVersion || !/^\d+$/.test(version) || !/^\d+$/.test(w.resultVersion)) return false;
  return BigInt(version) < BigInt(w.resultVersion);
}

const idOf = (obj: KubeObject) => obj.metadata?.uid ?? `${obj.metadata?.namespace}/${obj.metadata?.name}`;
