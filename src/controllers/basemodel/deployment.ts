import type { V1Container, V1Deployment, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { BaseModel } from '../../api/basemodel.js';
import { adapterLimits, DEFAULT_IMAGES, engineArgs, engineCommand, engineEnv, HEALTH_PATH, pvcClaimOf } from './engine.js';
import {
  AGENT_PORT, AGENT_UID, BASE_WEIGHTS_DIR, CACHE_MOUNT, commonLabels, deploymentName, S3_CREDENTIALS_MOUNT,
  selectorLabels, TOKEN_KEY, TOKEN_MOUNT, tokenSecretName,
} from '../../contracts/names.js';
import { childMeta } from './children.js';

export type DeploymentOptions = {
  // The image of the graft agent sidecar: the operator's own image.
  agentImage: string;
};

const restricted = {
  runAsNonRoot: true,
  runAsUser: AGENT_UID,
  runAsGroup: AGENT_UID,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

function volumes(bm: BaseModel): V1Volume[] {
  const { spec } = bm;
  const cache = spec.storage.cache;
  const v: V1Volume[] = [];
  if (cache.medium === 'pvc') v.push({ name: 'cache', persistentVolumeClaim: { claimName: cache.claimName! } });
  else if (cache.medium === 'hostPath') v.push({ name: 'cache', hostPath: { path: cache.path!, type: 'DirectoryOrCreate' } });
  else v.push({ name: 'cache', emptyDir: cache.size !== undefined ? { sizeLimit: String(cache.size) } : {} });
  v.push({ name: 'agent-token', secret: { secretName: tokenSecretName(bm.metadata.name!), defaultMode: 0o440 } });
  v.push({ name: 'agent-tmp', emptyDir: {} });
  v.push({ name: 'dshm', emptyDir: { medium: 'Memory' } });
  const creds = spec.storage.s3?.credentialsSecretRef;
  if (creds) v.push({ name: 's3-credentials', secret: { secretName: creds.name, defaultMode: 0o440 } });
  const claim = pvcClaimOf(spec.model.source.uri);
  if (claim) v.push({ name: 'model-source', persistentVolumeClaim: { claimName: claim, readOnly: true } });
  return v;
}

// Settings the agent reads from its environment (see docs/agent.md).
function agentEnv(bm: BaseModel): Array<{ name: string; value: string }> {
  const { spec } = bm;
  const s3 = spec.storage.s3;
  const env = [
    { name: 'GRAFT_AGENT_PORT', value: String(AGENT_PORT) },
    { name: 'GRAFT_AGENT_TOKEN_FILE', value: `${TOKEN_MOUNT}/${TOKEN_KEY}` },
    { name: 'GRAFT_AGENT_CACHE_DIR', value: `${CACHE_MOUNT}/adapters` },
    { name: 'GRAFT_AGENT_ENGINE', value: spec.engine.type },
    { name: 'GRAFT_AGENT_ENGINE_URL', value: `http://127.0.0.1:${spec.engine.port}` },
    { name: 'GRAFT_AGENT_MAX_LORA_RANK', value: String(adapterLimits(spec).maxRank) },
    { name: 'AWS_REGION', value: s3?.region ?? 'us-east-1' },
  ];
  // Adapters name their base model by id; only a model id source can be compared with it.
  if (!/^(s3|pvc):\/\//.test(spec.model.source.uri)) env.push({ name: 'GRAFT_AGENT_BASE_MODEL', value: spec.model.source.uri });
  if (spec.storage.cache.size !== undefined) env.push({ name: 'GRAFT_AGENT_DISK_BUDGET', value: String(spec.storage.cache.size) });
  if (s3?.endpoint) env.push({ name: 'GRAFT_S3_ENDPOINT', value: s3.endpoint });
  if (s3?.forcePathStyle) env.push({ name: 'GRAFT_S3_FORCE_PATH_STYLE', value: 'true' });
  if (s3?.credentialsSecretRef) env.push({ name: 'GRAFT_S3_CREDENTIALS_DIR', value: S3_CREDENTIALS_MOUNT });
  return env;
}

function agentMounts(bm: BaseModel): V1VolumeMount[] {
  const m: V1VolumeMount[] = [
    { name: 'cache', mountPath: CACHE_MOUNT },
    { name: 'agent-token', mountPath: TOKEN_MOUNT, readOnly: true },
    { name: 'agent-tmp', mountPath: '/tmp' },
  ];
  if (bm.spec.storage.s3?.credentialsSecretRef) m.push({ name: 's3-credentials', mountPath: S3_CREDENTIALS_MOUNT, readOnly: true });
  return m;
}

function agentContainer(bm: BaseModel, opts: DeploymentOptions): V1Container {
  return {
    name: 'graft-agent',
    image: opts.agentImage,
    args: ['agent'],
    // A native sidecar: started before the engine, kept running beside it.
    restartPolicy: 'Always',
    env: agentEnv(bm),
    ports: [{ name: 'agent', containerPort: AGENT_PORT, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/readyz', port: 'agent' }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'agent' }, periodSeconds: 10, failureThreshold: 6 },
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    securityContext: restricted,
    volumeMounts: agentMounts(bm),
  };
}

// Stages s3:// base weights into the cache before the engine starts; skips when already there.
function stageBaseContainer(bm: BaseModel, opts: DeploymentOptions): V1Container {
  return {
    name: 'graft-stage-base',
    image: opts.agentImage,
    args: ['agent', 'stage-base', '--source', bm.spec.model.source.uri, '--dest', `${BASE_WEIGHTS_DIR}/model`],
    env: agentEnv(bm),
    resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } },
    securityContext: restricted,
    volumeMounts: agentMounts(bm),
  };
}

function engineContainer(bm: BaseModel): V1Container {
  const { spec } = bm;
  const servedName = spec.model.name ?? bm.metadata.name!;
  const health = HEALTH_PATH[spec.engine.type];
  const mounts: V1VolumeMount[] = [
    { name: 'cache', mountPath: CACHE_MOUNT },
    { name: 'dshm', mountPath: '/dev/shm' },
  ];
  const claim = pvcClaimOf(spec.model.source.uri);
  if (claim) mounts.push({ name: 'model-source', mountPath: `/models/${claim}`, readOnly: true });
  const c: V1Container = {
    name: 'engine',
    image: spec.engine.image ?? DEFAULT_IMAGES[spec.engine.type],
    args: engineArgs(spec, servedName),
    env: engineEnv(spec) as V1Container['env'],
    ports: [{ name: 'http', containerPort: spec.engine.port, protocol: 'TCP' }],
    resources: spec.resources as V1Container['resources'],
    // Loading a large model takes many minutes: up to 60 min before liveness applies.
    startupProbe: { httpGet: { path: health, port: 'http' }, periodSeconds: 10, failureThreshold: 360 },
    readinessProbe: { httpGet: { path: health, port: 'http' }, periodSeconds: 5, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: health, port: 'http' }, periodSeconds: 15, failureThreshold: 4 },
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
    // The agent (non-root) and the engine share the cache volume through this group.
    securityContext: { fsGroup: AGENT_UID, fsGroupChangePolicy: 'OnRootMismatch' },
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
