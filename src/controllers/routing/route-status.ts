import type { GatewayParentRef } from '../../api/basemodel.js';
import type { ConditionInput } from '../../runtime/conditions.js';
import type { KubeObject } from '../../runtime/object.js';
import { controllerOf } from '../../runtime/owner.js';

// What the Gateway's controller says of a BaseModel's HTTPRoutes, as the BaseModel's condition
// `Routed`. The BaseModel controller sets it (it is BaseModel status's only writer) from the
// routes in its cache, which routing writes (gateway.ts): True when every route is Accepted by
// the Gateway and its backends resolve (ResolvedRefs), for the route's current generation.
// Routed says nothing about the pods: Ready does.

export const ROUTED = 'Routed';

type Cond = { type?: string; status?: string; reason?: string; message?: string; observedGeneration?: number };
type ParentStatus = { parentRef?: { name?: string; namespace?: string; sectionName?: string; kind?: string }; conditions?: Cond[] };

const REASON_RE = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const reasonOf = (c: Cond, fallback: string) => (c.reason && REASON_RE.test(c.reason) ? c.reason : fallback);

function sameParent(p: ParentStatus['parentRef'], gw: GatewayParentRef, routeNamespace: string): boolean {
  return !!p && p.name === gw.name && (p.namespace ?? routeNamespace) === (gw.namespace ?? routeNamespace)
    && (p.sectionName ?? '') === (gw.sectionName ?? '') && (p.kind ?? 'Gateway') === 'Gateway';
}

// undefined: no Gateway named (the condition is removed). `served`: whether the API server serves
// HTTPRoute at all. `routes`: the HTTPRoutes in the cache (this function keeps the BaseModel's own).
export function routedCondition(bm: KubeObject, gw: GatewayParentRef | undefined, served: boolean, routes: readonly KubeObject[]): Omit<ConditionInput, 'observedGeneration'> | undefined {
  if (!gw) return undefined;
  const ns = bm.metadata!.namespace ?? '';
  const gwName = `${gw.namespace ?? ns}/${gw.name}${gw.sectionName ? ` (listener ${gw.sectionName})` : ''}`;
  if (!served) {
    return { type: ROUTED, status: 'False', reason: 'GatewayAPINotInstalled', message: 'the API server does not serve HTTPRoute (gateway.networking.k8s.io/v1): install the Gateway API CRDs and a Gateway implementation, or unset spec.routing.gateway' };
  }
  const own = routes.filter((r) => { const c = controllerOf(r); return c?.kind === 'BaseModel' && c.uid === bm.metadata?.uid; })
    .sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  if (!own.length) return { type: ROUTED, status: 'Unknown', reason: 'RoutePending', message: 'waiting for Graft to write the HTTPRoute' };
  for (const r of own) {
    const rn = r.metadata!.name!;
    const parent = ((r.status as { parents?: ParentStatus[] } | undefined)?.parents ?? []).find((p) => sameParent(p.parentRef, gw, ns));
    const gen = r.metadata?.generation;
    const fresh = (c: Cond | undefined) => !!c && (c.observedGeneration === undefined || gen === undefined || c.observedGeneration >= gen);
    const accepted = parent?.conditions?.find((c) => c.type === 'Accepted');
    const resolved = parent?.conditions?.find((c) => c.type === 'ResolvedRefs');
    if (!fresh(accepted)) {
      return { type: ROUTED, status: 'Unknown', reason: 'RoutePending', message: `HTTPRoute ${rn}: Gateway ${gwName} has not reported on its current version yet (is a Gateway controller running, and does the Gateway exist?)` };
    }
    if (accepted!.status !== 'True') {
      return { type: ROUTED, status: 'False', reason: reasonOf(accepted!, 'NotAccepted'), message: `HTTPRoute ${rn}: Gateway ${gwName} did not accept it: ${accepted!.message ?? accepted!.reason ?? ''}` };
    }
    if (fresh(resolved) && resolved!.status !== 'True') {
      return { type: ROUTED, status: 'False', reason: reasonOf(resolved!, 'RefsNotResolved'), message: `HTTPRoute ${rn}: Gateway ${gwName} cannot resolve its backends: ${resolved!.message ?? resolved!.reason ?? ''}` };
    }
  }
  return { type: ROUTED, status: 'True', reason: 'Accepted', message: `${own.length} HTTPRoute${own.length > 1 ? 's' : ''} accepted by Gateway ${gwName}` };
}
