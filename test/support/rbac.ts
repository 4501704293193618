import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { rawRequest } from '../../src/sandbox/raw.js';
import type { ControlPlane } from './control-plane.js';

type Obj = Record<string, any>;
const repoRoot = join(import.meta.dirname, '..', '..');

async function must(cp: ControlPlane, method: string, path: string, body?: unknown): Promise<Obj> {
  const r = await rawRequest(cp.kubeConfig, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.text}`);
  return r.body as Obj;
}

// A kubeconfig for a ServiceAccount bound to manifests/rbac/operator.yaml and nothing else: the
// operator's real permissions in a cluster.
export async function operatorServiceAccountKubeconfig(cp: ControlPlane, namespace = 'default', name = 'graft-operator'): Promise<string> {
  for (const doc of parseAllDocuments(readFileSync(join(repoRoot, 'manifests', 'rbac', 'operator.yaml'), 'utf8'))) {
    const o = doc.toJS() as Obj;
    const path = o.kind === 'ClusterRole' ? '/apis/rbac.authorization.k8s.io/v1/clusterroles' : `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`;
    await must(cp, 'POST', path, o);
  }
  await must(cp, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
  const subject = [{ kind: 'ServiceAccount', name, namespace }];
  await must(cp, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'graft-operator' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'graft-operator' }, subjects: subject,
  });
  await must(cp, 'POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'graft-operator-leader-election' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'graft-operator-leader-election' }, subjects: subject,
  });
  const tr = await must(cp, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 },
  });
  const cluster = cp.kubeConfig.getCurrentCluster()!;
  const ca = Buffer.from(readFileSync(join(cp.dir, 'pki', 'ca.crt'))).toString('base64');
  const path = join(cp.dir, 'operator-sa.kubeconfig');
  writeFileSync(path, [
    'apiVersion: v1', 'kind: Config', 'current-context: sa',
    'clusters:', '- name: sandbox', '  cluster:', `    server: ${cluster.server}`, `    certificate-authority-data: ${ca}`,
    'users:', '- name: sa', '  user:', `    token: ${tr.status.token}`,
    'contexts:', '- name: sa', '  context:', '    cluster: sandbox', '    user: sa', `    namespace: ${namespace}`, '',
  ].join('\n'), { mode: 0o600 });
  return path;
}
