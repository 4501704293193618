import type { ControllerFactory } from '../runtime/controller.js';
import { joinKey, type KubeObject } from '../runtime/object.js';
import { StatusWriter } from '../runtime/status-writer.js';
import type { KeyRing } from '../security/keys.js';
import { BaseModelKind, DeploymentKind, HTTPRouteKind, NetworkPolicyKind, PodKind, ReplicaSetKind, ServiceKind } from './kinds.js';
import { LABEL_BASEMODEL } from '../contracts/names.js';
import { reconcileBaseModel, type BaseModelDeps } from './basemodel/reconcile.js';
import { SecretLedger } from './basemodel/secret-ledger.js';

export type BaseModelControllerOptions = {
  // The graft image, run as the agent sidecar in every serving pod.
  agentImage: string;
  // Derives the content of each BaseModel's Secrets (agent token, engine key, agent TLS).
  keyRing: KeyRing;
  // Node folders a hostPath cache may lie in (--allowed-host-paths); none: hostPath is refused.
  allowedHostPaths?: readonly string[];
  // The operator's namespace and pod labels: the only peers the NetworkPolicy admits to the agent.
  operatorNamespace: string;
  operatorPodLabels: Record<string, string>;
};

// The BaseModel controller: its Deployment, Service and NetworkPolicy (owned, so an edit or a
// deletion of one brings the BaseModel back into the queue) and its pods (by label, for status).
// Its Secrets are created, never read: the operator has no read access to Secrets in the
// namespaces it watches (src/security/keys.ts derives their content).
export function baseModelController(opts: BaseModelControllerOptions): ControllerFactory {
  return (ctx) => {
    const deps: BaseModelDeps = {
      client: ctx.client,
      basemodels: ctx.cache(BaseModelKind),
      deployments: ctx.cache(DeploymentKind),
      services: ctx.cache(ServiceKind),
      networkPolicies: ctx.cache(NetworkPolicyKind),
      pods: ctx.cache(PodKind),
      replicaSets: ctx.cache(ReplicaSetKind),
      events: ctx.events,
      clock: ctx.clock,
      agentImage: opts.agentImage,
      status: new StatusWriter(ctx.client),
      keyRing: opts.keyRing,
      allowedHostPaths: opts.allowedHostPaths ?? [],
      operator: { namespace: opts.operatorNamespace, podLabels: opts.operatorPodLabels },
      secrets: new SecretLedger(),
      routes: ctx.cache(HTTPRouteKind),
    };
    return {
      name: 'basemodel',
      for: BaseModelKind,
      // HTTPRoutes: routing writes them; their status is the condition Routed.
      owns: [DeploymentKind, ServiceKind, NetworkPolicyKind, HTTPRouteKind],
      // Pods and their ReplicaSets by label; which of them are the BaseModel's own is checked in
      // the pass (a ReplicaSet arriving after its pods makes them count).
      watches: [PodKind, ReplicaSetKind].map((kind) => ({
        kind,
        map: (o: KubeObject) => {
          const bm = o.metadata?.labels?.[LABEL_BASEMODEL];
          return bm ? [joinKey(o.metadata?.namespace, bm)] : [];
        },
      })),
      workers: 2,
      reconcile: (req, log, signal) => reconcileBaseModel(deps, req.namespace, req.name, log, signal),
    };
  };
}
