import type { V1OwnerReference, V1Service } from '@kubernetes/client-node';
import type { BaseModel } from '../../api/basemodel.js';
import type { KubeObject } from '../../runtime/object.js';
import { ownerReference } from '../../runtime/owner.js';
import { commonLabels, selectorLabels, serviceName } from '../../contracts/names.js';

// Metadata every child of a BaseModel carries: Graft's labels (the caches select on them) and the
// controller owner reference (garbage collection, and events on the child requeue the owner).
export function childMeta(bm: BaseModel, name: string): { name: string; namespace?: string; labels: Record<string, string>; ownerReferences: V1OwnerReference[] } {
  return { name, namespace: bm.metadata.namespace, labels: commonLabels(bm.metadata.name!, bm.spec.engine.type), ownerReferences: [ownerReference(bm as KubeObject)] };
}

// The clients' Service: the engine port only. The agent port is not published: the operator calls
// each pod's agent at the pod's address, and nothing else should reach it.
export function desiredService(bm: BaseModel): V1Service {
  const name = bm.metadata.name!;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(bm, serviceName(name)),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(name),
      ports: [{ name: 'http', port: bm.spec.engine.port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
