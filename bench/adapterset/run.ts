// bench/adapterset (`make bench-adapterset`): an AdapterSet fed TASKS generated rank-16 adapters of
// 7B Llama shapes (q, k, v, o, gate, up, down of LAYERS layers), one task appended at a time, on
// each strategy, in the sandbox: real control plane with the Job controller, versitygw, the
// operator, merge Jobs run by GraftPods, serving pods with agents and engine simulators. Reports
// seconds per decision (the task appended → its version served by the child Adapter), the merge
// Jobs' peak memory and the operator's CPU. Prints figures; asserts nothing.
// Each task line splits its time: appended → decision recorded (the Job's start, the step itself with
// its phases as the step reports them, recording), then decision → served (the child Adapter's
// rollout), with the load average beside it (the build machine is shared).
// Environment: TASKS (20), LAYERS (32), STRATEGIES (Merge,Expand).
import { loadavg } from 'node:os';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../../src/sandbox/wait.js';
import { startSandbox } from '../../test/support/sandbox.js';
import { BASE, generatedAdapter, RANK } from './generate.js';

type Obj = Record<string, any>;
const TASKS = Number(process.env.TASKS ?? 20);
const LAYERS = Number(process.env.LAYERS ?? 32);
const STRATEGIES = (process.env.STRATEGIES ?? 'Merge,Expand').split(',');
const NS = 'default';
const say = (s: string) => process.stdout.write(`${s}\n`);
const load = () => `load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
const adapter = (task: number) => generatedAdapter(task, LAYERS);

const cpuSeconds = (metrics: string) => Number(/^process_cpu_seconds_total (\S+)$/m.exec(metrics)?.[1] ?? NaN);

const sb = await startSandbox();
// A bench stopped early (Ctrl-C, a timeout) still stops its sandbox and removes its files.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { void sb.stop().finally(() => process.exit(130)); });
try {
  const s3 = sb.gw.client();
  const t0 = performance.now();
  for (let i = 0; i < TASKS; i++) {
    for (const [f, body] of adapter(i)) await s3.send(new PutObjectCommand({ Bucket: 'adapters', Key: `bench/task-${i}/${f}`, Body: body }));
  }
  say(`uploaded ${TASKS} tasks × ${LAYERS} layers (rank ${RANK}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const bm = { apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'llama' }, spec: {
    model: { source: { uri: BASE } }, replicas: 1, adapters: { maxPerPod: 8, maxRank: 16 },
    storage: { s3: { endpoint: sb.gw.endpoint, forcePathStyle: true, credentialsSecretRef: { name: 's3-creds' } } } } };
  if ((await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels`, bm)).status !== 201) throw new Error('creating the BaseModel');
  await waitFor('a serving pod', async () => [...sb.runner.pods.values()].length === 1, 90_000, 200);
  await sb.runner.waitHealthy();
  for (const strategy of STRATEGIES) {
    const name = `bench-${strategy.toLowerCase()}`;
    const path = `/apis/graft.dev/v1alpha1/namespaces/${NS}/adaptersets/${name}`;
    const create = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adaptersets`, {
      apiVersion: 'graft.dev/v1alpha1', kind: 'AdapterSet', metadata: { name },
      spec: { baseModel: 'llama', strategy, output: { uri: `s3://adapters/bench-out/${name}/` }, expand: { maxModules: 4 }, tasks: [] } });
    if (create.status !== 201) throw new Error(create.text);
    const cpu0 = cpuSeconds(await sb.operator.metrics());
    const exits0 = sb.graftPods.exits.length;
    const seconds: number[] = [];
    for (let i = 0; i < TASKS; i++) {
      const started = performance.now();
      let decided: number | undefined;
      const r = await rawRequest(sb.cp.kubeConfig, 'PATCH', path, [{ op: 'add', path: '/spec/tasks/-', value: { name: `task-${i}`, source: { uri: `s3://adapters/bench/task-${i}/` } } }], 'application/json-patch+json');
      if (r.status !== 200) throw new Error(r.text);
      await waitFor(`${name} task ${i} served`, async () => {
        const s = (await rawRequest(sb.cp.kubeConfig, 'GET', path)).body as Obj;
        const d = (s.status?.decisions ?? []).find((x: Obj) => x.task === `task-${i}`);
        if (!d) return false;
        decided ??= performance.now();
        if (d.action === 'Rejected') throw new Error(`task-${i} rejected: ${d.reason}`);
        const m = (s.status.modules as Obj[]).find((x) => x.name === d.module)!;
        const a = (await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters/${m.adapter}`)).body as Obj;
        return a?.status?.digest === d.digest && a.status.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') && a.status.observedGeneration === a.metadata.generation;
      }, 1_800_000, 200);
      seconds.push((performance.now() - started) / 1000);
      // The step's own account (its termination message): seconds and where they went.
      const exit = sb.graftPods.exits.filter((e) => e.key.startsWith(`${NS}/${name}-step-${i}-`) && e.code === 0).pop();
      let step = '';
      try {
        const r = JSON.parse(exit?.message ?? '');
        step = `; step ${r.seconds.toFixed(1)} s (${Object.entries(r.phases ?? {}).map(([k, v]) => `${k} ${(v as number).toFixed(1)}`).join(', ')}) ${r.action}${r.module ? ` ${r.module}` : ''}`;
      } catch { /* no message: leave it out */ }
      const toDecision = ((decided ?? performance.now()) - started) / 1000;
      say(`${strategy} task ${i}: ${seconds[i].toFixed(1)} s (appended → decided ${toDecision.toFixed(1)}, decided → served ${(seconds[i] - toDecision).toFixed(1)}${step}) ${load()}`);
    }
    const cpu = cpuSeconds(await sb.operator.metrics()) - cpu0;
    const peak = Math.max(0, ...sb.graftPods.exits.slice(exits0).map((e) => e.peakRssMb));
    const s = (await rawRequest(sb.cp.kubeConfig, 'GET', path)).body as Obj;
    say(`${strategy}: modules ${s.status.modules.length}, decisions ${s.status.decisions.map((d: Obj) => d.action).join(',')}`);
    say(`${strategy}: ${load()} at the end`);
    say(`adapterset: tasks=${TASKS} strategy=${strategy} s_per_task=${(seconds.reduce((a, b) => a + b, 0) / TASKS).toFixed(2)} merge_peak_mb=${peak.toFixed(0)} operator_cpu_s=${cpu.toFixed(2)}`);
  }
  s3.destroy();
} finally {
  await sb.stop();
}
