import type { GatewayParentRef } from '../../api/basemodel.js';
import { httpRouteName, LABEL_BASEMODEL, LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY, MODEL_NAME_HEADER } from '../../contracts/names.js';
import type { KubeObject } from '../../runtime/object.js';
import { ownerReference } from '../../runtime/owner.js';
import { ROUTING_COMPONENT } from './children.js';

// The HTTPRoutes of a BaseModel that names a Gateway, as a pure function. Every served name (the
// base model's own, then each adapter's) gets two rules to its Service: one matching the header
// X-Gateway-Model-Name (which the Gateway API Inference Extension's body-based routing fills from
// the request's `model`), one matching the path prefix /<basemodel>/<served name>/ rewritten to
// / (for any gateway, with that prefix as the client's base URL).
//
// Limits of the standard HTTPRoute CRD (gateway-api v1.4): at most 16 rules per route, 64
// matches per rule, 128 matches per route. A rule with a ReplacePrefixMatch rewrite must have
// exactly one PathPrefix match, so the two matches of a name cannot share a rule: 8 names per
// route. Names are sorted (the base model first), cut into routes of 8, named <bm>-0, <bm>-1, …:
// deterministic, though adding a name that sorts early shifts the later ones one route on.

export const RULES_PER_ROUTE = 16;
export const NAMES_PER_ROUTE = RULES_PER_ROUTE / 2;
const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export type RouteTarget = { servedName: string; service: string; port: number };

export function pathPrefix(baseModel: string, servedName: string): string {
  return `/${baseModel}/${servedName}/`;
}

function rules(baseModel: string, t: RouteTarget): unknown[] {
  const backendRefs = [{ name: t.service, port: t.port }];
  return [
    { matches: [{ headers: [{ type: 'Exact', name: MODEL_NAME_HEADER, value: t.servedName }] }], backendRefs },
    {
      matches: [{ path: { type: 'PathPrefix', value: pathPrefix(baseModel, t.servedName) } }],
      filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }],
      backendRefs,
    },
  ];
}

export function parentRef(gw: GatewayParentRef): Record<string, string> {
  const ref: Record<string, string> = { group: GATEWAY_GROUP, kind: 'Gateway', name: gw.name };
  if (gw.namespace) ref.namespace = gw.namespace;
  if (gw.sectionName) ref.sectionName = gw.sectionName;
  return ref;
}

// `base` is the BaseModel's own served name and Service; `adapters` the adapters' (any order,
// duplicate served names already resolved by the caller).
export function desiredRoutes(bm: KubeObject, gw: GatewayParentRef, base: RouteTarget, adapters: readonly RouteTarget[]): KubeObject[] {
  const name = bm.metadata!.name!;
  const sorted = [...adapters].filter((a) => a.servedName !== base.servedName).sort((a, b) => (a.servedName < b.servedName ? -1 : a.servedName > b.servedName ? 1 : 0));
  const all = [base, ...sorted];
  const routes: KubeObject[] = [];
  for (let i = 0; i * NAMES_PER_ROUTE < all.length; i++) {
    const chunk = all.slice(i * NAMES_PER_ROUTE, (i + 1) * NAMES_PER_ROUTE);
    routes.push({
      apiVersion: `${GATEWAY_GROUP}/v1`, kind: 'HTTPRoute',
      metadata: {
        name: httpRouteName(name, i), namespace: bm.metadata!.namespace,
        labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_COMPONENT]: ROUTING_COMPONENT, [LABEL_BASEMODEL]: name },
        ownerReferences: [ownerReference(bm)],
      },
      spec: { parentRefs: [parentRef(gw)], rules: chunk.flatMap((t) => rules(name, t)) },
    });
  }
  return routes;
}
