// A real Gateway API data plane for the sandbox: Traefik's kubernetesgateway provider, run as a
// process next to the API server (in the parent network namespace, as the API server is), reading
// the sandbox's Gateways, HTTPRoutes, Services and EndpointSlices and sending requests straight to
// the endpoints' addresses. It signs in as a ServiceAccount of its own with the permissions
// Traefik's documentation lists for the provider, less the ones it does not use here (OTel's pod
// get, the experimental TCPRoute/TLSRoute kinds): never as the sandbox's admin.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { Proc } from './proc.js';
import { rawRequest } from './raw.js';
import { freePort, waitFor } from './wait.js';

type Obj = Record<string, any>;

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
// The controllerName Traefik's provider claims GatewayClasses by.
export const TRAEFIK_CONTROLLER = 'traefik.io/gateway-controller';
const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const GW = `/apis/${GATEWAY_GROUP}/v1`;
// Long enough for a demo left running; the sandbox's API server sets no maximum.
const TOKEN_SECONDS = 24 * 3600;
const FIELD_MANAGER = 'graft-sandbox';

export type GatewayOptions = {
  kubeConfig: KubeConfig; // the sandbox's admin: installs the CRDs, the RBAC and the Gateway
  traefikBinary: string;
  crdsDir: string; // the Gateway API CRDs (hack/tools.sh: GRAFT_CRDS_GATEWAY_API)
  dir: string; // token, CA file and Traefik's own files
  namespace?: string; // the Gateway's and Traefik's ServiceAccount's; default "default"
  // The namespaces Traefik watches for routes, Services and EndpointSlices (each gets a
  // RoleBinding); default: just the Gateway's.
  watchNamespaces?: string[];
  gatewayName?: string; // default "graft"
  className?: string; // the GatewayClass; default "traefik"
  host?: string; // where the listener binds; default 127.0.0.1
  port?: number; // default: a free port
  verbose?: boolean;
};

export type GatewayRef = { namespace: string; name: string; sectionName: string };

export class SandboxGateway {
  constructor(
    readonly proc: Proc,
    // http://host:port of the Gateway's one listener.
    readonly url: string,
    readonly ref: GatewayRef,
    readonly className: string,
  ) {}

  async stop(): Promise<void> { await this.proc.stop(5_000); }
}

// Installs the Gateway API CRDs (server-side apply: safe to repeat) and waits until each is
// Established.
export async function installGatewayApiCrds(kc: KubeConfig, crdsDir: string): Promise<string[]> {
  const names: string[] = [];
  for (const file of (await readdir(crdsDir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(crdsDir, file), 'utf8'))) {
      const crd = doc.toJSON() as Obj | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const name = crd.metadata.name as string;
      await apply(kc, `${CRDS}/${name}`, crd);
      names.push(name);
    }
  }
  if (!names.length) throw new Error(`no CustomResourceDefinition in ${crdsDir}`);
  for (const name of names) {
    await waitFor(`CRD ${name} Established`, async () => {
      const res = await rawRequest(kc, 'GET', `${CRDS}/${name}`);
      return ((res.body as Obj).status?.conditions ?? []).some((c: Obj) => c.type === 'Established' && c.status === 'True');
    }, 30_000, 100);
  }
  return names;
}

