// The Helm chart's values as one zod schema: the single source of charts/graft/values.yaml (its
// defaults and comments), values.schema.json (so `helm install` refuses a misspelt or mistyped
// value and names it) and docs/install-values.md. Every object is strict: an unknown key is an
// error, not a silently ignored setting. Objects that Kubernetes defines (affinity, tolerations,
// resources' quantities) stay open where the API server validates them anyway.
import { z } from 'zod';
import { AGENT_UID } from '../contracts/names.js';
import { OWN_NAMESPACE_DEFAULTS } from '../rbac/rules.js';
import { IMAGE_REPOSITORY, IMAGE_TAG } from '../version.js';

// Go-style durations as the operator's flags take them (src/runtime/duration.ts).
const DURATION = '^(0|([0-9]+(\\.[0-9]+)?(ms|s|m|h))+)$';
const duration = (def: string, description: string) =>
  z.string().regex(new RegExp(DURATION), 'must be a duration like 15s, 2m, 500ms or 1h30m').default(def).describe(description);

const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const OPTIONAL_LABEL = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$';
const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const labelMap = (description: string) => z.record(z.string(), z.string()).default({}).describe(description);
const openObject = z.record(z.string(), z.unknown());
const quantity = z.union([z.string(), z.number()]);

export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

const Image = z.strictObject({
  repository: z.string().min(1).default(IMAGE_REPOSITORY)
    .describe('Image repository of Graft (operator, agent sidecar and merge Jobs are one image). Point it at your mirror for a private registry.'),
  tag: z.string().default(IMAGE_TAG).describe('Image tag. Defaults to the chart\'s own release.'),
  digest: z.string().regex(/^(sha256:[a-f0-9]{64})?$/, 'must be empty or sha256:<64 hex digits>').default('')
    .describe('Image digest (sha256:…); when set it is used instead of the tag.'),
  pullPolicy: z.enum(IMAGE_PULL_POLICIES).default('IfNotPresent').describe('imagePullPolicy of the operator and the helm test Pod.'),
});

const Resources = z.strictObject({
  requests: z.record(z.string(), quantity).optional().describe('Resource requests (cpu, memory, …).'),
  limits: z.record(z.string(), quantity).optional().describe('Resource limits.'),
});

const LeaderElection = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the controllers only in the replica that holds the Lease. Must stay on with more than one replica.'),
  id: z.string().regex(new RegExp(DNS1123_SUBDOMAIN), 'must be a DNS subdomain name').default(OWN_NAMESPACE_DEFAULTS.leaseName)
    .describe('Name of the Lease in the release namespace.'),
  leaseDuration: duration('15s', 'How long a Lease is valid without renewal.'),
  renewDeadline: duration('10s', 'How long the leader keeps trying to renew before it gives up leadership.'),
  retryPeriod: duration('2s', 'How often candidates try to take or renew the Lease.'),
});

const Operator = z.strictObject({
  agentImage: z.string().default('')
    .describe('Image of the agent sidecar the operator adds to serving pods (`--agent-image`). Empty: the same image as the operator (`image.*`).'),
  masterKeySecret: z.string().regex(new RegExp(DNS1123_SUBDOMAIN), 'must be a DNS subdomain name').default(OWN_NAMESPACE_DEFAULTS.masterKeySecret)
    .describe('Secret in the release namespace holding the master key every per-BaseModel token and certificate is derived from (`--master-key-secret`). The operator makes it on first start; keep it across upgrades.'),
  allowedHostPaths: z.array(z.string().regex(new RegExp('^/(?:[^.]|\\.(?:[^.]|$))*$'), 'must be an absolute node path without ".."'))
    .default([])
    .describe('Node folders a BaseModel may use as a hostPath cache (`--allowed-host-paths`). Empty: hostPath caches are refused.'),
  logLevel: z.enum(LOG_LEVELS).default('info').describe('Log level (`--log-level`).'),
  syncPeriod: duration('10m', 'How often every cached object is reconciled again even without a change (`--sync-period`; 0 turns it off).'),
  gracefulShutdownTimeout: duration('30s', 'How long shutdown waits for running reconciles (`--graceful-shutdown-timeout`). Kept below terminationGracePeriodSeconds.'),
  leaderElection: LeaderElection.prefault({}).describe('Leader election between the replicas (a Lease in the release namespace).'),
  extraArgs: z.array(z.string()).default([]).describe('More flags for `graft operator`, appended as given.'),
  extraEnv: z.array(openObject).default([]).describe('More environment variables of the operator container (EnvVar objects).'),
});

const PodDisruptionBudget = z.strictObject({
  enabled: z.boolean().default(true).describe('Render a PodDisruptionBudget for the operator pods (only when replicaCount > 1).'),
  maxUnavailable: z.union([z.number().int().min(0), z.string().regex(/^[0-9]+%$/)]).default(1)
    .describe('maxUnavailable of the PodDisruptionBudget (a count or a percentage).'),
});

const ServiceAccount = z.strictObject({
  create: z.boolean().default(true).describe('Create the operator\'s ServiceAccount.'),
  name: z.string().default('').describe('ServiceAccount name. Empty: the release\'s full name.'),
  annotations: labelMap('Annotations of the ServiceAccount.'),
});

const Rbac = z.strictObject({
  create: z.boolean().default(true).describe('Create the operator\'s Roles, ClusterRoles and their bindings (from src/rbac/rules.ts).'),
});

const Crds = z.strictObject({
  enabled: z.boolean().default(true).describe('Install the CRDs (BaseModel, Adapter, AdapterSet) as templates, so `helm upgrade` upgrades them too.'),
  keep: z.boolean().default(true)
    .describe('Annotate the CRDs with `helm.sh/resource-policy: keep`: `helm uninstall` leaves them, and with them every BaseModel and Adapter.'),
});

