import type { Logger } from 'pino';
import type { AdapterStatus } from '../../api/adapter.js';
import { BaseModelSpec } from '../../api/basemodel.js';
import { adapterServiceName } from '../../contracts/names.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import { apiStatus } from '../../runtime/errors.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Kind, KubeObject } from '../../runtime/object.js';
import { controllerOf } from '../../runtime/owner.js';
import { foreignObject, ownershipMessage } from '../basemodel/ownership.js';
import { CONFLICT_RECHECK_MS } from '../basemodel/reconcile.js';
import { EndpointSliceKind, ServiceKind } from '../kinds.js';
import { isOwnPod } from '../owned-pods.js';
import { applyChild, childId, type AppliedMemory, type ChildOutcome } from './applied.js';
import { desiredEndpointSlice, desiredService } from './children.js';
import { endpointPods, routablePod } from './endpoints.js';
import type { RoutingReader, RoutingWriter } from './ports.js';

export type RoutingDeps = {
  reader: RoutingReader;
  writer: RoutingWriter;
  events: EventRecorder;
  memory: AppliedMemory;
  // Counts what each pass sent (graft_routing_applies_total).
  onApply?: (kind: string, outcome: 'created' | 'updated' | 'deleted') => void;
};

// Who records what on the Adapter: routing writes no Adapter status. The Adapter controller is
// its only writer, and its no-op check compares the whole status it last wrote with the cached
// one: a second field manager's field there (even one routing alone owns under server-side apply)
// would make every pass of that controller look like a change and write. So routing tells an
// Adapter's users what it could not do through events (Warning OwnershipConflict, the BaseModel
// controller's reason and message), and its Service's name is derived from the Adapter's
// (contracts/names.ts), so nobody needs it in status.

// One pass over one Adapter: its Service and its EndpointSlice, from the Adapter's status, its
// BaseModel's engine port and the pods in the cache. Writes only what differs; a quiet resync
// sends nothing. An Adapter being deleted loses both at once (its unload finalizer may keep it
// for minutes, and garbage collection only starts once it is gone); a deleted one's children go
// with it through their owner references.
export async function reconcileAdapterRouting(deps: RoutingDeps, namespace: string, name: string, log: Logger, signal: AbortSignal): Promise<ReconcileResult> {
  const childName = adapterServiceName(name);
  const adapter = deps.reader.adapter(namespace, name);
  if (!adapter) {
    for (const kind of ['Service', 'EndpointSlice']) deps.memory.forget(childId({ kind, metadata: { namespace, name: childName } }));
    return {};
  }
  const uid = adapter.metadata!.uid!;
  if (adapter.metadata?.deletionTimestamp) {
    await removeChildren(deps, adapter, childName, log, signal);
    return {};
  }
  const bmName = String((adapter.spec as { baseModel?: unknown } | undefined)?.baseModel ?? '');
  const bm = deps.reader.baseModel(namespace, bmName);
  const port = enginePort(bm);
  // No usable BaseModel: no port to route to. Its arrival (or fix) brings this Adapter back.
  if (!bm || port === undefined) return {};

  const [svc, slice] = await Promise.all([
    deps.reader.service(namespace, childName) ?? deps.writer.get(ServiceKind, namespace, childName, signal),
    deps.reader.endpointSlice(namespace, childName) ?? deps.writer.get(EndpointSliceKind, namespace, childName, signal),
  ]);
  const conflicts = [foreignObject(svc, 'Service', uid, 'Adapter'), foreignObject(slice, 'EndpointSlice', uid, 'Adapter')].filter((m): m is string => !!m);
  if (conflicts.length) {
    const message = ownershipMessage(conflicts, 'Adapter');
    deps.events.event(adapter, 'Warning', 'OwnershipConflict', 'Route', message);
    log.warn({ reason: 'OwnershipConflict' }, message);
    // The foreign object is not in the caches: nothing requeues this Adapter when it goes.
    return { requeueAfter: CONFLICT_RECHECK_MS };
  }

  // The Service and the EndpointSlice do not depend on each other: both go out at once, which
  // halves a pass's round trips when many Adapters arrive together.
  const applyService = async () => {
    const outcome = await refusedAs(deps, adapter, 'Service', log, () => applyChild(deps.writer.apply, deps.memory, desiredService(adapter, bmName, port), svc, signal));
    if (outcome === 'created' || outcome === 'updated') { deps.onApply?.('Service', outcome); log.info({ service: childName, outcome }, 'applied the adapter\'s Service'); }
  };
  const applySlice = async () => {
    const own = (p: KubeObject) => isOwnPod(p, { name: bmName, uid: bm.metadata?.uid }, deps.reader.owners(namespace));
    const pods = endpointPods(adapter.status as AdapterStatus | undefined, (pod) => routablePod(deps.reader.pod(namespace, pod), own));
    const desired = desiredEndpointSlice(adapter, bmName, port, pods);
    let current = slice;
    if (current && (current as { addressType?: string }).addressType !== desired.addressType) {
      // addressType is immutable: a slice of the other family is replaced.
      await deps.writer.delete(EndpointSliceKind, namespace, childName, current.metadata!.uid!, signal);
      deps.onApply?.('EndpointSlice', 'deleted');
      current = undefined;
    }
    const outcome = await refusedAs(deps, adapter, 'EndpointSlice', log, () => applyChild(deps.writer.apply, deps.memory, desired, current, signal));
    if (outcome === 'created' || outcome === 'updated') {
      deps.onApply?.('EndpointSlice', outcome);
      log[outcome === 'created' ? 'info' : 'debug']({ endpointSlice: childName, outcome, pods: pods.map((p) => p.name) }, 'applied the adapter\'s EndpointSlice');
    }
  };
  await Promise.all([applyService(), applySlice()]);
  return {};
}