// What Traefik's kubernetesgateway provider reads and writes (its documented ClusterRole, split in
// a cluster part and a part bound in each watched namespace only).
export function traefikRbac(saNamespace: string, saName: string, watch: string[], prefix = 'graft-sandbox-traefik'): Obj[] {
  const subject = { kind: 'ServiceAccount', name: saName, namespace: saNamespace };
  const read = ['get', 'list', 'watch'];
  const cluster = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: prefix },
    rules: [
      { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: [GATEWAY_GROUP], resources: ['gatewayclasses'], verbs: read },
      { apiGroups: [GATEWAY_GROUP], resources: ['gatewayclasses/status'], verbs: ['update'] },
    ],
  };
  const namespaced = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${prefix}-routes` },
    rules: [
      { apiGroups: [''], resources: ['services', 'secrets', 'configmaps'], verbs: read },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      { apiGroups: [GATEWAY_GROUP], resources: ['gateways', 'httproutes', 'grpcroutes', 'referencegrants', 'backendtlspolicies'], verbs: read },
      { apiGroups: [GATEWAY_GROUP], resources: ['gateways/status', 'httproutes/status', 'grpcroutes/status', 'backendtlspolicies/status'], verbs: ['update'] },
    ],
  };
  const roleRef = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: saName, namespace: saNamespace } },
    cluster,
    namespaced,
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: prefix }, roleRef: roleRef(prefix), subjects: [subject] },
    ...watch.map((ns) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: prefix, namespace: ns },
      roleRef: roleRef(`${prefix}-routes`), subjects: [subject],
    })),
  ];
}

// Traefik's command line: the kubernetesgateway provider only, pointed at the API server with a
// bearer token and CA file; one HTTP entrypoint the Gateway's listener maps to (by port), a ping
// entrypoint for readiness; no version check or usage report (no traffic leaves the sandbox).
export function traefikArgs(o: {
  server: string; tokenFile: string; caFile: string; namespaces: string[]; host: string; port: number; pingPort: number;
}): string[] {
  return [
    '--global.checknewversion=false', '--global.sendanonymoususage=false',
    `--entrypoints.web.address=${o.host}:${o.port}`,
    `--entrypoints.ping.address=127.0.0.1:${o.pingPort}`, '--ping=true', '--ping.entrypoint=ping',
    '--providers.kubernetesgateway=true',
    `--providers.kubernetesgateway.endpoint=${o.server}`,
    `--providers.kubernetesgateway.token=${o.tokenFile}`,
    `--providers.kubernetesgateway.certauthfilepath=${o.caFile}`,
    `--providers.kubernetesgateway.namespaces=${o.namespaces.join(',')}`,
    `--providers.kubernetesgateway.statusaddress.ip=${o.host}`,
    // Traefik's defaults otherwise, as an install has them: a new configuration (a route, an
    // EndpointSlice change) reaches the data plane up to providersThrottleDuration (2s) after the
    // event, and route status is written before that, so Accepted does not yet mean routed.
    '--log.level=INFO', '--log.nocolor=true', '--accesslog=false',
  ];
}

// Everything up to a Gateway that Traefik has Accepted and Programmed: CRDs, RBAC, a token for
// Traefik's ServiceAccount, the Traefik process, the GatewayClass and the Gateway.
export async function startGateway(opts: GatewayOptions): Promise<SandboxGateway> {
  const kc = opts.kubeConfig;
  const namespace = opts.namespace ?? 'default';
  const watch = opts.watchNamespaces ?? [namespace];
  if (!watch.includes(namespace)) throw new Error(`watchNamespaces must include the Gateway's namespace ${namespace}`);
  const gatewayName = opts.gatewayName ?? 'graft';
  const className = opts.className ?? 'traefik';
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const saName = 'traefik';

  await installGatewayApiCrds(kc, opts.crdsDir);
  for (const o of traefikRbac(namespace, saName, watch)) await apply(kc, objectPath(o), o);

  await mkdir(opts.dir, { recursive: true });
  const tokenFile = join(opts.dir, 'token'), caFile = join(opts.dir, 'ca.crt');
  await writeFile(tokenFile, await serviceAccountToken(kc, namespace, saName), { mode: 0o600 });
  await writeFile(caFile, await clusterCa(kc));
  const cluster = kc.getCurrentCluster()!;
  const pingPort = await freePort();
  const args = traefikArgs({ server: cluster.server, tokenFile, caFile, namespaces: watch, host, port, pingPort });
  // Traefik prefers in-cluster settings and $KUBECONFIG over its flags: neither may reach it.
  const env = { KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined, KUBERNETES_SERVICE_PORT: undefined, HOME: opts.dir };
  const proc = new Proc('traefik', opts.traefikBinary, args, { env, cwd: opts.dir, verbose: opts.verbose });
  const gw = new SandboxGateway(proc, `http://${host}:${port}`, { namespace, name: gatewayName, sectionName: 'http' }, className);
  try {
    await waitFor('traefik /ping', async () => {
      if (!proc.running) throw new Error(`traefik exited:\n${proc.output.slice(-3000)}`);
      return (await fetch(`http://127.0.0.1:${pingPort}/ping`)).ok;
    }, 30_000, 100);
    await apply(kc, `${GW}/gatewayclasses/${className}`, {
      apiVersion: `${GATEWAY_GROUP}/v1`, kind: 'GatewayClass', metadata: { name: className },
      spec: { controllerName: TRAEFIK_CONTROLLER },
    });
    await apply(kc, `${GW}/namespaces/${namespace}/gateways/${gatewayName}`, {
      apiVersion: `${GATEWAY_GROUP}/v1`, kind: 'Gateway', metadata: { name: gatewayName, namespace },
      spec: {
        gatewayClassName: className,
        listeners: [{ name: 'http', protocol: 'HTTP', port, allowedRoutes: { namespaces: { from: 'All' } } }],
      },
    });
    await waitGatewayProgrammed(kc, namespace, gatewayName);
  } catch (err) {
    await proc.stop(2_000);
    throw new Error(`${(err as Error).message}\n--- traefik\n${proc.output.slice(-4000)}`);
  }
  return gw;
}

