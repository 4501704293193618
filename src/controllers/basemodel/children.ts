import { randomBytes } from 'node:crypto';
import type { V1OwnerReference, V1Secret, V1Service } from '@kubernetes/client-node';
import type { BaseModel } from '../../api/basemodel.js';
import type { KubeObject } from '../../runtime/object.js';
import { ownerReference } from '../../runtime/owner.js';
import { AGENT_PORT, commonLabels, selectorLabels, serviceName, TOKEN_KEY, tokenSecretName } from '../../contracts/names.js';

// Metadata every child of a BaseModel carries: Graft's labels (the caches select on them) and the
// controller owner reference (garbage collection, and events on the child requeue the owner).
export function childMeta(bm: BaseModel, name: string): { name: string; namespace?: string; labels: Record<string, string>; ownerReferences: V1OwnerReference[] } {
  return { name, namespace: bm.metadata.namespace, labels: commonLabels(bm.metadata.name!, bm.spec.engine.type), ownerReferences: [ownerReference(bm as KubeObject)] };
}

export function desiredService(bm: BaseModel): V1Service {
  const name = bm.metadata.name!;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMeta(bm, serviceName(name)),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(name),
      ports: [
        { name: 'http', port: bm.spec.engine.port, targetPort: 'http', protocol: 'TCP' },
        { name: 'agent', port: AGENT_PORT, targetPort: 'agent', protocol: 'TCP' },
      ],
    },
  };
}

// The agent's bearer token: made once with a fresh random value. The controller applies the Secret
// only while it does not exist, so the token is never rotated by accident.
export function newTokenSecret(bm: BaseModel): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMeta(bm, tokenSecretName(bm.metadata.name!)),
    type: 'Opaque',
    data: { [TOKEN_KEY]: Buffer.from(randomBytes(32).toString('hex')).toString('base64') },
  };
}
