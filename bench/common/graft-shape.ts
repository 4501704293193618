// Graft on the scale shape, in a running sandbox: `adapters` small Adapters with replicas 2 on
// `pods` serving pods of one gpt2 BaseModel (an agent and a simulator each), from S3 with digests.
// Measures time from the first create to the last Ready, the operator's and the agents' CPU, and
// the operator's API requests, then its requests in a quiet period. bench/peers runs it beside
// AIBrix; it is the same workload as bench/scale.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../../src/sandbox/wait.js';
import { Limiter } from '../../src/util/limiter.js';
import type { Sandbox } from '../../test/support/sandbox.js';
import { controlPlaneCpuS, cpuSeconds, procStats } from './proc-stats.js';
import { quietRequests, requestCounts, type ByVerb } from './requests.js';
import { AdapterKind } from '../../src/controllers/kinds.js';
import { ReadyWatch } from './ready-watch.js';
import { changed, counters } from './counters.js';
import { pct } from './stats.js';
import { tinyAdapter } from './tiny-adapter.js';
import { ShapeTrace } from './trace.js';

type Obj = Record<string, any>;

export const adapterReady = (o: Obj) => o.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') && o.status.observedGeneration === o.metadata.generation;

export type GraftShapeResult = {
  allReadyS: number; p50S: number; p99S: number;
  operatorCpuS: number; agentsCpuS: number; peakRssMb: number;
  // The operator's resident memory with the BaseModel Ready and no Adapter yet, and once all were Ready.
  rssBeforeMb: number; rssAfterMb: number;
  // kube-apiserver and etcd together, over the same span.
  apiserverCpuS: number;
  requests: ByVerb; quietWrites: number; quietReads: number;
  // How long the operator took to stop writing after the last Ready (at most a minute), and the writes meanwhile.
  settleS: number; settleWrites: number;
  // The quiet period's writes by method and resource (graft_kube_requests_total), when any.
  quietByResource: Record<string, number>;
  // Writes by method and resource until all were Ready.
  writesByResource: Record<string, number>;
  // Passes per controller until all were Ready, by result (controller_runtime_reconcile_total).
  reconciles: Record<string, number>;
};

