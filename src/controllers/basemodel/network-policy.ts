import type { BaseModel } from '../../api/basemodel.js';
import type { KubeObject } from '../../runtime/object.js';
import { AGENT_PORT, networkPolicyName, selectorLabels } from '../../contracts/names.js';
import { childMeta } from './children.js';

// Who may call the operator: its namespace and its pods' labels (--operator-pod-labels).
export type OperatorIdentity = { namespace: string; podLabels: Record<string, string> };

// Ingress to the BaseModel's pods: the agent port from the operator's pods only (namespace AND
// pod labels, one peer), the engine port from anywhere (clients; the engine API key guards its
// LoRA endpoints). Every other port is closed. (Plain JSON: client-node's model names the field
// `_from`, its wire name is `from`.) NetworkPolicies add up, so a user admits more
// (Prometheus to the agent's /metrics, say) with a policy of their own.
export function desiredNetworkPolicy(bm: BaseModel, operator: OperatorIdentity): KubeObject {
  const name = bm.metadata.name!;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(bm, networkPolicyName(name)),
    spec: {
      podSelector: { matchLabels: selectorLabels(name) },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': operator.namespace } },
            podSelector: { matchLabels: operator.podLabels },
          }],
          ports: [{ protocol: 'TCP', port: AGENT_PORT }],
        },
        { ports: [{ protocol: 'TCP', port: bm.spec.engine.port }] },
      ],
    },
  };
}
