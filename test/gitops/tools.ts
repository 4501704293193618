import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from '../support/fixtures-dir.js';

// The GitOps tools hack/tools.sh builds outside the default set: Graft's own lua-health and kstatus
// programs (hack/go/), Flux's controllers, and the directories of Flux's CRDs.
export type GitopsTool = 'lua-health' | 'kstatus' | 'source-controller' | 'kustomize-controller' | 'helm-controller'
  | 'source-controller-crds' | 'kustomize-controller-crds' | 'helm-controller-crds';

// GRAFT_BIN_<NAME> (GRAFT_CRDS_<CONTROLLER> for CRDs) when `source <(hack/tools.sh env)` set it,
// else hack/tools.sh path (which builds it when missing: minutes for the Flux controllers).
export function gitopsTool(tool: GitopsTool): string {
  const crds = tool.endsWith('-crds');
  const base = crds ? tool.slice(0, -'-crds'.length) : tool;
  const env = process.env[`GRAFT_${crds ? 'CRDS' : 'BIN'}_${base.toUpperCase().replace(/-/g, '_')}`];
  if (env) return env;
  return execFileSync(`${REPO_ROOT}/hack/tools.sh`, ['path', tool], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}
