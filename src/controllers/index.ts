import type { ControllerFactory } from '../runtime/controller.js';
import type { Kind } from '../runtime/object.js';
import type { KeyRing } from '../security/keys.js';
import { adapterController } from './adapter.js';
import { adapterSetController } from './adapterset.js';
import { JobKind } from './adapterset/job.js';
import { baseModelController } from './basemodel.js';
import { DeploymentKind, EndpointSliceKind, HTTPRouteKind, NetworkPolicyKind, PodKind, ReplicaSetKind, ServiceKind } from './kinds.js';
import { adapterRoutingController, gatewayRoutingController } from './routing.js';

export type ControllerOptions = {
  // The graft image, run as the agent sidecar in every serving pod.
  agentImage: string;
  // Derives each BaseModel's agent token, engine key and agent TLS certificate (src/security).
  keyRing: KeyRing;
  // Node folders a BaseModel may use as a hostPath cache (--allowed-host-paths); none by default.
  allowedHostPaths: string[];
  // Where the operator's own pods run, and their labels: the NetworkPolicy of each BaseModel
  // admits only these pods to the agent port.
  operatorNamespace: string;
  operatorPodLabels: Record<string, string>;
};

// The controllers `graft operator` runs, in registration order. Each factory receives the
// manager's context (client, informer caches, events, logger, clock) and returns a Controller.
export function controllers(opts: ControllerOptions): ControllerFactory[] {
  return [
    baseModelController(opts), adapterController({ keyRing: opts.keyRing }), adapterSetController({ image: opts.agentImage }),
    adapterRoutingController(), gatewayRoutingController(),
  ];
  // (keyRing, allowedHostPaths and the operator's identity are handed to the controllers that use them.)
}

// The operator caches only the children it made (and the serving pods and their ReplicaSets),
// never every Pod or Deployment of the cluster: less memory and less to read. It caches no
// Secrets at all: it may only create them (src/rbac/rules.ts), their content derived from the
// master key. test/rbac/controllers-rules.test.ts holds the caches and the rules together.
export const MANAGED_BY_GRAFT = 'app.kubernetes.io/managed-by=graft';
export const cacheSelectors: Array<{ kind: Kind; labelSelector: string }> = [
  { kind: DeploymentKind, labelSelector: MANAGED_BY_GRAFT },
  { kind: ServiceKind, labelSelector: MANAGED_BY_GRAFT }, // the BaseModels' and (routing) the Adapters'
  { kind: EndpointSliceKind, labelSelector: MANAGED_BY_GRAFT }, // routing's, one per Adapter
  { kind: HTTPRouteKind, labelSelector: MANAGED_BY_GRAFT }, // routing's, for BaseModels that name a Gateway
  { kind: NetworkPolicyKind, labelSelector: MANAGED_BY_GRAFT },
  { kind: PodKind, labelSelector: 'graft.dev/basemodel' },
  { kind: JobKind, labelSelector: MANAGED_BY_GRAFT }, // the AdapterSets' merge Jobs
  // The serving pods' ReplicaSets (their template carries the label): a pod is the BaseModel's own
  // only through them (src/controllers/adapter/pods.ts).
  { kind: ReplicaSetKind, labelSelector: 'graft.dev/basemodel' },
];
