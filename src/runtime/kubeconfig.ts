import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

// Finds the cluster to talk to, in controller-runtime's order: the --kubeconfig flag, then
// $KUBECONFIG, then the pod's service account (in-cluster), then ~/.kube/config. Unlike
// client-node's loadFromDefault it never falls back to http://localhost:8080.

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  source: string;
  /** The namespace of the pod when in-cluster, else the current context's namespace, if any. */
  namespace: string | undefined;
}

export function loadKubeConfig(flag?: string, env: NodeJS.ProcessEnv = process.env): LoadedKubeConfig {
  const kc = new KubeConfig();
  let source: string;
  if (flag) {
    if (!existsSync(flag)) throw new Error(`--kubeconfig: ${flag} does not exist`);
    kc.loadFromFile(flag);
    source = flag;
  } else if (env.KUBECONFIG) {
    kc.loadFromDefault();
    source = `$KUBECONFIG (${env.KUBECONFIG})`;
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_DIR, 'token'))) {
    kc.loadFromCluster();
    source = 'in-cluster service account';
    return { kubeConfig: kc, source, namespace: readNamespace() };
  } else if (existsSync(join(homedir(), '.kube', 'config'))) {
    kc.loadFromFile(join(homedir(), '.kube', 'config'));
    source = '~/.kube/config';
  } else {
    throw new Error('no cluster to talk to: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account');
  }
  if (!kc.getCurrentCluster()) throw new Error(`${source}: the current context names no cluster`);
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return { kubeConfig: kc, source, namespace: ctx?.namespace || undefined };
}

function readNamespace(): string | undefined {
  try {
    return readFileSync(join(SA_DIR, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
