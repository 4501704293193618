import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export type Tool =
  | 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubectl'
  | 'kwok' | 'versitygw' | 'llm-d-inference-sim' | 's5cmd' | 'helm' | 'traefik';

// The path of a pinned local tool: GRAFT_BIN_<NAME> when `make` exported it, else hack/tools.sh
// (which builds it into the cache when missing).
export function toolPath(tool: Tool): string {
  const env = process.env[`GRAFT_BIN_${tool.toUpperCase().replace(/-/g, '_')}`];
  if (env) return env;
  return execFileSync(`${repoRoot}/hack/tools.sh`, ['path', tool], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}
