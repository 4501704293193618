import { createHash } from 'node:crypto';

// Names, labels, ports, paths and environment variables that two sides share: the BaseModel
// controller that writes the pods, the Adapter controller that calls their agents, the agent
// inside them, and the sandbox's pod runner that plays the kubelet. One place, so the sides
// cannot drift apart.
export const LABEL_BASEMODEL = 'graft.dev/basemodel';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'graft';
export const AGENT_PORT = 8095;
export const CACHE_MOUNT = '/var/cache/graft';
export const TOKEN_MOUNT = '/var/run/graft/token';
export const TOKEN_KEY = 'token';
export const S3_CREDENTIALS_MOUNT = '/var/run/graft/s3';
export const BASE_WEIGHTS_DIR = `${CACHE_MOUNT}/base`;
export const AGENT_UID = 65532;

// The engine's API key (vLLM and SGLang `--api-key`): only the agent (and clients given the
// Secret) may call the engine, so no other pod can load or unload adapters behind the agent.
export const ENGINE_KEY_MOUNT = '/var/run/graft/engine-key';
export const ENGINE_KEY_KEY = 'api-key';
export const ENGINE_KEY_ENV = 'GRAFT_ENGINE_API_KEY';

// The agent's TLS certificate and key (a kubernetes.io/tls Secret the operator issues per
// BaseModel); the operator pins the certificate when it calls the agent.
export const TLS_MOUNT = '/var/run/graft/tls';
export const TLS_CERT_KEY = 'tls.crt';
export const TLS_KEY_KEY = 'tls.key';

// Environment variables of the agent that the operator sets in the pod template.
export const AGENT_ENV = {
  port: 'GRAFT_AGENT_PORT',
  host: 'GRAFT_AGENT_HOST',
  tokenFile: 'GRAFT_AGENT_TOKEN_FILE',
  cacheDir: 'GRAFT_AGENT_CACHE_DIR',
  engine: 'GRAFT_AGENT_ENGINE',
  engineUrl: 'GRAFT_AGENT_ENGINE_URL',
  engineKeyFile: 'GRAFT_AGENT_ENGINE_API_KEY_FILE',
  tlsCertFile: 'GRAFT_AGENT_TLS_CERT_FILE',
  tlsKeyFile: 'GRAFT_AGENT_TLS_KEY_FILE',
  allowedSources: 'GRAFT_AGENT_ALLOWED_SOURCES',
  podName: 'GRAFT_POD_NAME',
} as const;

export const deploymentName = (bm: string) => bm;
export const serviceName = (bm: string) => bm;
export const tokenSecretName = (bm: string) => `${bm}-agent-token`;
export const engineKeySecretName = (bm: string) => `${bm}-engine-key`;
export const tlsSecretName = (bm: string) => `${bm}-agent-tls`;
export const networkPolicyName = (bm: string) => `${bm}-graft`;

export function selectorLabels(bm: string): Record<string, string> {
  return { [LABEL_BASEMODEL]: bm };
}

export function commonLabels(bm: string, engine: string): Record<string, string> {
  return {
    ...selectorLabels(bm),
    'app.kubernetes.io/name': engine,
    'app.kubernetes.io/instance': bm,
    [LABEL_COMPONENT]: 'serving',
    [LABEL_MANAGED_BY]: MANAGED_BY,
  };
}

// Routing (src/controllers/routing): a selector-less Service and one EndpointSlice per Adapter,
// and HTTPRoutes per BaseModel that names a Gateway. Clients, docs and the demo address them by
// these names, so they are derived here and nowhere else.
export const LABEL_ADAPTER = 'graft.dev/adapter';
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_ENDPOINTSLICE_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
// Tells the EndpointSlice controller (and its mirroring controller) that these slices are not theirs;
// a label value, so no slash (the EndpointSlice controller's own is endpointslice-controller.k8s.io).
export const ENDPOINTSLICE_MANAGER = 'routing.graft.dev';
// The header the Gateway API Inference Extension's body-based routing fills from the request's `model`.
export const MODEL_NAME_HEADER = 'X-Gateway-Model-Name';
// The Service's port name, as the BaseModel's Service names its engine port.
export const ENGINE_PORT_NAME = 'http';

const SERVICE_PREFIX = 'adapter-';

// The Service (and EndpointSlice) of Adapter `name`: `adapter-<name>`, a DNS-1035 label of at most
// 63 characters. Adapter names are DNS-1123 subdomains (dots, a leading digit, up to 253
// characters): when the plain form is not a valid label, the name is cut and ends in a hash of the
// full name, so two Adapters never map to one Service.
export function adapterServiceName(name: string): string {
  const plain = `${SERVICE_PREFIX}${name}`;
  if (plain.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(plain)) return plain;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  const body = plain.replace(/[^-a-z0-9]/g, '-').slice(0, 63 - hash.length - 1).replace(/-+$/, '');
  return `${body}-${hash}`;
}

// The HTTPRoutes of a BaseModel: `<bm>-0`, `<bm>-1`, … (HTTPRoute allows 16 rules; see
// routing/routes.ts for how adapters are split over them). Cut with a hash when long.
export function httpRouteName(bm: string, index: number): string {
  const plain = `${bm}-${index}`;
  if (plain.length <= 253) return plain;
  const hash = createHash('sha256').update(bm).digest('hex').slice(0, 10);
  return `${bm.slice(0, 253 - hash.length - String(index).length - 2).replace(/[-.]+$/, '')}-${hash}-${index}`;
}
