import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, type GatewayOptions, type SandboxGateway } from '../../src/sandbox/gateway.js';
import type { ControlPlane } from './control-plane.js';
import { toolPath } from './tools.js';

export type { SandboxGateway };
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

// The Gateway API CRDs folder: GRAFT_CRDS_GATEWAY_API when `hack/tools.sh env` exported it, else
// hack/tools.sh (which copies them from the module cache when missing).
export function gatewayApiCrds(): string {
  return process.env.GRAFT_CRDS_GATEWAY_API
    ?? execFileSync(`${repoRoot}/hack/tools.sh`, ['path', 'gateway-api-crds'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

// Traefik as the sandbox's Gateway, with its files in a folder of its own.
export async function startSandboxGateway(cp: Pick<ControlPlane, 'kubeConfig'>, opts: Partial<GatewayOptions> = {}): Promise<SandboxGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'graft-gateway-'));
  const gw = await startGateway({
    kubeConfig: cp.kubeConfig, traefikBinary: toolPath('traefik'), crdsDir: gatewayApiCrds(),
    dir, verbose: !!process.env.GRAFT_TEST_VERBOSE, ...opts,
  }).catch(async (err) => { await rm(dir, { recursive: true, force: true }); throw err; });
  const stop = gw.stop.bind(gw);
  gw.stop = async () => { await stop(); await rm(dir, { recursive: true, force: true }); };
  return gw;
}
