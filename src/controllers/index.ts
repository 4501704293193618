import type { ControllerFactory } from '../runtime/controller.js';
import type { Kind } from '../runtime/object.js';
import type { KeyRing } from '../security/keys.js';
import { adapterController } from './adapter.js';
import { baseModelController } from './basemodel.js';
import { DeploymentKind, PodKind, SecretKind, ServiceKind } from './kinds.js';

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
  return [baseModelController({ agentImage: opts.agentImage }), adapterController()];
  // (keyRing, allowedHostPaths and the operator's identity are handed to the controllers that use them.)
}

// The operator caches only the children it made (and the serving pods), never every Secret, Pod
// or Deployment of the cluster: less memory, and list/watch of Secrets limited to its own.
export const MANAGED_BY_GRAFT = 'app.kubernetes.io/managed-by=graft';
export const cacheSelectors: Array<{ kind: Kind; labelSelector: string }> = [
  { kind: SecretKind, labelSelector: MANAGED_BY_GRAFT },
  { kind: DeploymentKind, labelSelector: MANAGED_BY_GRAFT },
  { kind: ServiceKind, labelSelector: MANAGED_BY_GRAFT },
  { kind: PodKind, labelSelector: 'graft.dev/basemodel' },
];
