import { API_VERSION } from '../api/common.js';
import { kind } from '../runtime/object.js';

// The kinds Graft's controllers read and write.
export const BaseModelKind = kind(API_VERSION, 'BaseModel', 'basemodels');
export const AdapterKind = kind(API_VERSION, 'Adapter', 'adapters');
export const AdapterSetKind = kind(API_VERSION, 'AdapterSet', 'adaptersets');
export const DeploymentKind = kind('apps/v1', 'Deployment', 'deployments');
export const ServiceKind = kind('v1', 'Service', 'services');
export const SecretKind = kind('v1', 'Secret', 'secrets');
export const PodKind = kind('v1', 'Pod', 'pods');
export const ReplicaSetKind = kind('apps/v1', 'ReplicaSet', 'replicasets');
export const NetworkPolicyKind = kind('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies');
export const EndpointSliceKind = kind('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices');
// Gateway API: served only where its CRDs are installed (an optional kind, see runtime/optional-informer.ts).
export const HTTPRouteKind = { ...kind('gateway.networking.k8s.io/v1', 'HTTPRoute', 'httproutes'), optional: true };
