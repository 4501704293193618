import {
  adapterServiceName, ENDPOINTSLICE_MANAGER, ENGINE_PORT_NAME, LABEL_BASEMODEL, LABEL_COMPONENT,
  LABEL_ENDPOINTSLICE_MANAGED_BY, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY,
} from '../../contracts/names.js';
import type { KubeObject } from '../../runtime/object.js';
import { ownerReference } from '../../runtime/owner.js';
import { addressFamily, type EndpointPod } from './endpoints.js';

// The two objects routing keeps per Adapter, as pure functions of the Adapter, its BaseModel's
// engine port and the pods chosen (endpoints.ts). Both are controlled by the Adapter: garbage
// collection removes them with it, and an edit to either brings the Adapter back into the queue.

export const ROUTING_COMPONENT = 'routing';

function meta(adapter: KubeObject, baseModel: string, extra: Record<string, string> = {}) {
  return {
    name: adapterServiceName(adapter.metadata!.name!),
    namespace: adapter.metadata!.namespace,
    labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_COMPONENT]: ROUTING_COMPONENT, [LABEL_BASEMODEL]: baseModel, ...extra },
    ownerReferences: [ownerReference(adapter)],
  };
}

// A Service without a selector: Kubernetes then leaves its endpoints to whoever writes its
// EndpointSlices (here, routing). Same port as the BaseModel's Service: the engine's.
export function desiredService(adapter: KubeObject, baseModel: string, port: number): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: meta(adapter, baseModel),
    spec: { type: 'ClusterIP', ports: [{ name: ENGINE_PORT_NAME, port, targetPort: port, protocol: 'TCP' }] },
  };
}

// The one EndpointSlice of the Service, marked as Graft's (managed-by), listing `pods` on the
// engine port. The EndpointSlice controller and its mirroring controller leave it alone.
export function desiredEndpointSlice(adapter: KubeObject, baseModel: string, port: number, pods: readonly EndpointPod[]): KubeObject {
  const m = meta(adapter, baseModel);
  const family = addressFamily(pods);
  const endpoints = pods.filter((p) => p.address.includes(':') === (family === 'IPv6')).map((p) => {
    const e: Record<string, unknown> = {
      addresses: [p.address],
      conditions: { ready: true, serving: true, terminating: false },
      targetRef: { kind: 'Pod', namespace: m.namespace, name: p.name, uid: p.uid },
    };
    if (p.nodeName) e.nodeName = p.nodeName;
    return e;
  });
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { ...m, labels: { ...m.labels, [LABEL_SERVICE_NAME]: m.name, [LABEL_ENDPOINTSLICE_MANAGED_BY]: ENDPOINTSLICE_MANAGER } },
    addressType: family,
    endpoints,
    ports: [{ name: ENGINE_PORT_NAME, port, protocol: 'TCP' }],
  };
}
