// bench/scale (`make bench-scale`): 1000 Adapters with replicas 2 on 20 serving pods in the
// sandbox (real control plane, KWOK, versitygw, an agent and a simulator per pod, the compiled
// operator). Prints figures; asserts nothing. Environment: ADAPTERS (1000), PODS (20), QUIET_S (60).
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../../src/sandbox/wait.js';
import { Limiter } from '../../src/util/limiter.js';
import { requestsByMethod } from '../../test/support/operator.js';
import { startSandbox } from '../../test/support/sandbox.js';
import { measureWriteFloor } from './write-floor.js';
import { adapterReady } from '../common/graft-shape.js';
import { procStats } from '../common/proc-stats.js';
import { delta as requestDelta } from '../common/requests.js';
import { pct } from '../common/stats.js';
import { tinyAdapter } from '../common/tiny-adapter.js';

type Obj = Record<string, any>;
const ADAPTERS = Number(process.env.ADAPTERS ?? 1000);
const PODS = Number(process.env.PODS ?? 20);
const QUIET_S = Number(process.env.QUIET_S ?? 60);
const NS = 'default';
const say = (s: string) => process.stdout.write(`${s}\n`);

// The helpers bench/peers shares: bench/common (tinyAdapter: a few-kB gpt2 LoRA per seed).
const ready = adapterReady;

// Routing's writes (graft_routing_writes_total{kind,outcome}) and every write by resource
// (graft_kube_requests_total), from the operator's metrics.
function counters(metricsText: string, name: string, labels: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const key = labels.map((l) => new RegExp(`${l}="([^"]*)"`).exec(line)?.[1] ?? '').join(' ');
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}
const routingWrites = (m: string) => counters(m, 'graft_routing_writes_total', ['kind', 'outcome']);
const delta = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys({ ...a, ...b }).sort().map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]).filter(([, v]) => v !== 0));
const sum = (o: Record<string, number>) => Object.values(o).reduce((n, v) => n + v, 0);