// trace: a file to write the run's trace to (trace.ts), with its summary printed.
export async function runGraftShape(sb: Sandbox, o: { adapters: number; pods: number; quietS: number; ns?: string; trace?: string; say: (s: string) => void }): Promise<GraftShapeResult> {
  const ns = o.ns ?? 'default', say = o.say;
  const trace = o.trace ? new ShapeTrace() : undefined;
  say(`graft: uploading ${o.adapters} small adapters`);
  const s3 = sb.gw.client();
  const lim = new Limiter(16);
  await Promise.all(Array.from({ length: o.adapters }, async (_, i) => {
    await lim.acquire();
    try {
      for (const [f, body] of tinyAdapter(i)) await s3.send(new PutObjectCommand({ Bucket: 'adapters', Key: `bench/a-${i}/${f}`, Body: body }));
    } finally { lim.release(); }
  }));
  s3.destroy();

  const bm = {
    apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'gpt2' },
    spec: {
      model: { source: { uri: 'gpt2' } }, replicas: o.pods, resources: { limits: { 'nvidia.com/gpu': 1 } },
      adapters: { maxPerPod: Math.ceil((o.adapters * 2) / o.pods) + 8, maxRank: 16 },
      storage: { s3: { endpoint: sb.gw.endpoint, forcePathStyle: true, credentialsSecretRef: { name: 's3-creds' } } },
    },
  };
  const r = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${ns}/basemodels`, bm);
  if (r.status !== 201) throw new Error(r.text);
  say(`graft: waiting for ${o.pods} serving pods with their agents`);
  await waitFor('pods', async () => [...sb.runner.pods.values()].length === o.pods, 180_000, 500);
  await sb.runner.waitHealthy(180_000);
  await waitFor('BaseModel Ready', async () => adapterReady((await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${ns}/basemodels/gpt2`)).body as Obj), 120_000, 500);

  const opPid = sb.operator.proc.child.pid!;
  const agentPids = () => [...sb.runner.pods.values()].map((p) => p.agent.child.pid);
  const opBefore = procStats(opPid);
  const cpuBefore = opBefore.cpuS, agentsBefore = cpuSeconds(agentPids()), apiBefore = controlPlaneCpuS(sb);
  const reqBefore = await requestCounts(sb.operator.metricsUrl);
  const reconcilesBefore = reconcileCounts(await sb.operator.metrics()), writesBefore = writesByResource(await sb.operator.metrics());
  say(`graft: applying ${o.adapters} Adapters (replicas 2)`);
  const t0 = Date.now();
  const created = new Map<string, number>();
  // Watched from the first create on, so an Adapter Ready while others are still applied counts then.
  const watch = new ReadyWatch(sb.cp.kubeConfig, AdapterKind, ns, adapterReady);
  await watch.start();
  const readyAt = watch.readyAt;
  let peakMb = 0, lastPrint = 0;
  const allReady = waitFor('every Adapter Ready', async () => {
    const now = Date.now();
    if (trace) { trace.observe(watch.list(), now, adapterReady); trace.metrics(await sb.operator.metrics(), now); }
    peakMb = Math.max(peakMb, procStats(opPid).peakMb);
    if (now - lastPrint > 5000) { say(`graft: [${((now - t0) / 1000).toFixed(0)} s] ${readyAt.size}/${o.adapters} Ready`); lastPrint = now; }
    return readyAt.size === o.adapters;
  }, 900_000, 250);
  allReady.finally(() => watch.stop()).catch(() => undefined); // awaited below
  await Promise.all(Array.from({ length: o.adapters }, async (_, i) => {
    await lim.acquire();
    try {
      const name = `a-${i}`;
      const res = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${ns}/adapters`, {
        apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name }, spec: { baseModel: 'gpt2', source: { uri: `s3://adapters/bench/a-${i}/` }, replicas: 2 },
      });
      if (res.status !== 201) throw new Error(res.text);
      created.set(name, Date.now());
      trace?.created(name, created.get(name)!);
    } finally { lim.release(); }
  }));
  say(`graft: applied in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting for Ready`);
  await allReady;
  const allReadyS = (Math.max(...readyAt.values()) - t0) / 1000;
  const perAdapter = [...readyAt].map(([n, t]) => (t - created.get(n)!) / 1000);
  const after = procStats(opPid), agentsAfter = cpuSeconds(agentPids()), apiAfter = controlPlaneCpuS(sb);
  const requests = changed(reqBefore, await requestCounts(sb.operator.metricsUrl));
  const metricsAfter = await sb.operator.metrics();
  // KEEP=<dir>: the operator's metrics at the last Ready, and the end of its log, for a closer look.
  if (process.env.KEEP) {
    await writeFile(join(process.env.KEEP, 'operator-metrics.txt'), metricsAfter);
    await writeFile(join(process.env.KEEP, 'operator.log'), sb.operator.proc.output);
  }
  const reconciles = changed(reconcilesBefore, reconcileCounts(metricsAfter));
  const writes = changed(writesBefore, writesByResource(metricsAfter));
  if (trace) {
    for (const line of trace.summary(t0)) say(line);
    await trace.write(o.trace!, t0);
    say(`graft: trace written to ${o.trace}`);
  }
  say(`graft: waiting for the operator to stop writing (at most ${Math.max(60, o.adapters * 0.06).toFixed(0)} s), then quiet ${o.quietS} s`);
  let byResource0: Record<string, number> = {};
  // Routing may still be catching up after the last Ready: up to a minute, or 60 ms an Adapter.
  const quiet = await quietRequests(sb.operator.metricsUrl, o.quietS, async () => { byResource0 = writesByResource(await sb.operator.metrics()); }, 5_000, Math.max(60_000, o.adapters * 60));
  const byResource1 = writesByResource(await sb.operator.metrics());
  const quietByResource = changed(byResource0, byResource1);
  return {
    allReadyS, p50S: pct(perAdapter, 50), p99S: pct(perAdapter, 99),
    rssBeforeMb: opBefore.rssMb, rssAfterMb: after.rssMb,
    operatorCpuS: after.cpuS - cpuBefore, agentsCpuS: agentsAfter - agentsBefore, apiserverCpuS: apiAfter - apiBefore,
    peakRssMb: Math.max(peakMb, after.peakMb, procStats(opPid).peakMb),
    requests, quietWrites: quiet.writes, quietReads: quiet.reads, quietByResource, writesByResource: writes, reconciles, settleS: quiet.settleS, settleWrites: quiet.settleWrites,
  };
}

// The operator's writes by method and resource so far (graft_kube_requests_total), and its
// passes by controller and result (controller_runtime_reconcile_total).
const writesByResource = (m: string) =>
  Object.fromEntries(Object.entries(counters(m, 'graft_kube_requests_total', ['method', 'resource'])).filter(([k]) => !k.startsWith('GET ')));
const reconcileCounts = (m: string) => counters(m, 'controller_runtime_reconcile_total', ['controller', 'result']);
