import type { ControllerFactory } from '../runtime/controller.js';
import { joinKey } from '../runtime/object.js';
import { StatusWriter } from '../runtime/status-writer.js';
import { BaseModelKind, DeploymentKind, PodKind, SecretKind, ServiceKind } from './kinds.js';
import { LABEL_BASEMODEL } from '../contracts/names.js';
import { reconcileBaseModel, type BaseModelDeps } from './basemodel/reconcile.js';

export type BaseModelControllerOptions = {
  // The graft image, run as the agent sidecar in every serving pod.
  agentImage: string;
};

// The BaseModel controller: its Deployment, Service and agent token Secret (owned, so an edit or
// a deletion of one brings the BaseModel back into the queue) and its pods (by label, for status).
export function baseModelController(opts: BaseModelControllerOptions): ControllerFactory {
  return (ctx) => {
    const deps: BaseModelDeps = {
      client: ctx.client,
      basemodels: ctx.cache(BaseModelKind),
      deployments: ctx.cache(DeploymentKind),
      services: ctx.cache(ServiceKind),
      secrets: ctx.cache(SecretKind),
      pods: ctx.cache(PodKind),
      events: ctx.events,
      clock: ctx.clock,
      agentImage: opts.agentImage,
      status: new StatusWriter(ctx.client),
    };
    return {
      name: 'basemodel',
      for: BaseModelKind,
      owns: [DeploymentKind, ServiceKind, SecretKind],
      watches: [{
        kind: PodKind,
        map: (pod) => {
          const bm = pod.metadata?.labels?.[LABEL_BASEMODEL];
          return bm ? [joinKey(pod.metadata?.namespace, bm)] : [];
        },
      }],
      workers: 2,
      reconcile: (req, log) => reconcileBaseModel(deps, req.namespace, req.name, log),
    };
  };
}
