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
