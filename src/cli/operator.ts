// `graft operator`: runs the controllers of src/controllers/index.ts under a Manager, with leader
// election, /healthz, /readyz and /metrics. SIGTERM or SIGINT → the ordered shutdown described in
// docs/runtime.md; a second signal exits at once.
import { parseArgs } from 'node:util';
import { cacheSelectors, controllers } from '../controllers/index.js';
import { DEFAULT_IMAGE } from '../version.js';
import { parseDuration } from '../runtime/duration.js';
import { parseBindAddress, type BindAddress } from '../runtime/http-server.js';
import { loadKubeConfig } from '../runtime/kubeconfig.js';
import { Manager } from '../runtime/manager.js';
import { OWN_NAMESPACE_DEFAULTS } from '../rbac/rules.js';
import { DEFAULT_MASTER_KEY_SECRET, loadKeyRing } from '../security/master-key.js';
import { createLogger } from '../util/log.js';
import { CliError } from './errors.js';

export const DEFAULT_AGENT_IMAGE = DEFAULT_IMAGE;

const USAGE = `usage: graft operator [flags]

  --kubeconfig PATH                   kubeconfig file (else $KUBECONFIG, in-cluster, ~/.kube/config)
  --namespaces LIST                   comma-separated namespaces to watch, each needing only a Role
                                      (manifests/rbac/namespaced.yaml); default: all namespaces,
                                      which needs the ClusterRole (manifests/rbac/cluster-wide.yaml)
  --namespace NS                      the same as --namespaces NS
  --metrics-bind-address ADDR         /metrics address (default ":8080"; "0" disables)
  --health-probe-bind-address ADDR    /healthz and /readyz address (default ":8081"; "0" disables)
  --leader-elect / --no-leader-elect  run controllers only while holding the Lease (default on)
  --leader-election-namespace NS      the Lease's namespace (default: the pod's namespace when in
                                      cluster, else the kubeconfig context's, else "default")
  --leader-election-id NAME           the Lease's name (default "graft-operator")
  --leader-election-lease-duration D  default 15s
  --leader-election-renew-deadline D  default 10s
  --leader-election-retry-period D    default 2s
  --sync-period D                     re-deliver every cached object this often (default 10m; 0 off)
  --graceful-shutdown-timeout D       how long shutdown waits for reconciles (default 30s)
  --log-level LEVEL                   trace, debug, info, warn, error (default info)
  --agent-image IMAGE                 the graft image run as the agent sidecar in serving pods
                                      (default $GRAFT_AGENT_IMAGE, else ${DEFAULT_AGENT_IMAGE})
  --master-key-secret NAME            the Secret in the operator's namespace holding the master key
                                      every per-BaseModel token and certificate is derived from
                                      (default "graft-operator-key"; made on first start)
  --allowed-host-paths LIST           comma-separated node folders a BaseModel may use as a hostPath
                                      cache (default: none; hostPath caches are refused)
  --operator-pod-labels LIST          k=v,… labels of the operator's pods, admitted to the agent
                                      port by each BaseModel's NetworkPolicy
                                      (default "app.kubernetes.io/name=graft,app.kubernetes.io/component=operator")
`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface OperatorFlags {
  kubeconfig?: string;
  /** The namespaces to watch; undefined for all. */
  namespaces?: string[];
  metrics?: BindAddress;
  probes?: BindAddress;
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaderElectionId: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  syncPeriodMs: number;
  gracefulShutdownMs: number;
  logLevel: string;
  agentImage: string;
  masterKeySecret: string;
  allowedHostPaths: string[];
  operatorPodLabels: Record<string, string>;
  help: boolean;
}

export const DEFAULT_OPERATOR_POD_LABELS = 'app.kubernetes.io/name=graft,app.kubernetes.io/component=operator';