// Accepted and Programmed for the Gateway's current generation, its listener Programmed too.
export async function waitGatewayProgrammed(kc: KubeConfig, namespace: string, name: string, timeoutMs = 60_000): Promise<Obj> {
  let last: Obj | undefined;
  await waitFor(`Gateway ${namespace}/${name} Accepted and Programmed`, async () => {
    last = (await rawRequest(kc, 'GET', `${GW}/namespaces/${namespace}/gateways/${name}`)).body as Obj;
    const gen = last.metadata?.generation;
    const ok = (c: Obj[] | undefined, type: string) => (c ?? []).some((x) => x.type === type && x.status === 'True' && (x.observedGeneration === undefined || x.observedGeneration === gen));
    const conds = last.status?.conditions as Obj[] | undefined;
    const listeners = (last.status?.listeners ?? []) as Obj[];
    return ok(conds, 'Accepted') && ok(conds, 'Programmed') && listeners.length > 0 && listeners.every((l) => ok(l.conditions, 'Programmed'));
  }, timeoutMs, 200).catch((err: Error) => { throw new Error(`${err.message}\nlast status: ${JSON.stringify(last?.status)}`); });
  return last!;
}

async function apply(kc: KubeConfig, path: string, body: Obj): Promise<void> {
  const res = await rawRequest(kc, 'PATCH', `${path}?fieldManager=${FIELD_MANAGER}&force=true`, body, 'application/apply-patch+yaml');
  if (res.status >= 300) throw new Error(`applying ${body.kind} ${body.metadata?.name}: HTTP ${res.status}: ${res.text.slice(0, 500)}`);
}

function objectPath(o: Obj): string {
  const ns = o.metadata.namespace as string | undefined;
  const [group, version] = (o.apiVersion as string).includes('/') ? (o.apiVersion as string).split('/') : ['', o.apiVersion as string];
  const plural = `${(o.kind as string).toLowerCase()}s`; // ServiceAccount, ClusterRole(Binding), RoleBinding
  return `${group ? `/apis/${group}/${version}` : `/api/${version}`}${ns ? `/namespaces/${ns}` : ''}/${plural}/${o.metadata.name}`;
}

async function serviceAccountToken(kc: KubeConfig, ns: string, sa: string): Promise<string> {
  const res = await rawRequest(kc, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS },
  });
  const token = (res.body as Obj)?.status?.token as string | undefined;
  if (res.status !== 201 || !token) throw new Error(`token for ServiceAccount ${ns}/${sa}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  return token;
}

async function clusterCa(kc: KubeConfig): Promise<Buffer> {
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData) return Buffer.from(cluster.caData, 'base64');
  if (cluster?.caFile) return readFile(cluster.caFile);
  throw new Error('the sandbox kubeconfig names no CA for its API server');
}
