import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, type GatewayOptions, type SandboxGateway } from '../../src/sandbox/gateway.js';
import type { ControlPlane } from './control-plane.js';
import { Proc } from '../../src/sandbox/proc.js';
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

// A plain HTTP backend that answers every request with what it saw (its name, the path, the model
// header), on host:port; `wrap` puts it in a pod network namespace (PodNetns.wrap).
export function echoBackend(name: string, host: string, port: number, wrap: (cmd: string, args: string[]) => [string, string[]] = (c, a) => [c, a]): Proc {
  const script = `require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ backend: ${JSON.stringify(name)}, path: req.url, model: req.headers['x-gateway-model-name'] ?? null }));
  }); }).listen(${port}, ${JSON.stringify(host)}, () => console.log('listening'));`;
  const [cmd, args] = wrap(process.execPath, ['-e', script]);
  return new Proc(`echo ${name}`, cmd, args);
}
