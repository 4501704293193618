import type { V1Container, V1Deployment, V1EnvVar, V1Probe, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { BaseModel } from '../../api/basemodel.js';
import {
  adapterCacheDir, adapterLimits, baseWeightsDir, DEFAULT_IMAGES, ENGINE_HOME, engineArgs, engineCommand, engineEnv, HEALTH_PATH,
  pvcClaimOf, type EnvVar,
} from './engine.js';
import {
  AGENT_ENV, AGENT_PORT, AGENT_UID, CACHE_MOUNT, commonLabels, deploymentName, ENGINE_KEY_KEY, ENGINE_KEY_MOUNT, engineKeySecretName,
  S3_CREDENTIALS_MOUNT, selectorLabels, TLS_CERT_KEY, TLS_KEY_KEY, TLS_MOUNT, tlsSecretName, TOKEN_KEY, TOKEN_MOUNT, tokenSecretName,
} from '../../contracts/names.js';
import { childMeta } from './children.js';

export type DeploymentOptions = {
  // The image of the graft agent sidecar: the operator's own image.
  agentImage: string;
};

// The restricted Pod Security Standard for Graft's own containers (the agent, stage-base).
const restricted: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: AGENT_UID,
  runAsGroup: AGENT_UID,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

// The engine: no capabilities and no privilege escalation always; non-root unless the BaseModel
// opts out (images that must run as root). Its root filesystem stays writable: engines write
// under /tmp and their own folders.
function engineSecurity(bm: BaseModel): V1SecurityContext {
  const sc: V1SecurityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  if (bm.spec.security.engineNonRoot) Object.assign(sc, { runAsNonRoot: true, runAsUser: bm.spec.engine.runAsUser ?? AGENT_UID, runAsGroup: AGENT_UID });
  return sc;
}

const secretVolume = (name: string, secretName: string): V1Volume => ({ name, secret: { secretName, defaultMode: 0o440 } });

function volumes(bm: BaseModel): V1Volume[] {
  const { spec } = bm;
  const name = bm.metadata.name!;
  const cache = spec.storage.cache;
  const v: V1Volume[] = [];
  if (cache.medium === 'pvc') v.push({ name: 'cache', persistentVolumeClaim: { claimName: cache.claimName! } });
  else if (cache.medium === 'hostPath') v.push({ name: 'cache', hostPath: { path: cache.path!, type: 'DirectoryOrCreate' } });
  else v.push({ name: 'cache', emptyDir: cache.size !== undefined ? { sizeLimit: String(cache.size) } : {} });
  v.push(secretVolume('agent-token', tokenSecretName(name)));
  if (spec.security.agentTLS) v.push(secretVolume('agent-tls', tlsSecretName(name)));
  if (spec.security.engineAPIKey) v.push(secretVolume('engine-key', engineKeySecretName(name)));
  v.push({ name: 'agent-tmp', emptyDir: {} });
  if (spec.security.engineNonRoot) v.push({ name: 'engine-home', emptyDir: {} });
  v.push({ name: 'dshm', emptyDir: { medium: 'Memory' } });
  const creds = spec.storage.s3?.credentialsSecretRef;
  if (creds) v.push(secretVolume('s3-credentials', creds.name));
  const claim = pvcClaimOf(spec.model.source.uri);
  if (claim) v.push({ name: 'model-source', persistentVolumeClaim: { claimName: claim, readOnly: true } });
  return v;
}

// Settings the agent reads from its environment (see docs/agent.md). GRAFT_POD_NAME comes first:
// the kubelet expands $(GRAFT_POD_NAME) only in variables defined after it.
function agentEnv(bm: BaseModel): V1EnvVar[] {
  const { spec } = bm;
  const s3 = spec.storage.s3;
  const env: V1EnvVar[] = [
    { name: AGENT_ENV.podName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: AGENT_ENV.port, value: String(AGENT_PORT) },
    { name: AGENT_ENV.tokenFile, value: `${TOKEN_MOUNT}/${TOKEN_KEY}` },
    { name: AGENT_ENV.cacheDir, value: adapterCacheDir(spec) },
    { name: AGENT_ENV.engine, value: spec.engine.type },
    { name: AGENT_ENV.engineUrl, value: `http://127.0.0.1:${spec.engine.port}` },
    { name: 'GRAFT_AGENT_MAX_LORA_RANK', value: String(adapterLimits(spec).maxRank) },
    { name: 'AWS_REGION', value: s3?.region ?? 'us-east-1' },
  ];
  if (spec.security.agentTLS) {
    env.push({ name: AGENT_ENV.tlsCertFile, value: `${TLS_MOUNT}/${TLS_CERT_KEY}` }, { name: AGENT_ENV.tlsKeyFile, value: `${TLS_MOUNT}/${TLS_KEY_KEY}` });
  }
  if (spec.security.engineAPIKey) env.push({ name: AGENT_ENV.engineKeyFile, value: `${ENGINE_KEY_MOUNT}/${ENGINE_KEY_KEY}` });
  if (spec.adapters.allowedSources?.length) env.push({ name: AGENT_ENV.allowedSources, value: spec.adapters.allowedSources.join(',') });
  // Adapters name their base model by id; only a model id source can be compared with it.
  if (!/^(s3|pvc):\/\//.test(spec.model.source.uri)) env.push({ name: 'GRAFT_AGENT_BASE_MODEL', value: spec.model.source.uri });
  if (spec.storage.cache.size !== undefined) env.push({ name: 'GRAFT_AGENT_DISK_BUDGET', value: String(spec.storage.cache.size) });
  if (s3?.endpoint) env.push({ name: 'GRAFT_S3_ENDPOINT', value: s3.endpoint });
  if (s3?.forcePathStyle) env.push({ name: 'GRAFT_S3_FORCE_PATH_STYLE', value: 'true' });
  if (s3?.credentialsSecretRef) env.push({ name: 'GRAFT_S3_CREDENTIALS_DIR', value: S3_CREDENTIALS_MOUNT });
  return env;
}

function agentMounts(bm: BaseModel): V1VolumeMount[] {
  const { security } = bm.spec;
  const m: V1VolumeMount[] = [
    { name: 'cache', mountPath: CACHE_MOUNT },
    { name: 'agent-token', mountPath: TOKEN_MOUNT, readOnly: true },
  ];
  if (security.agentTLS) m.push({ name: 'agent-tls', mountPath: TLS_MOUNT, readOnly: true });
  if (security.engineAPIKey) m.push({ name: 'engine-key', mountPath: ENGINE_KEY_MOUNT, readOnly: true });
  m.push({ name: 'agent-tmp', mountPath: '/tmp' });
  if (bm.spec.storage.s3?.credentialsSecretRef) m.push({ name: 's3-credentials', mountPath: S3_CREDENTIALS_MOUNT, readOnly: true });
  return m;
}

function agentContainer(bm: BaseModel, opts: DeploymentOptions): V1Container {
  // The kubelet does not verify the certificate of an HTTPS probe; it only needs the scheme.
  const scheme = bm.spec.security.agentTLS ? 'HTTPS' : undefined;
  const probe = (path: string, extra: Partial<V1Probe>): V1Probe => ({ httpGet: { path, port: 'agent', ...(scheme ? { scheme } : {}) }, ...extra });
  return {
    name: 'graft-agent',
    image: opts.agentImage,
    args: ['agent'],
    // A native sidecar: started before the engine, kept running beside it.
    restartPolicy: 'Always',
    env: agentEnv(bm),
    ports: [{ name: 'agent', containerPort: AGENT_PORT, protocol: 'TCP' }],
    readinessProbe: probe('/readyz', { periodSeconds: 5 }),
    livenessProbe: probe('/healthz', { periodSeconds: 10, failureThreshold: 6 }),
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    securityContext: restricted,
    volumeMounts: agentMounts(bm),
  };
}

// Stages s3:// base weights into the cache before the engine starts; skips when already there.
function stageBaseContainer(bm: BaseModel, opts: DeploymentOptions): V1Container {
  const uri = bm.spec.model.source.uri;
  return {
    name: 'graft-stage-base',
    image: opts.agentImage,
    args: ['agent', 'stage-base', '--source', uri, '--dest', baseWeightsDir(uri)],
    env: agentEnv(bm),
    resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    securityContext: restricted,
    volumeMounts: agentMounts(bm),
  };
}

function engineContainer(bm: BaseModel): V1Container {
  const { spec } = bm;
  const servedName = spec.model.name ?? bm.metadata.name!;
  // Neither vLLM's /health nor SGLang's is behind --api-key, so the probes need no key.
  const health = HEALTH_PATH[spec.engine.type];
  const mounts: V1VolumeMount[] = [
    { name: 'cache', mountPath: CACHE_MOUNT },
    { name: 'dshm', mountPath: '/dev/shm' },
  ];
  if (spec.security.engineNonRoot) mounts.push({ name: 'engine-home', mountPath: ENGINE_HOME });
  const claim = pvcClaimOf(spec.model.source.uri);
  if (claim) mounts.push({ name: 'model-source', mountPath: `/models/${claim}`, readOnly: true });
  const c: V1Container = {
    name: 'engine',
    image: spec.engine.image ?? DEFAULT_IMAGES[spec.engine.type],
    args: engineArgs(spec, servedName),
    env: engineEnv(spec, bm.metadata.name!) satisfies EnvVar[] as V1Container['env'],
    ports: [{ name: 'http', containerPort: spec.engine.port, protocol: 'TCP' }],
    resources: spec.resources as V1Container['resources'],
    // Loading a large model takes many minutes: up to 60 min before liveness applies.
    startupProbe: { httpGet: { path: health, port: 'http' }, periodSeconds: 10, failureThreshold: 360 },
    readinessProbe: { httpGet: { path: health, port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: health, port: 'http' }, periodSeconds: 15, failureThreshold: 4 },
    securityContext: engineSecurity(bm),
    volumeMounts: mounts,
  };
  const command = engineCommand(spec);
  if (command) c.command = command;
  return c;
}

export function desiredDeployment(bm: BaseModel, opts: DeploymentOptions): V1Deployment {
  const name = bm.metadata.name!;
  const { spec } = bm;
  const labels = commonLabels(name, spec.engine.type);
  const initContainers = [agentContainer(bm, opts)];
  if (spec.model.source.uri.startsWith('s3://')) initContainers.push(stageBaseContainer(bm, opts));
  const podSpec: Record<string, unknown> = {
    initContainers,
    containers: [engineContainer(bm)],
    volumes: volumes(bm),
    // The agent (non-root) and the engine share the cache volume through this group; the
    // RuntimeDefault seccomp profile for every container (the restricted Pod Security Standard).
    securityContext: { fsGroup: AGENT_UID, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } },
    // The agent unloads adapters and the engine drains requests.
    terminationGracePeriodSeconds: 60,
    enableServiceLinks: false,
    // Neither the engine nor the agent calls the Kubernetes API. (Cloud identity for S3, such as
    // IRSA or workload identity, injects its own projected token.)
    automountServiceAccountToken: false,
  };
  if (spec.nodeSelector) podSpec.nodeSelector = spec.nodeSelector;
  if (spec.tolerations) podSpec.tolerations = spec.tolerations;
  if (spec.affinity) podSpec.affinity = spec.affinity;
  if (spec.priorityClassName) podSpec.priorityClassName = spec.priorityClassName;
  if (spec.serviceAccountName) podSpec.serviceAccountName = spec.serviceAccountName;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMeta(bm, deploymentName(name)),
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: selectorLabels(name) },
      // GPUs are rarely spare: replace pods one at a time instead of surging.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: { metadata: { labels }, spec: podSpec as unknown as NonNullable<V1Deployment['spec']>['template']['spec'] },
    },
  };
}