// A child the API server refuses (422) is reported once per configuration, as a Warning on the
// Adapter, and not sent again until it changes (applied.ts): retrying cannot help.
async function refusedAs(deps: RoutingDeps, adapter: KubeObject, kind: string, log: Logger, apply: () => Promise<ChildOutcome>): Promise<ChildOutcome> {
  try {
    return await apply();
  } catch (err) {
    if (apiStatus(err) !== 422) throw err;
    const message = `the API server refused the ${kind} ${adapterServiceName(adapter.metadata!.name!)}: ${(err as Error).message}`;
    deps.events.event(adapter, 'Warning', 'RoutingRefused', 'Route', message);
    log.warn({ err, kind }, 'the API server refused a routing object; not sending it again until it changes');
    return 'refused';
  }
}

// The engine port of a usable BaseModel (the port its own Service targets), else undefined.
// Parsed once per version of the object (the cache replaces an object when it changes): every
// Adapter's pass asks, and a thousand parses of the same spec were a tenth of a rollout's passes.
const ports = new WeakMap<KubeObject, number | undefined>();
export function enginePort(bm: KubeObject | undefined): number | undefined {
  if (!bm || bm.metadata?.deletionTimestamp) return undefined;
  if (ports.has(bm)) return ports.get(bm);
  const parsed = BaseModelSpec.safeParse(bm.spec);
  const port = parsed.success ? parsed.data.engine.port : undefined;
  ports.set(bm, port);
  return port;
}

async function removeChildren(deps: RoutingDeps, adapter: KubeObject, childName: string, log: Logger, signal: AbortSignal): Promise<void> {
  const ns = adapter.metadata!.namespace!;
  const children: Array<[Kind, KubeObject | undefined]> = [[EndpointSliceKind, deps.reader.endpointSlice(ns, childName)], [ServiceKind, deps.reader.service(ns, childName)]];
  for (const [kind, obj] of children) {
    if (!obj || controllerOf(obj)?.uid !== adapter.metadata!.uid) continue;
    if (await deps.writer.delete(kind, ns, childName, obj.metadata!.uid!, signal)) {
      deps.onApply?.(kind.kind, 'deleted');
      log.info({ kind: kind.kind, name: childName }, 'adapter is being deleted: removed its routing');
    }
    deps.memory.forget(childId({ kind: kind.kind, metadata: { namespace: ns, name: childName } }));
  }
}
