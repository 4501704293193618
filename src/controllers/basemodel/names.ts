// Names, labels and paths shared by the BaseModel's children and the agent inside its pods.
export const LABEL_BASEMODEL = 'graft.dev/basemodel';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const AGENT_PORT = 8095;
export const CACHE_MOUNT = '/var/cache/graft';
export const TOKEN_MOUNT = '/var/run/graft/token';
export const TOKEN_KEY = 'token';
export const S3_CREDENTIALS_MOUNT = '/var/run/graft/s3';
export const BASE_WEIGHTS_DIR = `${CACHE_MOUNT}/base`;
export const AGENT_UID = 65532;

export const deploymentName = (bm: string) => bm;
export const serviceName = (bm: string) => bm;
export const tokenSecretName = (bm: string) => `${bm}-agent-token`;

export function selectorLabels(bm: string): Record<string, string> {
  return { [LABEL_BASEMODEL]: bm };
}

export function commonLabels(bm: string, engine: string): Record<string, string> {
  return {
    ...selectorLabels(bm),
    'app.kubernetes.io/name': engine,
    'app.kubernetes.io/instance': bm,
    [LABEL_COMPONENT]: 'serving',
    'app.kubernetes.io/managed-by': 'graft',
  };
}
