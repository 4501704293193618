// `make demo`: Graft end to end on the local sandbox, inside the sandbox network (hack/netns.sh:
// a network namespace with no route out). A real control plane with KWOK GPU nodes, versitygw as
// S3, an agent and an engine simulator in a network namespace of their own for every serving pod,
// and the operator; the fixture adapters are uploaded, manifests/examples/ applied, progress shown
// until everything is Ready, and chat completions sent through Traefik, the sandbox's Gateway API data plane, to the pods Graft
// lists for each adapter (by the model-name header and by path). KEEP=1 leaves it
// running (and prints the hack/netns.sh --enter command that reaches it).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { rawRequest } from '../src/sandbox/raw.js';
import { freePort, waitFor } from '../src/sandbox/wait.js';
import { serviceHost } from '../src/sandbox/netns.js';
import { engineKeySecretName, ENGINE_KEY_KEY, MODEL_NAME_HEADER } from '../src/contracts/names.js';
import { startSandboxGateway } from '../test/support/gateway.js';
import { FIXTURES, startSandbox, type Sandbox } from '../test/support/sandbox.js';
import { toolPath } from '../test/support/tools.js';

type Obj = Record<string, any>;
const repoRoot = join(import.meta.dirname, '..');
const NS = 'default';
const say = (s: string) => process.stdout.write(`${s}\n`);
const step = (s: string) => say(`\n==> ${s}`);

async function portFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer().once('error', () => resolve(false)).listen(port, serviceHost(), () => srv.close(() => resolve(true)));
  });
}

async function apply(sb: Sandbox, o: Obj): Promise<void> {
  const plural = { BaseModel: 'basemodels', Adapter: 'adapters', AdapterSet: 'adaptersets' }[o.kind as string];
  const path = `/apis/graft.dev/v1alpha1/namespaces/${NS}/${plural}/${o.metadata.name}?fieldManager=graft-demo&force=true`;
  const r = await rawRequest(sb.cp.kubeConfig, 'PATCH', path, o, 'application/apply-patch+yaml');
  if (r.status >= 300) throw new Error(`applying ${o.kind} ${o.metadata.name}: ${r.text}`);
  say(`   ${o.kind.toLowerCase()}.graft.dev/${o.metadata.name} applied`);
}

function summary(bm: Obj | undefined, adapters: Obj[]): string {
  const cond = (o: Obj, t: string) => o.status?.conditions?.find((c: Obj) => c.type === t);
  const b = bm ? `gpt2 ${bm.status?.readyReplicas ?? 0}/${bm.spec.replicas} pods ${cond(bm, 'Ready')?.reason ?? 'Pending'}` : 'gpt2 (creating)';
  const a = adapters.map((x) => `${x.metadata.name} ${cond(x, 'Ready')?.status === 'True' ? 'Ready' : cond(x, 'Ready')?.reason ?? 'Pending'} ${x.status?.readyReplicas ?? 0}`).join(', ');
  return `   ${b} | ${a}`;
}

