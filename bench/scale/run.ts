// bench/scale (`make bench-scale`): 1000 Adapters with replicas 2 on 20 serving pods in the
// sandbox (real control plane, KWOK, versitygw, an agent and a simulator per pod, the compiled
// operator), measured as bench-peers measures Graft (bench/common/graft-shape.ts), then routing's
// convergence, one pod flipping NotReady and back, and the write floor. Prints figures; asserts
// nothing. Environment: ADAPTERS (1000), PODS (20), QUIET_S (60), TRACE (a file).
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../../src/sandbox/wait.js';
import { startSandbox } from '../../test/support/sandbox.js';
import { measureWriteFloor } from './write-floor.js';
import { changed, counters } from '../common/counters.js';
import { runGraftShape } from '../common/graft-shape.js';
import { loadAverage } from '../common/proc-stats.js';

type Obj = Record<string, any>;
const ADAPTERS = Number(process.env.ADAPTERS ?? 1000);
const PODS = Number(process.env.PODS ?? 20);
const QUIET_S = Number(process.env.QUIET_S ?? 60);
const NS = 'default';
const say = (s: string) => process.stdout.write(`${s}\n`);

// Routing's writes (graft_routing_writes_total{kind,outcome}), from the operator's metrics.
const routingWrites = (m: string) => counters(m, 'graft_routing_writes_total', ['kind', 'outcome']);