function parseLabels(flag: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(part);
    if (!m) throw new CliError(`${flag}: "${part}" is not key=value`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

// RFC 1123 labels, as the API server requires of namespace names.
const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function parseNamespaces(values: string[]): string[] | undefined {
  const names = [...new Set(values.flatMap((v) => v.split(',')).map((n) => n.trim()).filter(Boolean))];
  for (const n of names) {
    if (!NAMESPACE_NAME.test(n)) throw new CliError(`--namespaces: "${n}" is not a namespace name (lower case letters, digits and '-', at most 63)`);
  }
  return names.length ? names : undefined;
}

function parseHostPaths(flag: string, text: string): string[] {
  const paths = text.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of paths) if (!p.startsWith('/') || p.split('/').includes('..')) throw new CliError(`${flag}: "${p}" must be an absolute node path without ".."`);
  return paths.map((p) => p.replace(/\/+$/, '') || '/');
}

/** Parses the flags; throws CliError naming the bad flag. */
export function parseOperatorFlags(argv: string[]): OperatorFlags {
  // Go-style "--leader-elect=false" as well as --no-leader-elect.
  const args = argv.map((a) => (a === '--leader-elect=false' ? '--no-leader-elect' : a === '--leader-elect=true' ? '--leader-elect' : a));
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowNegative: true,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        namespaces: { type: 'string', multiple: true },
        namespace: { type: 'string', multiple: true },
        'metrics-bind-address': { type: 'string', default: ':8080' },
        'health-probe-bind-address': { type: 'string', default: ':8081' },
        'leader-elect': { type: 'boolean', default: true },
        'leader-election-namespace': { type: 'string' },
        'leader-election-id': { type: 'string', default: OWN_NAMESPACE_DEFAULTS.leaseName },
        'leader-election-lease-duration': { type: 'string', default: '15s' },
        'leader-election-renew-deadline': { type: 'string', default: '10s' },
        'leader-election-retry-period': { type: 'string', default: '2s' },
        'sync-period': { type: 'string', default: '10m' },
        'graceful-shutdown-timeout': { type: 'string', default: '30s' },
        'log-level': { type: 'string', default: process.env.GRAFT_LOG_LEVEL ?? 'info' },
        'agent-image': { type: 'string', default: process.env.GRAFT_AGENT_IMAGE || DEFAULT_AGENT_IMAGE },
        'master-key-secret': { type: 'string', default: DEFAULT_MASTER_KEY_SECRET },
        'allowed-host-paths': { type: 'string', default: '' },
        'operator-pod-labels': { type: 'string', default: DEFAULT_OPERATOR_POD_LABELS },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`);
  }
  const wrap = <T>(f: () => T): T => {
    try { return f(); } catch (err) { throw new CliError((err as Error).message); }
  };
  const flags: OperatorFlags = {
    kubeconfig: values.kubeconfig,
    namespaces: parseNamespaces([...(values.namespaces ?? []), ...(values.namespace ?? [])]),
    metrics: wrap(() => parseBindAddress('--metrics-bind-address', values['metrics-bind-address']!)),
    probes: wrap(() => parseBindAddress('--health-probe-bind-address', values['health-probe-bind-address']!)),
    leaderElect: values['leader-elect']!,
    leaderElectionNamespace: values['leader-election-namespace'] || undefined,
    leaderElectionId: values['leader-election-id']!,
    leaseDurationMs: wrap(() => parseDuration('--leader-election-lease-duration', values['leader-election-lease-duration']!)),
    renewDeadlineMs: wrap(() => parseDuration('--leader-election-renew-deadline', values['leader-election-renew-deadline']!)),
    retryPeriodMs: wrap(() => parseDuration('--leader-election-retry-period', values['leader-election-retry-period']!)),
    syncPeriodMs: wrap(() => parseDuration('--sync-period', values['sync-period']!)),
    gracefulShutdownMs: wrap(() => parseDuration('--graceful-shutdown-timeout', values['graceful-shutdown-timeout']!)),
    logLevel: values['log-level']!,
    agentImage: values['agent-image']!,
    masterKeySecret: values['master-key-secret']!,
    allowedHostPaths: parseHostPaths('--allowed-host-paths', values['allowed-host-paths']!),
    operatorPodLabels: parseLabels('--operator-pod-labels', values['operator-pod-labels']!),
    help: values.help!,
  };
  if (!LOG_LEVELS.includes(flags.logLevel)) throw new CliError(`--log-level: "${flags.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(flags.leaderElectionId)) {
    throw new CliError(`--leader-election-id: "${flags.leaderElectionId}" must be a DNS subdomain name (lower case letters, digits, '-' and '.')`);
  }
  if (flags.leaderElect) {
    if (!(flags.leaseDurationMs > flags.renewDeadlineMs)) throw new CliError('--leader-election-lease-duration must be longer than --leader-election-renew-deadline');
    if (!(flags.renewDeadlineMs > flags.retryPeriodMs)) throw new CliError('--leader-election-renew-deadline must be longer than --leader-election-retry-period');
  }
  return flags;
}

export async function run(argv: string[]): Promise<number> {
  const flags = parseOperatorFlags(argv);
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = createLogger({ level: flags.logLevel, name: 'graft-operator' });
  let loaded;
  try {
    loaded = loadKubeConfig(flags.kubeconfig);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const operatorNamespace = flags.leaderElectionNamespace ?? loaded.namespace ?? 'default';
  const mgr = new Manager({
    kubeConfig: loaded.kubeConfig,
    logger: log,
    namespaces: flags.namespaces,
    leaderElection: {
      enabled: flags.leaderElect,
      namespace: operatorNamespace,
      id: flags.leaderElectionId,
      leaseDurationMs: flags.leaseDurationMs,
      renewDeadlineMs: flags.renewDeadlineMs,
      retryPeriodMs: flags.retryPeriodMs,
    },
    metricsBindAddress: flags.metrics,
    healthProbeBindAddress: flags.probes,
    resyncMs: flags.syncPeriodMs,
    gracefulShutdownMs: flags.gracefulShutdownMs,
    cacheSelectors,
  });
  let keyRing;
  try {
    keyRing = await loadKeyRing(mgr.client, operatorNamespace, flags.masterKeySecret, log);
  } catch (err) {
    throw new CliError(`--master-key-secret: ${(err as Error).message}`);
  }
  for (const factory of controllers({
    agentImage: flags.agentImage, keyRing, allowedHostPaths: flags.allowedHostPaths,
    operatorNamespace, operatorPodLabels: flags.operatorPodLabels,
  })) mgr.add(factory);
  log.info({ kubeconfig: loaded.source, namespaces: flags.namespaces ?? '(all)', operatorNamespace, leaderElect: flags.leaderElect, identity: mgr.identity }, 'graft operator starting');

  const stopped = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(1);
      }
      log.info({ signal: sig }, 'signal received: shutting down');
      mgr.stop().then(resolve, (err: unknown) => { log.error({ err }, 'shutdown failed'); resolve(); });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await mgr.start();
  await stopped;
  log.flush?.();
  return 0;
}
