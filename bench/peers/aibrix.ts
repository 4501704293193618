// AIBrix v0.6.0's ModelAdapter controller on the same shape as Graft, in a running sandbox:
// `pods` plain vLLM-shaped pods (an llm-d-inference-sim each, on the pod's own address, port 8000,
// which AIBrix calls unpatched), selected in pairs by label, and `adapters` ModelAdapters with
// replicas unset (v0.6.0 accepts only 1 or unset; unset loads on every pod the selector matches),
// so each adapter is loaded on the two pods of its pair: adapters × 2 loads.
//
// What AIBrix does per adapter (read in pkg/controller/modeladapter of the module): a finalizer,
// status writes (Pending, then Ready with the instances), for each selected pod a GET /v1/models
// and a POST /v1/load_lora_adapter {lora_name, lora_path: spec.artifactURL} to podIP:8000, then a
// Service and an EndpointSlice per adapter. The artifact URL goes to the engine unchanged, so the
// adapter files lie in a local folder (what vLLM loads from: a path it can read); nothing is
// downloaded or hashed. Every 10 s it re-enqueues every adapter and updates each EndpointSlice.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { rawRequest } from '../../src/sandbox/raw.js';
import { freePort, waitFor } from '../../src/sandbox/wait.js';
import { Limiter } from '../../src/util/limiter.js';
import { Proc } from '../../test/support/process.js';
import type { Sandbox } from '../../test/support/sandbox.js';
import { controlPlaneCpuS, procStats } from '../common/proc-stats.js';
import { changed } from '../common/counters.js';
import { quietRequests, requestCounts, type ByVerb } from '../common/requests.js';
import { kind } from '../../src/runtime/object.js';
import { ReadyWatch } from '../common/ready-watch.js';
import { pct } from '../common/stats.js';
import { tinyAdapter } from '../common/tiny-adapter.js';
import { startVllmPods, type VllmPods } from './vllm-pods.js';

type Obj = Record<string, any>;
const PAIR_LABEL = 'bench.graft.dev/pair';
export const AIBRIX_ENGINE_PORT = 8000; // AIBrix's DefaultInferenceEnginePort

export type AibrixTools = { controller: string; crds: string };

export function aibrixTools(): AibrixTools {
  const controller = process.env.GRAFT_BIN_AIBRIX_CONTROLLER_MANAGER, crds = process.env.GRAFT_CRDS_AIBRIX;
  if (!controller || !crds) throw new Error('GRAFT_BIN_AIBRIX_CONTROLLER_MANAGER and GRAFT_CRDS_AIBRIX are unset: run `hack/tools.sh aibrix`, then `source <(hack/tools.sh env)` (make bench-peers does both)');
  return { controller, crds };
}

export type AibrixResult = {
  allReadyS: number; p50S: number; p99S: number; controllerCpuS: number; peakRssMb: number; settleS: number;
  // kube-apiserver and etcd together, over the same span.
  apiserverCpuS: number;
  requests: ByVerb; quietWrites: number; quietReads: number; loadsSeen: number;
};

const maReady = (o: Obj) => o.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') && o.status?.readyReplicas === 2;

