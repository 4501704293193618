import { join } from 'node:path';
import { freePort, waitFor } from './ports.js';
import { Proc } from './process.js';
import { graftCommand } from '../../src/sandbox/pod-runner.js';

export type OperatorProc = {
  proc: Proc;
  metricsUrl: string;
  healthUrl: string;
  metrics(): Promise<string>;
  stop(): Promise<void>;
};

const repoRoot = join(import.meta.dirname, '..', '..');

// `graft operator` as a separate process, as it runs in a cluster, against a test control plane.
// nodeArgs go to node itself (a benchmark's --cpu-prof, which NODE_OPTIONS does not take).
export async function startOperator(kubeconfig: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, from: 'source' | 'compiled' = 'source', nodeArgs: string[] = []): Promise<OperatorProc> {
  const metricsPort = await freePort(), healthPort = await freePort();
  const [cmd, ...pre] = graftCommand(repoRoot, from);
  const proc = new Proc('operator', cmd, [
    ...nodeArgs, ...pre, 'operator', '--kubeconfig', kubeconfig,
    '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', `127.0.0.1:${healthPort}`,
    ...args,
  ], { env: { GRAFT_LOG_LEVEL: 'info', ...env } });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  await waitFor('the operator to be ready', async () => {
    if (!proc.running) throw new Error(`operator exited:\n${proc.output.slice(-4000)}`);
    return (await fetch(`${healthUrl}/readyz`)).ok;
  }, 60_000, 200);
  return {
    proc, metricsUrl, healthUrl,
    metrics: async () => (await fetch(metricsUrl)).text(),
    stop: () => proc.stop(15_000),
  };
}

// rest_client_requests_total summed by method, from a Prometheus text exposition.
export function requestsByMethod(metricsText: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('rest_client_requests_total{')) continue;
    const method = /method="([A-Z]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (method) out[method] = (out[method] ?? 0) + value;
  }
  return out;
}