async function main(): Promise<void> {
  const gpus = 8;
  const nodes = Array.from({ length: Math.ceil(PODS / gpus) }, (_, i) => ({ name: `gpu-node-${i + 1}`, podCIDR: `10.244.${i + 1}.0/24`, gpus }));
  say(`scale: starting the sandbox (${nodes.length} KWOK nodes)`);
  const sb = await startSandbox({ graft: 'compiled', nodes });
  try {
    say(`scale: uploading ${ADAPTERS} small adapters`);
    const s3 = sb.gw.client();
    const lim = new Limiter(16);
    await Promise.all(Array.from({ length: ADAPTERS }, async (_, i) => {
      await lim.acquire();
      try {
        for (const [f, body] of tinyAdapter(i)) await s3.send(new PutObjectCommand({ Bucket: 'adapters', Key: `bench/a-${i}/${f}`, Body: body }));
      } finally { lim.release(); }
    }));
    s3.destroy();

    const maxPerPod = Math.ceil((ADAPTERS * 2) / PODS) + 8;
    const bm = {
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'gpt2' },
      spec: {
        model: { source: { uri: 'gpt2' } }, replicas: PODS, resources: { limits: { 'nvidia.com/gpu': 1 } },
        adapters: { maxPerPod, maxRank: 16 },
        storage: { s3: { endpoint: sb.gw.endpoint, forcePathStyle: true, credentialsSecretRef: { name: 's3-creds' } } },
      },
    };
    const r = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels`, bm);
    if (r.status !== 201) throw new Error(r.text);
    say(`scale: waiting for ${PODS} serving pods with their agents`);
    await waitFor('pods', async () => [...sb.runner.pods.values()].length === PODS, 180_000, 500);
    await sb.runner.waitHealthy(180_000);
    await waitFor('BaseModel Ready', async () => ready((await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels/gpt2`)).body as Obj), 120_000, 500);

    const opPid = sb.operator.proc.child.pid!;
    const cpuBefore = procStats(opPid).cpuS;
    const reqBefore = requestsByMethod(await sb.operator.metrics());
    const routingBefore = routingWrites(await sb.operator.metrics());
    say(`scale: applying ${ADAPTERS} Adapters (replicas 2)`);
    const t0 = Date.now();
    const created = new Map<string, number>();
    await Promise.all(Array.from({ length: ADAPTERS }, async (_, i) => {
      await lim.acquire();
      try {
        const name = `a-${i}`;
        const res = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters`, {
          apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name }, spec: { baseModel: 'gpt2', source: { uri: `s3://adapters/bench/a-${i}/` }, replicas: 2 },
        });
        if (res.status !== 201) throw new Error(res.text);
        created.set(name, Date.now());
      } finally { lim.release(); }
    }));
    say(`scale: applied in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting for Ready`);
    const readyAt = new Map<string, number>();
    let peakMb = 0, lastPrint = 0;
    await waitFor('every Adapter Ready', async () => {
      const list = ((await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters`)).body as Obj).items as Obj[];
      const now = Date.now();
      for (const a of list) if (!readyAt.has(a.metadata.name) && ready(a)) readyAt.set(a.metadata.name, now);
      peakMb = Math.max(peakMb, procStats(opPid).peakMb);
      if (now - lastPrint > 5000) { say(`scale: [${((now - t0) / 1000).toFixed(0)} s] ${readyAt.size}/${ADAPTERS} Ready`); lastPrint = now; }
      return readyAt.size === ADAPTERS;
    }, 600_000, 250);
    const allReadyS = (Math.max(...readyAt.values()) - t0) / 1000;
    const perAdapter = [...readyAt].map(([n, t]) => (t - created.get(n)!) / 1000);
    const afterConverge = procStats(opPid);
    const reqAfter = requestsByMethod(await sb.operator.metrics());
    const byVerb = requestDelta(reqBefore, reqAfter);
    say(`scale: all Ready in ${allReadyS.toFixed(1)} s; per adapter p50 ${pct(perAdapter, 50).toFixed(2)} s, p99 ${pct(perAdapter, 99).toFixed(2)} s`);
    say(`scale: operator CPU ${(afterConverge.cpuS - cpuBefore).toFixed(1)} s, peak RSS ${Math.max(peakMb, afterConverge.peakMb).toFixed(0)} MB; API requests by verb ${JSON.stringify(byVerb)}`);
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
    const routingS = (Date.now() - t0) / 1000;
    say(`scale: routing converged ${routingS.toFixed(1)} s after the Adapters were applied (${(routingS - allReadyS).toFixed(1)} s after all were Ready)`);
    const routingConverge = delta(routingBefore, routingWrites(await sb.operator.metrics()));
    const adapters = ((await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters`)).body as Obj).items as Obj[];
    const loadedPlacements = adapters.reduce((n, a) => n + ((a.status?.placements ?? []) as Obj[]).filter((p) => p.state === 'Loaded').length, 0);
    const sliceUpdates = routingConverge['EndpointSlice updated'] ?? 0;
    const sliceWrites = sliceUpdates + (routingConverge['EndpointSlice created'] ?? 0);
    say(`scale: routing while converging: ${JSON.stringify(routingConverge)}; EndpointSlice writes (creates and updates) ${sliceWrites} for ${loadedPlacements} Loaded placements (${(sliceWrites / Math.max(1, loadedPlacements)).toFixed(2)} per placement, ${(sliceWrites / ADAPTERS).toFixed(2)} per adapter)`);

    say(`scale: one quiet minute (${QUIET_S} s)`);
    await new Promise((res) => setTimeout(res, 5_000));
    const q0 = requestsByMethod(await sb.operator.metrics());
    const r0 = routingWrites(await sb.operator.metrics());
    await new Promise((res) => setTimeout(res, QUIET_S * 1000));
    const q1 = requestsByMethod(await sb.operator.metrics());
    const r1 = routingWrites(await sb.operator.metrics());
    const quietWrites = ['POST', 'PUT', 'PATCH', 'DELETE'].reduce((n, m) => n + (q1[m] ?? 0) - (q0[m] ?? 0), 0);
    const quietReads = (q1.GET ?? 0) - (q0.GET ?? 0);
    const quietRouting = sum(delta(r0, r1));
    const peak = Math.max(peakMb, procStats(opPid).peakMb);
    say(`scale: quiet ${QUIET_S} s: ${quietWrites} writes (routing: ${quietRouting}), ${quietReads} reads`);

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
        const n = delta(before, routingWrites(await sb.operator.metrics()))['EndpointSlice updated'] ?? 0;
        if (n !== last) { last = n; stableSince = Date.now(); }
      }
      const d = delta(before, routingWrites(await sb.operator.metrics()));
      say(`scale: routing after pod ${victim} turned ${ready ? 'Ready' : 'NotReady'}: ${JSON.stringify(d)} for ${affected} adapters Loaded there (target: ${affected} EndpointSlice updates)`);
    }
    say(`scale: adapters=${ADAPTERS} pods=${PODS} all_ready_s=${allReadyS.toFixed(1)} p50_s=${pct(perAdapter, 50).toFixed(2)} p99_s=${pct(perAdapter, 99).toFixed(2)} quiet_writes=${quietWrites} routing_creates=${(routingConverge['Service created'] ?? 0) + (routingConverge['EndpointSlice created'] ?? 0)} routing_converged_s=${routingS.toFixed(1)} slice_writes_per_placement=${(sliceWrites / Math.max(1, loadedPlacements)).toFixed(2)} quiet_routing_writes=${quietRouting} peak_rss_mb=${peak.toFixed(0)}`);
    // The same writes from a plain client (write-floor.ts; stops the operator).
    const sample = (await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters/a-0`)).body as Obj;
    const floor = await measureWriteFloor(sb, { byVerb, adapters: ADAPTERS, sampleStatus: sample.status });
    say(`scale: write floor: ${floor.writes} writes ${JSON.stringify(floor.byVerb)} in ${floor.seconds.toFixed(1)} s; write_floor_s=${floor.seconds.toFixed(1)} ratio_to_write_floor=${(allReadyS / floor.seconds).toFixed(2)}`);
  } finally {
    await sb.stop();
  }
}

main().then(() => process.exit(0), (err) => { process.stderr.write(`bench-scale failed: ${err instanceof Error ? err.stack : String(err)}\n`); process.exit(1); });
