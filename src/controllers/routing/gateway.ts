import type { Logger } from 'pino';
import { BaseModelSpec } from '../../api/basemodel.js';
import { adapterServiceName, LABEL_BASEMODEL, serviceName } from '../../contracts/names.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import { apiStatus } from '../../runtime/errors.js';
import { splitKey, type KubeObject } from '../../runtime/object.js';
import { controllerOf } from '../../runtime/owner.js';
import { adapterSet } from '../adapter/spec.js';
import { AllowedSources } from '../../contracts/allowed-sources.js';
import { foreignObject, ownershipMessage } from '../basemodel/ownership.js';
import { CONFLICT_RECHECK_MS } from '../basemodel/reconcile.js';
import { HTTPRouteKind } from '../kinds.js';
import { applyChild, childId } from './applied.js';
import type { RoutingDeps } from './reconcile.js';
import { desiredRoutes, type RouteTarget } from './routes.js';

// How often a BaseModel that names a Gateway looks again while the API server does not serve
// HTTPRoute (the optional informer notices the CRDs on its own; this pass then writes the routes).
export const GATEWAY_API_RECHECK_MS = 30_000;

// One pass over one BaseModel's HTTPRoutes: none unless spec.routing.gateway names a Gateway;
// else the routes of routes.ts for the base model and every Adapter whose Service routing has
// made (an Adapter whose Service name is taken by someone else's Service is left out: traffic
// for it must not reach that Service). A served name two Adapters ask for belongs to the older
// one, as in the Adapter controller. Routes no longer wanted are deleted; a route name taken by
// someone else's HTTPRoute is reported (Warning OwnershipConflict) and left alone. Route status
// is the BaseModel controller's to read (condition Routed, route-status.ts): it owns BaseModel status.
export async function reconcileGatewayRoutes(deps: RoutingDeps, namespace: string, name: string, log: Logger, signal: AbortSignal): Promise<ReconcileResult> {
  const bm = deps.reader.baseModel(namespace, name);
  // Gone or going: its routes go with it through their owner references.
  if (!bm || bm.metadata?.deletionTimestamp) {
    for (const r of deps.reader.routes(namespace)) if (r.metadata?.labels?.[LABEL_BASEMODEL] === name) deps.memory.forget(childId(r));
    return {};
  }
  const parsed = BaseModelSpec.safeParse(bm.spec);
  if (!parsed.success) return {};
  const uid = bm.metadata!.uid!;
  const owned = deps.reader.routes(namespace).filter((r) => { const c = controllerOf(r); return c?.kind === 'BaseModel' && c.uid === uid; });
  const gw = parsed.data.routing?.gateway;
  if (!gw) {
    await deleteRoutes(deps, owned, namespace, log, signal);
    return {};
  }
  // No Gateway API: the BaseModel controller says so (Routed=False GatewayAPINotInstalled, and a
  // Warning event); look again now and then, without writing.
  if (!deps.reader.routesServed()) return { requeueAfter: GATEWAY_API_RECHECK_MS };

  const port = parsed.data.engine.port;
  const base: RouteTarget = { servedName: parsed.data.model.name ?? name, service: serviceName(name), port };
  const set = adapterSet(deps.reader.adapters(namespace, name), AllowedSources.of(undefined));
  const targets: RouteTarget[] = [];
  for (const [servedName, key] of set.holders) {
    const adapter = deps.reader.adapter(namespace, splitKey(key).name);
    const service = adapterServiceName(splitKey(key).name);
    const svc = deps.reader.service(namespace, service);
    if (adapter && svc && controllerOf(svc)?.uid === adapter.metadata?.uid) targets.push({ servedName, service, port });
  }

  const desired = desiredRoutes(bm, gw, base, targets);
  const conflicts: string[] = [];
  for (const route of desired) {
    const routeName = route.metadata!.name!;
    const current = owned.find((r) => r.metadata?.name === routeName) ?? deps.reader.routes(namespace).find((r) => r.metadata?.name === routeName)
      ?? await deps.writer.get(HTTPRouteKind, namespace, routeName, signal);
    const foreign = foreignObject(current, 'HTTPRoute', uid);
    if (foreign) { conflicts.push(foreign); continue; }
    try {
      const outcome = await applyChild(deps.writer.apply, deps.memory, route, current, signal);
      if (outcome === 'created' || outcome === 'updated') { deps.onApply?.('HTTPRoute', outcome); log.info({ httpRoute: routeName, outcome, rules: (route.spec as { rules: unknown[] }).rules.length }, 'applied HTTPRoute'); }
    } catch (err) {
      // The API server refused the route (a served name no path may hold, say): nothing changes
      // until the names do.
      if (apiStatus(err) !== 422) throw err;
      deps.events.event(bm, 'Warning', 'InvalidRoute', 'Route', `HTTPRoute ${routeName}: ${(err as Error).message}`);
      log.warn({ err, httpRoute: routeName }, 'the API server refused the HTTPRoute');
    }
  }
  const wanted = new Set(desired.map((r) => r.metadata!.name!));
  await deleteRoutes(deps, owned.filter((r) => !wanted.has(r.metadata!.name!)), namespace, log, signal);
  if (conflicts.length) {
    const message = ownershipMessage(conflicts);
    deps.events.event(bm, 'Warning', 'OwnershipConflict', 'Route', message);
    log.warn({ reason: 'OwnershipConflict' }, message);
    return { requeueAfter: CONFLICT_RECHECK_MS };
  }
  return {};
}

async function deleteRoutes(deps: RoutingDeps, routes: readonly KubeObject[], namespace: string, log: Logger, signal: AbortSignal): Promise<void> {
  for (const r of routes) {
    deps.memory.forget(childId(r));
    if (await deps.writer.delete(HTTPRouteKind, namespace, r.metadata!.name!, r.metadata!.uid!, signal)) {
      deps.onApply?.('HTTPRoute', 'deleted');
      log.info({ httpRoute: r.metadata!.name }, 'deleted HTTPRoute');
    }
  }
}
