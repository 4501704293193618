import { Counter } from 'prom-client';
import { LABEL_BASEMODEL } from '../contracts/names.js';
import type { ControllerContext, ControllerFactory } from '../runtime/controller.js';
import { joinKey, type KubeObject } from '../runtime/object.js';
import { AdapterKind, BaseModelKind, DeploymentKind, EndpointSliceKind, HTTPRouteKind, PodKind, ReplicaSetKind, ServiceKind } from './kinds.js';
import { AppliedMemory } from './routing/applied.js';
import { reconcileGatewayRoutes } from './routing/gateway.js';
import { cacheReader, kubeWriter } from './routing/ports.js';
import { reconcileAdapterRouting, type RoutingDeps } from './routing/reconcile.js';

// Routing gives every Adapter a stable address and, where a BaseModel names a Gateway, one way in
// for all its served names. It reads Adapter status only (the Adapter controller's report of
// where each version is Loaded) and calls no agent. Two controllers, two keys:
// - `routing` (keyed by Adapter): its selector-less Service and one EndpointSlice listing the
//   ready pods that serve its current version (routing/reconcile.ts). A pod's change brings back
//   only the Adapters placed on it, so a pod turning NotReady costs one write per adapter it hosts.
// - `gateway` (keyed by BaseModel): its HTTPRoutes (routing/gateway.ts).

function depsOf(ctx: ControllerContext, applies: Counter<'kind' | 'outcome'>, memory: AppliedMemory): RoutingDeps {
  return {
    reader: cacheReader({
      adapters: ctx.cache(AdapterKind), basemodels: ctx.cache(BaseModelKind), pods: ctx.cache(PodKind),
      replicaSets: ctx.cache(ReplicaSetKind), deployments: ctx.cache(DeploymentKind), services: ctx.cache(ServiceKind),
      endpointSlices: ctx.cache(EndpointSliceKind), routes: ctx.cache(HTTPRouteKind),
    }),
    writer: kubeWriter(ctx.client),
    events: ctx.events,
    memory,
    onApply: (kind, outcome) => applies.labels(kind, outcome).inc(),
  };
}

function appliesCounter(ctx: ControllerContext): Counter<'kind' | 'outcome'> {
  const name = 'graft_routing_writes_total';
  const existing = ctx.registry.getSingleMetric(name) as Counter<'kind' | 'outcome'> | undefined;
  return existing ?? new Counter({
    name, help: 'Objects routing created, updated or deleted (Service, EndpointSlice, HTTPRoute); a quiet cluster adds none',
    labelNames: ['kind', 'outcome'], registers: [ctx.registry],
  });
}

const specOf = (o: KubeObject) => (o as { spec?: { baseModel?: unknown } }).spec;

export function adapterRoutingController(): ControllerFactory {
  return (ctx) => {
    const deps = depsOf(ctx, appliesCounter(ctx), new AppliedMemory());
    const adapters = ctx.cache(AdapterKind);
    return {
      name: 'routing',
      for: AdapterKind,
      owns: [ServiceKind, EndpointSliceKind],
      watches: [
        // A pod matters to the Adapters whose status places them on it.
        {
          kind: PodKind,
          map: (p) => {
            const ns = p.metadata?.namespace, pod = p.metadata?.name, bm = p.metadata?.labels?.[LABEL_BASEMODEL];
            if (!bm) return [];
            return adapters.list(ns).filter((a) => specOf(a)?.baseModel === bm
              && ((a.status as { placements?: Array<{ pod?: string }> } | undefined)?.placements ?? []).some((x) => x.pod === pod))
              .map((a) => joinKey(ns, a.metadata!.name!));
          },
        },
        // The engine port, or the BaseModel arriving after its Adapters.
        { kind: BaseModelKind, map: (b) => adapters.list(b.metadata?.namespace).filter((a) => specOf(a)?.baseModel === b.metadata?.name).map((a) => joinKey(a.metadata?.namespace, a.metadata!.name!)) },
      ],
      // I/O bound (a pass is a few cache reads and at most two applies): many Adapters created at
      // once are worked through in parallel.
      workers: 16,
      reconcile: (req, log, signal) => reconcileAdapterRouting(deps, req.namespace, req.name, log, signal),
    };
  };
}

export function gatewayRoutingController(): ControllerFactory {
  return (ctx) => {
    const deps = depsOf(ctx, appliesCounter(ctx), new AppliedMemory());
    const baseModels = ctx.cache(BaseModelKind);
    // An Adapter or a Service matters only to a BaseModel that names a Gateway: without one its
    // routes are gone after the pass that the BaseModel's own change started, so the many
    // Adapter events of a large rollout start no passes at all.
    const routed = (ns: string | undefined, bm: string) => {
      const spec = baseModels.get(ns, bm)?.spec as { routing?: { gateway?: unknown } } | undefined;
      return spec?.routing?.gateway !== undefined;
    };
    const toBaseModel = (o: KubeObject) => {
      const bm = o.metadata?.labels?.[LABEL_BASEMODEL];
      return bm && routed(o.metadata?.namespace, bm) ? [joinKey(o.metadata?.namespace, bm)] : [];
    };
    return {
      name: 'gateway',
      for: BaseModelKind,
      owns: [HTTPRouteKind],
      watches: [
        { kind: AdapterKind, map: (a) => { const bm = String(specOf(a)?.baseModel ?? ''); return routed(a.metadata?.namespace, bm) ? [joinKey(a.metadata?.namespace, bm)] : []; } },
        // The adapters' Services (routing's, labelled with the BaseModel): a route names one only once it is there.
        { kind: ServiceKind, map: toBaseModel },
      ],
      workers: 1,
      reconcile: (req, log, signal) => reconcileGatewayRoutes(deps, req.namespace, req.name, log, signal),
    };
  };
}
