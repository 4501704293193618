import { APPLIED_HASH_ANNOTATION, configHash, type ApplyOutcome } from '../../runtime/apply.js';
import { isDerivative } from '../../runtime/equality.js';
import { apiStatus } from '../../runtime/errors.js';
import type { KubeObject } from '../../runtime/object.js';

// Server-side apply of a child, written only when it would change something, as applyOwned
// does, plus a memory of what this controller last applied: a pass that runs before the informer
// has delivered that write (an Adapter status update arriving first) sees the older object in
// the cache and would send the same apply again. One EndpointSlice write per placement change
// depends on this. An entry holds while the cached object is older than the write; resourceVersions
// are compared as integers where both are (the API server's come from etcd's revision), else
// only the exact version written over counts as older (as runtime/status-writer.ts does).

export type Apply = (body: KubeObject, signal: AbortSignal) => Promise<KubeObject>;

type Entry = { hash: string; overVersion: string | undefined; resultVersion: string | undefined; refused?: boolean };

export type ChildOutcome = ApplyOutcome | 'refused';

export class AppliedMemory {
  private readonly entries = new Map<string, Entry>();

  // Whether `hash` was the last apply of `id`, and `current` (the cache's) predates it.
  ahead(id: string, hash: string, current: KubeObject | undefined): boolean {
    const e = this.entries.get(id);
    // No object: it is really absent (the reconcile reads a name missing from the cache), so
    // whatever was written before is gone.
    if (!e || e.hash !== hash) return false;
    // The API server refused this very configuration: sending it again cannot help.
    if (e.refused) return true;
    if (!current) return false;
    const v = current.metadata?.resourceVersion;
    if (v === e.overVersion) return true;
    if (!v || !e.resultVersion || !/^\d+$/.test(v) || !/^\d+$/.test(e.resultVersion)) return false;
    return BigInt(v) < BigInt(e.resultVersion);
  }

  record(id: string, e: Entry): void { this.entries.set(id, e); }

  refused(id: string): boolean { return !!this.entries.get(id)?.refused; }

  forget(id: string): void { this.entries.delete(id); }

  get size(): number { return this.entries.size; }
}

const idOf = (o: KubeObject) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`;

// `refused`: the API server answered 422 (Invalid); it is not sent again until the desired object
// changes (a sandbox's loopback pod addresses, which EndpointSlices may not hold, say), so a
// resync does not turn it into a write per pass.
export async function applyChild(apply: Apply, memory: AppliedMemory, desired: KubeObject, current: KubeObject | undefined, signal: AbortSignal): Promise<ChildOutcome> {
  const hash = configHash(desired);
  const body: KubeObject = { ...desired, metadata: { ...desired.metadata, annotations: { ...desired.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash } } };
  if (current && current.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === hash && isDerivative(body, current)) return 'unchanged';
  const id = idOf(desired);
  if (memory.ahead(id, hash, current)) return memory.refused(id) ? 'refused' : 'unchanged';
  let written: KubeObject;
  try {
    written = await apply(body, signal);
  } catch (err) {
    if (apiStatus(err) !== 422) throw err;
    memory.record(id, { hash, overVersion: undefined, resultVersion: undefined, refused: true });
    throw err;
  }
  memory.record(id, { hash, overVersion: current?.metadata?.resourceVersion, resultVersion: written?.metadata?.resourceVersion });
  return current ? 'updated' : 'created';
}

export const childId = idOf;