async function applyCrd(sb: Sandbox, file: string): Promise<void> {
  const crd = parse(await readFile(file, 'utf8')) as Obj;
  const r = await rawRequest(sb.cp.kubeConfig, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  if (r.status !== 201 && r.status !== 409) throw new Error(`creating CRD ${crd.metadata.name}: ${r.text}`);
  await waitFor(`CRD ${crd.metadata.name} established`, async () => {
    const got = (await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`)).body as Obj;
    return !!got.status?.conditions?.some((c: Obj) => c.type === 'Established' && c.status === 'True');
  }, 30_000, 200);
}

export async function runAibrixShape(sb: Sandbox, tools: AibrixTools, o: { adapters: number; pods: number; quietS: number; ns?: string; say: (s: string) => void }): Promise<AibrixResult> {
  const ns = o.ns ?? 'aibrix', say = o.say;
  if (o.pods % 2) throw new Error(`PODS=${o.pods}: AIBrix's pods are selected in pairs; give an even number`);
  const pairs = o.pods / 2;
  const work = await mkdtemp(join(tmpdir(), 'graft-peers-'));
  let pods: VllmPods | undefined;
  let ctrl: Proc | undefined;
  try {
    // The same small adapters Graft stages from S3, as folders the engine is given by path.
    say(`aibrix: writing ${o.adapters} small adapters to ${work}`);
    for (let i = 0; i < o.adapters; i++) {
      const dir = join(work, 'adapters', `a-${i}`);
      await mkdir(dir, { recursive: true });
      for (const [f, body] of tinyAdapter(i)) await writeFile(join(dir, f), body);
    }
    await applyCrd(sb, join(tools.crds, 'model.aibrix.ai_modeladapters.yaml'));
    const nsr = await rawRequest(sb.cp.kubeConfig, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    if (nsr.status !== 201 && nsr.status !== 409) throw new Error(nsr.text);

    say(`aibrix: ${o.pods} vLLM pods (simulators on podIP:${AIBRIX_ENGINE_PORT}), in ${pairs} pairs`);
    const maxPerPod = Math.ceil((o.adapters * 2) / o.pods) + 8; // as Graft's BaseModel gives its simulators
    pods = await startVllmPods(sb, {
      ns, count: o.pods, port: AIBRIX_ENGINE_PORT, model: 'gpt2',
      labels: (i) => ({ 'model.aibrix.ai/name': 'gpt2', 'adapter.model.aibrix.ai/enabled': 'true', [PAIR_LABEL]: `p${Math.floor(i / 2)}` }),
      simArgs: ['--max-loras', String(Math.min(4, maxPerPod)), '--max-cpu-loras', String(maxPerPod)],
    });

    const metricsPort = await freePort(), healthPort = await freePort();
    ctrl = new Proc('aibrix', tools.controller, [
      `--kubeconfig=${sb.cp.kubeconfigPath}`, '--controllers=model-adapter-controller', '--disable-webhook',
      '--leader-elect=false', `--metrics-bind-address=127.0.0.1:${metricsPort}`, `--health-probe-bind-address=127.0.0.1:${healthPort}`,
    ]);
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    await waitFor('AIBrix controller ready', async () => {
      if (!ctrl!.running) throw new Error(`AIBrix controller exited:\n${ctrl!.output.slice(-4000)}`);
      return (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok;
    }, 60_000, 200);
    const pid = ctrl.child.pid!;
    const cpuBefore = procStats(pid).cpuS, apiBefore = controlPlaneCpuS(sb);
    const reqBefore = await requestCounts(metricsUrl);

    say(`aibrix: applying ${o.adapters} ModelAdapters (replicas unset, a pod pair each)`);
    const lim = new Limiter(16);
    const t0 = Date.now();
    const created = new Map<string, number>();
    // Watched from the first create on, as on Graft's side (bench/common/graft-shape.ts).
    const watch = new ReadyWatch(sb.cp.kubeConfig, kind('model.aibrix.ai/v1alpha1', 'ModelAdapter', 'modeladapters'), ns, maReady);
    await watch.start();
    const readyAt = watch.readyAt;
    let peakMb = 0, lastPrint = 0;
    const allReady = waitFor('every ModelAdapter Ready on 2 pods', async () => {
      if (!ctrl!.running) throw new Error(`AIBrix controller exited:\n${ctrl!.output.slice(-4000)}`);
      const now = Date.now();
      peakMb = Math.max(peakMb, procStats(pid).peakMb);
      if (now - lastPrint > 5000) { say(`aibrix: [${((now - t0) / 1000).toFixed(0)} s] ${readyAt.size}/${o.adapters} Ready`); lastPrint = now; }
      return readyAt.size === o.adapters;
    }, 900_000, 250);
    allReady.finally(() => watch.stop()).catch(() => undefined);
    await Promise.all(Array.from({ length: o.adapters }, async (_, i) => {
      await lim.acquire();
      try {
        const name = `a-${i}`;
        const res = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/model.aibrix.ai/v1alpha1/namespaces/${ns}/modeladapters`, {
          apiVersion: 'model.aibrix.ai/v1alpha1', kind: 'ModelAdapter', metadata: { name },
          spec: { baseModel: 'gpt2', podSelector: { matchLabels: { [PAIR_LABEL]: `p${i % pairs}` } }, artifactURL: join(work, 'adapters', name) },
        });
        if (res.status !== 201) throw new Error(res.text);
        created.set(name, Date.now());
      } finally { lim.release(); }
    }));
    say(`aibrix: applied in ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting for Ready with 2 replicas`);
    await allReady;
    const allReadyS = (Math.max(...readyAt.values()) - t0) / 1000;
    const perAdapter = [...readyAt].map(([n, t]) => (t - created.get(n)!) / 1000);
    const cpuAfter = procStats(pid).cpuS, apiAfter = controlPlaneCpuS(sb);
    const requests = changed(reqBefore, await requestCounts(metricsUrl));
    const loadsSeen = await pods.loadedAdapters();
    say(`aibrix: waiting for the controller to stop writing (at most 60 s), then quiet ${o.quietS} s`);
    const quiet = await quietRequests(metricsUrl, o.quietS);
    return {
      allReadyS, p50S: pct(perAdapter, 50), p99S: pct(perAdapter, 99), controllerCpuS: cpuAfter - cpuBefore, apiserverCpuS: apiAfter - apiBefore,
      peakRssMb: Math.max(peakMb, procStats(pid).peakMb), requests, quietWrites: quiet.writes, quietReads: quiet.reads, loadsSeen, settleS: quiet.settleS,
    };
  } finally {
    await ctrl?.stop(10_000);
    await pods?.stop();
    await rm(work, { recursive: true, force: true });
  }
}