async function main(): Promise<void> {
  const gpus = 8;
  const nodes = Array.from({ length: Math.ceil(PODS / gpus) }, (_, i) => ({ name: `gpu-node-${i + 1}`, podCIDR: `10.244.${i + 1}.0/24`, gpus }));
  say(`scale: starting the sandbox (${nodes.length} KWOK nodes); load ${loadAverage()}`);
  const sb = await startSandbox({ graft: 'compiled', nodes });
  try {
    const routingBefore = routingWrites(await sb.operator.metrics());
    // Upload, BaseModel, Adapters and readiness as bench-peers measures Graft (bench/common/graft-shape.ts).
    const g = await runGraftShape(sb, { adapters: ADAPTERS, pods: PODS, quietS: QUIET_S, ns: NS, trace: process.env.TRACE, say: (l) => say(l.replace(/^graft:/, 'scale:')) });
    const allReadyS = g.allReadyS, byVerb = g.requests;
    say(`scale: all Ready in ${allReadyS.toFixed(1)} s; per adapter p50 ${g.p50S.toFixed(2)} s, p99 ${g.p99S.toFixed(2)} s`);
    say(`scale: operator CPU ${g.operatorCpuS.toFixed(1)} s (${((g.operatorCpuS * 1000) / ADAPTERS).toFixed(1)} ms per adapter), agents ${g.agentsCpuS.toFixed(1)} s, API server and etcd ${g.apiserverCpuS.toFixed(1)} s; `
      + `operator RSS ${g.rssBeforeMb.toFixed(0)} MB before, ${g.rssAfterMb.toFixed(0)} MB after (${(((g.rssAfterMb - g.rssBeforeMb) * 1024) / ADAPTERS).toFixed(1)} kB per adapter), peak ${g.peakRssMb.toFixed(0)} MB; `
      + `API requests by verb ${JSON.stringify(byVerb)}, writes by resource ${JSON.stringify(g.writesByResource)}`);
    say(`scale: settled ${g.settleS.toFixed(0)} s after the last Ready (${g.settleWrites} writes); quiet ${QUIET_S} s: ${g.quietWrites} writes ${JSON.stringify(g.quietByResource)}, ${g.quietReads} reads`);
    // Routing's share: a Service and an EndpointSlice created per Adapter, then one slice update
    // per change of the pods serving it (replicas 2: at most 2 per adapter while converging, one
    // per placement that became Loaded, fewer when both copies load between two passes, none when
    // the slice is created after they loaded). Routing has converged when every Adapter's slice
    // lists its 2 pods.
    let slicesDone = 0;
    await waitFor('every EndpointSlice listing 2 pods', async () => {
      const items = ((await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=app.kubernetes.io/component%3Drouting`)).body as Obj).items as Obj[];
      slicesDone = items.filter((x) => (x.endpoints ?? []).length === 2).length;
      return slicesDone === ADAPTERS;
    }, 600_000, 1_000).catch((err: Error) => say(`scale: ${err.message} (${slicesDone} of ${ADAPTERS} done)`));
    // Routing has caught up when the operator stops writing (the settle before the quiet minute);
    // the slices were checked above.
    const routingS = allReadyS + g.settleS;
    say(`scale: routing converged ${routingS.toFixed(1)} s after the Adapters were applied (${g.settleS.toFixed(1)} s after all were Ready)`);
    const routingConverge = changed(routingBefore, routingWrites(await sb.operator.metrics()));
    const adapters = ((await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters`)).body as Obj).items as Obj[];
    const loadedPlacements = adapters.reduce((n, a) => n + ((a.status?.placements ?? []) as Obj[]).filter((p) => p.state === 'Loaded').length, 0);
    const sliceUpdates = routingConverge['EndpointSlice updated'] ?? 0;
    const sliceWrites = sliceUpdates + (routingConverge['EndpointSlice created'] ?? 0);
    say(`scale: routing while converging: ${JSON.stringify(routingConverge)}; EndpointSlice writes (creates and updates) ${sliceWrites} for ${loadedPlacements} Loaded placements (${(sliceWrites / Math.max(1, loadedPlacements)).toFixed(2)} per placement, ${(sliceWrites / ADAPTERS).toFixed(2)} per adapter)`);

    // One placement change on purpose: a serving pod turns NotReady, then Ready again. Every adapter
    // placed there loses that pod from its EndpointSlice and gets it back: one write each, each way.
    const victim = [...sb.runner.pods.values()].filter((p) => p.baseModel === 'gpt2').map((p) => p.key.split('/')[1]!).sort()[0]!;
    const affected = adapters.filter((a) => ((a.status?.placements ?? []) as Obj[]).some((p) => p.pod === victim && p.state === 'Loaded')).length;
    const setReady = async (ready: boolean) => {
      const res = await rawRequest(sb.cp.kubeConfig, 'PATCH', `/api/v1/namespaces/${NS}/pods/${victim}/status`, {
        status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? '' : 'ContainersNotReady', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] },
      }, 'application/strategic-merge-patch+json');
      if (res.status !== 200) throw new Error(res.text);
    };
    for (const ready of [false, true]) {
      const before = routingWrites(await sb.operator.metrics());
      const t1 = Date.now();
      await setReady(ready);
      // Until the updates stop coming (no new one for 3 s), at most 60 s.
      let last = -1, stableSince = Date.now();
      while (Date.now() - t1 < 60_000 && Date.now() - stableSince < 3_000) {
        await new Promise((res) => setTimeout(res, 250));
        const n = changed(before, routingWrites(await sb.operator.metrics()))['EndpointSlice updated'] ?? 0;
        if (n !== last) { last = n; stableSince = Date.now(); }
      }
      const d = changed(before, routingWrites(await sb.operator.metrics()));
      say(`scale: routing after pod ${victim} turned ${ready ? 'Ready' : 'NotReady'}: ${JSON.stringify(d)} for ${affected} adapters Loaded there (target: ${affected} EndpointSlice updates)`);
    }
    say(`scale: adapters=${ADAPTERS} pods=${PODS} all_ready_s=${allReadyS.toFixed(1)} p50_s=${g.p50S.toFixed(2)} p99_s=${g.p99S.toFixed(2)} quiet_writes=${g.quietWrites} routing_creates=${(routingConverge['Service created'] ?? 0) + (routingConverge['EndpointSlice created'] ?? 0)} routing_converged_s=${routingS.toFixed(1)} slice_writes_per_placement=${(sliceWrites / Math.max(1, loadedPlacements)).toFixed(2)} operator_cpu_ms_per_adapter=${((g.operatorCpuS * 1000) / ADAPTERS).toFixed(1)} operator_kb_per_adapter=${(((g.rssAfterMb - g.rssBeforeMb) * 1024) / ADAPTERS).toFixed(1)} peak_rss_mb=${g.peakRssMb.toFixed(0)}`);
    // The same writes from a plain client (write-floor.ts; stops the operator).
    const sample = (await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters/a-0`)).body as Obj;
    const floor = await measureWriteFloor(sb, { byVerb, adapters: ADAPTERS, sampleStatus: sample.status });
    say(`scale: write floor: ${floor.creates} Adapter creates and the operator's ${floor.writes} writes ${JSON.stringify(floor.byVerb)} in ${floor.seconds.toFixed(1)} s (the operator's alone ${floor.operatorSeconds.toFixed(1)} s, ratio ${(allReadyS / floor.operatorSeconds).toFixed(2)}); write_floor_s=${floor.seconds.toFixed(1)} ratio_to_write_floor=${(allReadyS / floor.seconds).toFixed(2)}`);
  } finally {
    await sb.stop();
  }
}

main().then(() => process.exit(0), (err) => { process.stderr.write(`bench-scale failed: ${err instanceof Error ? err.stack : String(err)}\n`); process.exit(1); });
