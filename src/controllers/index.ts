import type { ControllerFactory } from '../runtime/controller.js';
import type { Kind } from '../runtime/object.js';
import { adapterController } from './adapter.js';
import { baseModelController } from './basemodel.js';
import { DeploymentKind, PodKind, SecretKind, ServiceKind } from './kinds.js';

export type ControllerOptions = {
  // The graft image, run as the agent sidecar in every serving pod.
  agentImage: string;
};

// The controllers `graft operator` runs, in registration order. Each factory receives the
// manager's context (client, informer caches, events, logger, clock) and returns a Controller.
export function controllers(opts: ControllerOptions): ControllerFactory[] {
  return [baseModelController({ agentImage: opts.agentImage }), adapterController()];
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
