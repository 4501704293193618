import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_RBAC_NAMES, WATCHED_NAMESPACE_PLACEHOLDER } from '../../src/rbac/manifests.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import type { ControlPlane } from './control-plane.js';
import { toolPath } from './tools.js';

type Obj = Record<string, any>;
const repoRoot = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

async function must(cp: ControlPlane, method: string, path: string, body?: unknown): Promise<Obj> {
  const r = await rawRequest(cp.kubeConfig, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.text}`);
  return r.body as Obj;
}

export async function ensureNamespace(cp: ControlPlane, name: string): Promise<void> {
  const r = await rawRequest(cp.kubeConfig, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`creating namespace ${name}: ${r.text}`);
}

function collection(o: Obj): string {
  const [group, version] = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/') : ['', o.apiVersion];
  const plural = `${String(o.kind).toLowerCase()}s`;
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  return o.metadata?.namespace ? `${base}/namespaces/${o.metadata.namespace}/${plural}` : `${base}/${plural}`;
}

// A committed manifest as docs/rbac.md tells users to apply it: the operator's namespace put in
// place of graft-system, and for namespaced.yaml the watched namespace in place of the placeholder.
export function stampedManifest(file: 'own-namespace' | 'cluster-wide' | 'namespaced', operatorNamespace: string, watched?: string): Obj[] {
  let text = readFileSync(join(repoRoot, 'manifests', 'rbac', `${file}.yaml`), 'utf8')
    .replaceAll(`namespace: ${DEFAULT_RBAC_NAMES.operatorNamespace}`, `namespace: ${operatorNamespace}`);
  if (watched) text = text.replaceAll(WATCHED_NAMESPACE_PLACEHOLDER, watched);
  return parseAllDocuments(text).map((d) => d.toJS() as Obj);
}

export type OperatorRbac = {
  /** The operator's namespace: its ServiceAccount, Lease and master key. */
  operatorNamespace: string;
  /** The namespaces it may watch (namespaced.yaml stamped for each); undefined: cluster-wide.yaml. */
  watched?: string[];
};

/** The ServiceAccount's user name, as `kubectl auth can-i --as` takes it. */
export function operatorUser(rbac: OperatorRbac): string {
  return `system:serviceaccount:${rbac.operatorNamespace}:${DEFAULT_RBAC_NAMES.serviceAccount}`;
}

// A kubeconfig for the operator's ServiceAccount bound to the manifests/rbac/ files and nothing
// else: the operator's real permissions in a cluster.
export async function operatorServiceAccountKubeconfig(cp: ControlPlane, rbac: OperatorRbac): Promise<string> {
  const docs = stampedManifest('own-namespace', rbac.operatorNamespace);
  if (rbac.watched) for (const ns of rbac.watched) docs.push(...stampedManifest('namespaced', rbac.operatorNamespace, ns));
  else docs.push(...stampedManifest('cluster-wide', rbac.operatorNamespace));
  for (const ns of new Set([rbac.operatorNamespace, ...(rbac.watched ?? [])])) await ensureNamespace(cp, ns);
  for (const o of docs) await must(cp, 'POST', collection(o), o);
  const sa = DEFAULT_RBAC_NAMES.serviceAccount;
  const tr = await must(cp, 'POST', `/api/v1/namespaces/${rbac.operatorNamespace}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 },
  });
  const cluster = cp.kubeConfig.getCurrentCluster()!;
  const ca = Buffer.from(readFileSync(join(cp.dir, 'pki', 'ca.crt'))).toString('base64');
  const path = join(cp.dir, 'operator-sa.kubeconfig');
  writeFileSync(path, [
    'apiVersion: v1', 'kind: Config', 'current-context: sa',
    'clusters:', '- name: sandbox', '  cluster:', `    server: ${cluster.server}`, `    certificate-authority-data: ${ca}`,
    'users:', '- name: sa', '  user:', `    token: ${tr.status.token}`,
    'contexts:', '- name: sa', '  context:', '    cluster: sandbox', '    user: sa', `    namespace: ${rbac.operatorNamespace}`, '',
  ].join('\n'), { mode: 0o600 });
  return path;
}

export type CanI = { verb: string; resource: string; subresource?: string; namespace?: string };

// `kubectl auth can-i VERB RESOURCE[/NAME] [--subresource S] (-n NS | -A) --as USER` with the admin kubeconfig: true for
// "yes" (exit 0), false for "no" (exit 1); anything else throws.
export async function canI(cp: ControlPlane, user: string, q: CanI): Promise<boolean> {
  const args = [
    '--kubeconfig', cp.kubeconfigPath, 'auth', 'can-i', q.verb, q.resource, ...(q.subresource ? [`--subresource=${q.subresource}`] : []),
    ...(q.namespace ? ['-n', q.namespace] : ['-A']), '--as', user,
  ];
  try {
    await run(toolPath('kubectl'), args, { encoding: 'utf8' });
    return true;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (e.code === 1 && /^no\b/m.test(e.stdout ?? '')) return false;
    throw new Error(`kubectl ${args.join(' ')}: exit ${e.code}: ${e.stdout}${e.stderr}`);
  }
}

/** `kubectl auth can-i --list -n NS --as USER`: the resource rows (Resources, Resource Names, Verbs). */
export async function canIList(cp: ControlPlane, user: string, namespace: string): Promise<Array<{ resource: string; names: string; verbs: string }>> {
  const { stdout } = await run(toolPath('kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'auth', 'can-i', '--list', '-n', namespace, '--as', user], { encoding: 'utf8' });
  const rows: Array<{ resource: string; names: string; verbs: string }> = [];
  for (const line of stdout.split('\n').slice(1)) {
    // Columns: Resources, Non-Resource URLs, Resource Names, Verbs (split on runs of 2+ spaces).
    const cols = line.trim().split(/\s{2,}/);
    if (cols.length < 4 || !cols[0]) continue;
    rows.push({ resource: cols[0]!, names: cols[2]!, verbs: cols[3]! });
  }
  return rows;
}
