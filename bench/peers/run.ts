// bench/peers (`make bench-peers`): Graft beside AIBrix v0.6.0's ModelAdapter controller, one after
// the other in one sandbox (real control plane, KWOK nodes, pods in network namespaces of their
// own, llm-d-inference-sim as every engine), on the same shape: ADAPTERS adapters (1000), each on
// 2 of PODS pods (20), so ADAPTERS × 2 loads. AIBrix runs first (its pods, its CRD, its controller
// built by `hack/tools.sh aibrix`), is stopped and its pods removed, then Graft (compiled, as it
// ships) runs bench/scale's workload. Prints figures; asserts nothing. What each side does per
// adapter: docs/benchmarks.md. Environment: ADAPTERS, PODS (even), QUIET_S (60), SIDES (aibrix,graft:
// one of them alone, for a trace or a quick look), TRACE (a file: Graft's run traced, bench/common/trace.ts).
import { loadAverage } from '../common/proc-stats.js';
import { runGraftShape } from '../common/graft-shape.js';
import { startSandbox } from '../../test/support/sandbox.js';
import { aibrixTools, runAibrixShape } from './aibrix.js';

const ADAPTERS = Number(process.env.ADAPTERS ?? 1000);
const PODS = Number(process.env.PODS ?? 20);
const QUIET_S = Number(process.env.QUIET_S ?? 60);
const say = (s: string) => process.stdout.write(`${s}\n`);
const SIDES = (process.env.SIDES ?? 'aibrix,graft').split(',');
for (const side of SIDES) if (side !== 'aibrix' && side !== 'graft') throw new Error(`SIDES: unknown side "${side}"; pick from aibrix, graft`);

async function main(): Promise<void> {
  const tools = SIDES.includes('aibrix') ? aibrixTools() : undefined;
  const gpus = 8;
  // Room for both sides' pods: AIBrix's are deleted before Graft's start, but may still be going.
  const nodes = Array.from({ length: Math.ceil((2 * PODS) / gpus) }, (_, i) => ({ name: `gpu-node-${i + 1}`, podCIDR: `10.244.${i + 1}.0/24`, gpus }));
  say(`peers: starting the sandbox (${nodes.length} KWOK nodes); load ${loadAverage()}`);
  // PROFILE=<dir>: the operator writes a V8 CPU profile there when it stops.
  const operatorNodeArgs = process.env.PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE}`] : [];
  const sb = await startSandbox({ graft: 'compiled', nodes, operatorNodeArgs });
  try {
    const a = tools && await runAibrixShape(sb, tools, { adapters: ADAPTERS, pods: PODS, quietS: QUIET_S, say });
    if (a) {
      say(`aibrix: all Ready on 2 pods in ${a.allReadyS.toFixed(1)} s; per adapter p50 ${a.p50S.toFixed(2)} s, p99 ${a.p99S.toFixed(2)} s; controller CPU ${a.controllerCpuS.toFixed(1)} s, API server and etcd CPU ${a.apiserverCpuS.toFixed(1)} s, peak RSS ${a.peakRssMb.toFixed(0)} MB; `
        + `adapters the simulators serve ${a.loadsSeen}; API requests by verb ${JSON.stringify(a.requests)}; settled after ${a.settleS.toFixed(0)} s; quiet ${QUIET_S} s: ${a.quietWrites} writes, ${a.quietReads} reads; load ${loadAverage()}`);
    }
    const g = SIDES.includes('graft') ? await runGraftShape(sb, { adapters: ADAPTERS, pods: PODS, quietS: QUIET_S, trace: process.env.TRACE, say }) : undefined;
    if (g) {
      say(`graft: all Ready in ${g.allReadyS.toFixed(1)} s; per adapter p50 ${g.p50S.toFixed(2)} s, p99 ${g.p99S.toFixed(2)} s; operator CPU ${g.operatorCpuS.toFixed(1)} s, agents CPU ${g.agentsCpuS.toFixed(1)} s, API server and etcd CPU ${g.apiserverCpuS.toFixed(1)} s, peak RSS ${g.peakRssMb.toFixed(0)} MB; `
        + `API requests by verb ${JSON.stringify(g.requests)}, writes by resource ${JSON.stringify(g.writesByResource)}; settled ${g.settleS.toFixed(0)} s after the last Ready (${g.settleWrites} writes); quiet ${QUIET_S} s: ${g.quietWrites} writes ${JSON.stringify(g.quietByResource)}, ${g.quietReads} reads; passes ${JSON.stringify(g.reconciles)}; load ${loadAverage()}`);
    }
    if (a && g) {
      say(`peers: adapters=${ADAPTERS} loads=${ADAPTERS * 2} graft_s=${g.allReadyS.toFixed(1)} aibrix_s=${a.allReadyS.toFixed(1)} ratio=${(g.allReadyS / a.allReadyS).toFixed(2)} `
        + `graft_cpu_s=${g.operatorCpuS.toFixed(1)} aibrix_cpu_s=${a.controllerCpuS.toFixed(1)} graft_quiet_writes=${g.quietWrites} aibrix_quiet_writes=${a.quietWrites} `
        + `graft_apiserver_cpu_s=${g.apiserverCpuS.toFixed(1)} aibrix_apiserver_cpu_s=${a.apiserverCpuS.toFixed(1)} graft_agents_cpu_s=${g.agentsCpuS.toFixed(1)}`);
    }
  } finally {
    await sb.stop();
  }
}

main().then(() => process.exit(0), (err) => { process.stderr.write(`bench-peers failed: ${err instanceof Error ? err.stack : String(err)}\n`); process.exit(1); });