async function main(): Promise<number> {
  if (!existsSync(FIXTURES)) throw new Error(`the fixture adapters are missing at ${FIXTURES} (test/fixtures/peft in this checkout)`);
  const t0 = Date.now();
  step('starting the sandbox: etcd, kube-apiserver, controller manager, scheduler, KWOK GPU nodes, versitygw, pod runner, operator');
  const s3Port = (await portFree(9000)) ? 9000 : await freePort(serviceHost());
  const sb = await startSandbox({ graft: 'compiled', s3Port, s3SecretName: 'graft-s3', nodes: [
    { name: 'gpu-node-1', podCIDR: '10.244.1.0/24', gpus: 8 }, { name: 'gpu-node-2', podCIDR: '10.244.2.0/24', gpus: 8 }, { name: 'gpu-node-3', podCIDR: '10.244.3.0/24', gpus: 8 },
  ] });
  step('starting the Gateway: Traefik v3 with its Gateway API provider, a GatewayClass and a Gateway');
  const gw = await startSandboxGateway(sb.cp).catch(async (err) => { await sb.stop(); throw err; });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    step('stopping everything the demo started');
    await gw.stop();
    await sb.stop();
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
  try {
    say(`   control plane ${sb.cp.server}, S3 ${sb.gw.endpoint}, operator metrics ${sb.operator.metricsUrl}, gateway ${gw.url} (Gateway ${gw.ref.namespace}/${gw.ref.name})`);

    step(`uploading the fixture adapters to s3://adapters/ (${FIXTURES})`);
    for (const f of readdirSync(FIXTURES, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      await sb.upload(f.name, 'adapters', `${f.name}/`);
      say(`   s3://adapters/${f.name}/`);
    }

    step('applying manifests/examples/');
    const dir = join(repoRoot, 'manifests', 'examples');
    const objects: Obj[] = [];
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) objects.push(doc.toJS() as Obj);
    }
    for (const o of objects) {
      if (o.kind === 'BaseModel' && o.spec.storage?.s3) o.spec.storage.s3.endpoint = sb.gw.endpoint;
      // The sandbox's Gateway: Graft writes the BaseModel's HTTPRoutes for it.
      if (o.kind === 'BaseModel') o.spec.routing = { gateway: { name: gw.ref.name, namespace: gw.ref.namespace, sectionName: gw.ref.sectionName } };
      await apply(sb, o);
    }
    const names = objects.filter((o) => o.kind === 'Adapter').map((o) => o.metadata.name as string);

    step('waiting until the BaseModel and every Adapter are Ready');
    let last = '';
    await waitFor('everything Ready', async () => {
      const bm = (await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels/gpt2`)).body as Obj;
      const list = ((await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters`)).body as Obj).items as Obj[];
      const line = summary(bm?.metadata ? bm : undefined, list);
      if (line !== last) { say(`   [${((Date.now() - t0) / 1000).toFixed(1)}s]${line.slice(2)}`); last = line; }
      const ready = (o: Obj) => o.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True') && o.status.observedGeneration === o.metadata.generation;
      return !!bm?.metadata && ready(bm) && names.every((n) => list.some((a) => a.metadata.name === n && ready(a)));
    }, 240_000, 500);

    step('chat completions through the Gateway: by the model-name header, and by the path prefix /gpt2/<served name>/');
    // The engine key clients need: the BaseModel's Secret <name>-engine-key (docs/routing.md).
    const secret = (await rawRequest(sb.cp.kubeConfig, 'GET', `/api/v1/namespaces/${NS}/secrets/${engineKeySecretName('gpt2')}`)).body as Obj;
    const key = Buffer.from(secret.data[ENGINE_KEY_KEY], 'base64').toString();
    const chat = async (model: string, how: 'header' | 'path') => {
      const url = how === 'header' ? `${gw.url}/v1/chat/completions` : `${gw.url}/gpt2/${model}/v1/chat/completions`;
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
      if (how === 'header') headers[MODEL_NAME_HEADER] = model;
      const req = { model, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 };
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(req) });
      return { url, headers, res, body: (await res.json().catch(() => ({}))) as Obj };
    };
    // Route status and EndpointSlices are written before Traefik takes them up (up to 2 s).
    await waitFor('the adapters routed through the gateway', async () => {
      for (const m of ['tigrinya', 'sentiment', 'sentiment-v1']) if ((await chat(m, 'path')).res.status !== 200) return false;
      return true;
    }, 60_000, 250);
    for (const [model, how] of [['tigrinya', 'header'], ['tigrinya', 'path'], ['sentiment-v1', 'header']] as const) {
      const r = await chat(model, how);
      const shown = how === 'header' ? ` -H '${MODEL_NAME_HEADER}: ${model}'` : '';
      say(`   POST ${r.url}${shown}  -> HTTP ${r.res.status}, model ${r.body.model}: ${JSON.stringify(r.body.choices?.[0]?.message?.content)}`);
      if (!r.res.ok) throw new Error(`the chat completion failed: HTTP ${r.res.status} ${JSON.stringify(r.body)}`);
    }
    const slice = (await rawRequest(sb.cp.kubeConfig, 'GET', `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/adapter-tigrinya`)).body as Obj;
    say(`   adapter-tigrinya's EndpointSlice: ${((slice.endpoints ?? []) as Obj[]).map((e) => e.addresses[0]).join(', ')} (the pods where tigrinya is Loaded)`);

    step('kubectl get basemodels,adapters -o wide');
    say(execFileSync(toolPath('kubectl'), ['--kubeconfig', sb.cp.kubeconfigPath, 'get', 'basemodels,adapters', '-o', 'wide'], { encoding: 'utf8' }).trimEnd());
    step('kubectl get services,endpointslices,httproutes');
    say(execFileSync(toolPath('kubectl'), ['--kubeconfig', sb.cp.kubeconfigPath, 'get', 'services,endpointslices,httproutes'], { encoding: 'utf8' }).trimEnd());
    say(`\nEverything Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);

    if (process.env.KEEP && process.env.KEEP !== '0') {
      mkdirSync(join(repoRoot, '.sandbox'), { recursive: true });
      const kc = join(repoRoot, '.sandbox', 'demo-kubeconfig');
      copyFileSync(sb.cp.kubeconfigPath, kc);
      // The sandbox lives in a network namespace of its own: its addresses are reachable only
      // from inside it.
      const enter = `${join(repoRoot, 'hack', 'netns.sh')} --enter ${process.pid}`;
      say(`\nKEEP=1: the sandbox keeps running, inside its own network namespace. Explore it from another terminal with:\n`
        + `  ${enter} ${toolPath('kubectl')} --kubeconfig ${kc} get basemodels,adapters,pods,endpointslices -o wide\n`
        + `  ${enter} curl -s -H 'authorization: Bearer ${key}' ${gw.url}/gpt2/tigrinya/v1/models\n  ${enter} bash    (a shell in there: KUBECONFIG=${kc} kubectl …)\nPress Ctrl-C to stop everything.`);
      await new Promise(() => {});
    }
    return 0;
  } finally {
    await stop();
  }
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
