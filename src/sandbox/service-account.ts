// The kubelet's projected service account token, in the sandbox: a pod that mounts its token
// (automountServiceAccountToken not false) gets a token for its ServiceAccount from the TokenRequest
// API, bound to the pod (it stops working when the pod is deleted, as a projected token does), and a
// kubeconfig file with the sandbox API server's address, its CA and that token. The process finds it
// through KUBECONFIG (src/runtime/kubeconfig.ts reads $KUBECONFIG before the in-cluster files): the
// stand-in for /var/run/secrets/kubernetes.io/serviceaccount and KUBERNETES_SERVICE_HOST, which a
// local process cannot have. The context's namespace is the pod's, as the in-cluster namespace file.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { rawRequest } from './raw.js';

type Obj = Record<string, any>;

// The kubelet asks for an hour and renews at 80%; the sandbox's pods live for minutes.
const TOKEN_SECONDS = 3600;

export function mountsToken(pod: Obj): boolean {
  return pod.spec?.automountServiceAccountToken !== false;
}

// Writes <dir>/kubeconfig for the pod's ServiceAccount and returns its path.
export async function serviceAccountKubeconfig(kc: KubeConfig, pod: Obj, dir: string): Promise<string> {
  const ns = pod.metadata.namespace as string;
  // The sandbox's API server runs without the ServiceAccount admission plugin
  // (control-plane.ts), which would have written "default" into a pod that names none; the API
  // server binds a token only to a pod that names the ServiceAccount, so such a pod's is unbound.
  const named = pod.spec?.serviceAccountName as string | undefined;
  const sa = named || 'default';
  const bound = named ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid } } : {};
  const res = await rawRequest(kc, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: { expirationSeconds: TOKEN_SECONDS, ...bound },
  });
  if (res.status !== 201) throw new Error(`token for ServiceAccount ${ns}/${sa}: HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  const token = (res.body as Obj).status?.token as string | undefined;
  if (!token) throw new Error(`token for ServiceAccount ${ns}/${sa}: the answer holds no status.token`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the sandbox kubeconfig has no current cluster');
  const ca = cluster.caData ?? (cluster.caFile ? (await readFile(cluster.caFile)).toString('base64') : undefined);
  if (!ca) throw new Error('the sandbox kubeconfig names no CA for its API server');
  // JSON is YAML: every kubeconfig reader takes it.
  const config = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'in-cluster',
    clusters: [{ name: 'in-cluster', cluster: { server: cluster.server, 'certificate-authority-data': ca } }],
    users: [{ name: `system:serviceaccount:${ns}:${sa}`, user: { token } }],
    contexts: [{ name: 'in-cluster', context: { cluster: 'in-cluster', user: `system:serviceaccount:${ns}:${sa}`, namespace: ns } }],
  };
  const path = join(dir, 'kubeconfig');
  await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
  return path;
}