const ServiceMonitor = z.strictObject({
  enabled: z.boolean().default(false).describe('Render a ServiceMonitor (monitoring.coreos.com/v1; needs the Prometheus Operator\'s CRDs).'),
  interval: duration('30s', 'Scrape interval.'),
  scrapeTimeout: z.string().regex(/^$|^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/, 'must be empty or a duration like 10s').default('').describe('Scrape timeout. Empty: Prometheus\' default.'),
  labels: labelMap('Extra labels of the ServiceMonitor (what your Prometheus selects on).'),
});

const Metrics = z.strictObject({
  port: z.number().int().min(1).max(65535).default(8080).describe('Port of /metrics (`--metrics-bind-address`), in the pod and on the Service.'),
  service: z.strictObject({
    enabled: z.boolean().default(true).describe('Render the metrics Service (also used by `helm test` to reach /readyz).'),
    annotations: labelMap('Annotations of the metrics Service.'),
  }).prefault({}).describe('The metrics Service.'),
  serviceMonitor: ServiceMonitor.prefault({}).describe('A Prometheus Operator ServiceMonitor for the metrics Service.'),
});

const Health = z.strictObject({
  port: z.number().int().min(1).max(65535).default(8081).describe('Port of /healthz and /readyz (`--health-probe-bind-address`).'),
});

const NetworkPolicy = z.strictObject({
  enabled: z.boolean().default(false)
    .describe('Render a NetworkPolicy for the operator pods: ingress only to the metrics and health ports (egress stays open: the API server, the agents, DNS).'),
  from: z.array(openObject).default([])
    .describe('NetworkPolicyPeers allowed to reach those ports (Prometheus, say). Empty: from anywhere.'),
});

const Tests = z.strictObject({
  enabled: z.boolean().default(true).describe('Render the `helm test` Pod (checks that the CRDs are served and the operator is ready).'),
  timeout: duration('120s', 'How long the test Pod waits for both.'),
});

export const ChartValues = z.strictObject({
  global: openObject.optional().describe('Values a parent chart shares with its subcharts (unused by Graft; allowed so Graft can be a dependency).'),
  nameOverride: z.string().regex(new RegExp(OPTIONAL_LABEL), 'must be empty or a DNS label (lower case letters, digits, \'-\')').max(40).default('').describe('Replaces the chart name in object names.'),
  fullnameOverride: z.string().regex(new RegExp(OPTIONAL_LABEL), 'must be empty or a DNS label (lower case letters, digits, \'-\')').max(52).default('').describe('Replaces the release-and-chart full name in object names.'),
  image: Image.prefault({}).describe('The Graft image: the operator runs it, and so do the agent sidecars (unless operator.agentImage is set) and merge Jobs.'),
  imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })).default([])
    .describe('Pull Secrets (in the release namespace) for the operator and the test Pod; see docs/install.md for serving pods.'),
  replicaCount: z.number().int().min(1).default(2).describe('Operator replicas; one leads, the others wait to take over.'),
  watchNamespaces: z.array(z.string().regex(new RegExp(DNS1123_LABEL), 'must be a namespace name')).default([])
    .describe('Namespaces the operator watches, each with its own Role. Empty: every namespace, with a ClusterRole.'),
  operator: Operator.prefault({}).describe('Flags of `graft operator`.'),
  resources: Resources.prefault({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } })
    .describe('Resources of the operator container.'),
  podAnnotations: labelMap('Annotations of the operator pods.'),
  podLabels: labelMap('Extra labels of the operator pods.'),
  nodeSelector: labelMap('nodeSelector of the operator pods.'),
  tolerations: z.array(openObject).default([]).describe('Tolerations of the operator pods.'),
  affinity: openObject.default({}).describe('Affinity of the operator pods.'),
  topologySpreadConstraints: z.array(openObject).default([]).describe('topologySpreadConstraints of the operator pods; the selector labels are filled in when a constraint has no labelSelector.'),
  priorityClassName: z.string().default('').describe('priorityClassName of the operator pods.'),
  terminationGracePeriodSeconds: z.number().int().min(1).default(45).describe('How long Kubernetes waits after SIGTERM; keep it above operator.gracefulShutdownTimeout.'),
  podDisruptionBudget: PodDisruptionBudget.prefault({}).describe('Keeps one operator replica running through node drains.'),
  serviceAccount: ServiceAccount.prefault({}).describe('The operator\'s ServiceAccount (its token is mounted: the operator talks to the API server).'),
  rbac: Rbac.prefault({}).describe('The operator\'s permissions: exactly the calls it makes (docs/rbac.md).'),
  crds: Crds.prefault({}).describe('The CustomResourceDefinitions.'),
  metrics: Metrics.prefault({}).describe('Prometheus metrics (docs/metrics.md).'),
  networkPolicy: NetworkPolicy.prefault({}).describe('The operator pods\' own NetworkPolicy. (Each BaseModel gets one too, from the operator: it admits only the operator\'s pods to the agent port.)'),
  health: Health.prefault({}).describe('Liveness (/healthz) and readiness (/readyz) probes.'),
  tests: Tests.prefault({}).describe('`helm test`.'),
});
export type ChartValues = z.output<typeof ChartValues>;

/** The chart's default values: what values.yaml holds. */
export function defaultValues(): ChartValues {
  return ChartValues.parse({});
}

/** The user id the chart's pods run as: the image's USER and the agent's, one number. */
export const RUN_AS_USER = AGENT_UID;
