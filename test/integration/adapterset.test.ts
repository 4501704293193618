// The AdapterSet loop end to end in the sandbox: a real control plane (with the Job controller of
// kube-controller-manager), versitygw, `graft operator`, and every merge Job's pod run as a local
// `graft merge step` process by GraftPods. Serving pods run an agent and an engine simulator each.
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../src/sandbox/raw.js';
import { emaWeights } from '../../src/merge/methods/ema.js';
import { listObjects } from '../../src/storage/s3-objects.js';
import { prefixDigest, runStep } from '../../src/controllers/adapterset/step.js';
import { buildStepRequest } from '../../src/controllers/adapterset/decide.js';
import { AdapterSetSpec } from '../../src/api/adapterset.js';
import { waitFor } from '../support/ports.js';
import { gpt2BaseModel, startSandbox, type Sandbox } from '../support/sandbox.js';
import { DISTILBERT, GPT2_CAUSAL, GPT2_SEQCLS } from '../merge/fixtures.js';
import { denseDistance, denseFormula, uploadFixture } from './adapterset-support.js';

type Obj = Record<string, any>;
const NS = 'default';
const B = 'adapters';
const setPath = (name = '') => `/apis/graft.dev/v1alpha1/namespaces/${NS}/adaptersets${name ? `/${name}` : ''}`;
const adPath = (name = '') => `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters${name ? `/${name}` : ''}`;
const jobsPath = `/apis/batch/v1/namespaces/${NS}/jobs`;
const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c: Obj) => c.type === type);

describe('AdapterSet controller (e2e, real Jobs)', () => {
  let sb: Sandbox;
  let s3: S3Client;
  const uris: Record<string, string> = {};
  const get = async (path: string) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'GET', path);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  const post = async (path: string, body: Obj) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'POST', path, body);
    expect(r.status, r.text).toBe(201);
  };
  const patch = async (path: string, body: unknown, type = 'application/merge-patch+json') => {
    const r = await rawRequest(sb.cp.kubeConfig, 'PATCH', path, body, type);
    expect(r.status, r.text).toBe(200);
  };
  const appendTask = (set: string, task: Obj) => patch(setPath(set), [{ op: 'add', path: '/spec/tasks/-', value: task }], 'application/json-patch+json');
  const setJobs = async (set: string) => ((await get(`${jobsPath}?labelSelector=graft.dev%2Fadapterset%3D${set}`))!.items as Obj[]);
  const decisions = async (set: string) => ((await get(setPath(set)))?.status?.decisions ?? []) as Obj[];
  const waitDecisions = (set: string, n: number, timeout = 120_000) => waitFor(`${set}: ${n} decisions`, async () => (await decisions(set)).length >= n, timeout, 300);
  // The child Adapter serves `digest`: its spec, its status and every Loaded placement.
  const waitServing = (name: string, digest: string, timeout = 90_000) => waitFor(`${name} serving ${digest}`, async () => {
    const a = await get(adPath(name));
    const loaded = ((a?.status?.placements ?? []) as Obj[]).filter((p) => p.state === 'Loaded');
    return a?.spec.source.digest === digest && a.status?.digest === digest && cond(a, 'Ready')?.status === 'True'
      && loaded.length === a.spec.replicas && loaded.every((p) => p.digest === digest);
  }, timeout, 300);
  const keys = async (prefix: string) => (await listObjects(s3, B, prefix)).map((o) => `${o.key} ${o.etag}`).sort();
  const set = (name: string, spec: Obj) => ({ apiVersion: 'graft.dev/v1alpha1', kind: 'AdapterSet', metadata: { name }, spec: { baseModel: 'gpt2', ...spec } });

  beforeAll(async () => {
    sb = await startSandbox();
    s3 = sb.gw.client();
    uris.seqcls = await uploadFixture(s3, B, GPT2_SEQCLS, 'tasks/seqcls/');
    uris.causal = await uploadFixture(s3, B, GPT2_CAUSAL, 'tasks/causal/');
    uris.copy = await uploadFixture(s3, B, GPT2_CAUSAL, 'tasks/causal-x2/', 2);
    uris.bert = await uploadFixture(s3, B, DISTILBERT, 'tasks/bert/');
    await post(`/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels`, gpt2BaseModel('gpt2', sb.gw, { replicas: 2 }));
    await waitFor('2 serving pods with agents', async () => [...sb.runner.pods.values()].filter((p) => p.baseModel === 'gpt2').length === 2, 90_000);
    await sb.runner.waitHealthy();
  }, 240_000);
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    console.error(`operator log:\n${sb.operator.proc.output.slice(-8000)}`);
    for (const s of ((await get(setPath()))?.items ?? []) as Obj[]) console.error(`${s.metadata.name}: ${JSON.stringify(s.status, null, 1).slice(0, 6000)}`);
    for (const e of sb.graftPods.exits) console.error(`pod ${e.key} exit ${e.code}: ${e.message.slice(0, 1000)}`);
  });
  afterAll(async () => { s3?.destroy(); await sb?.stop(); });

  it('Merge strategy: three tasks, three Jobs, three versions equal to the ema formula; the child Adapter serves the last digest', async () => {
    const t0 = Date.now();
    await post(setPath(), set('mos', { output: { uri: `s3://${B}/out/mos/` }, template: { replicas: 2 }, tasks: [
      { name: 'seqcls', source: { uri: uris.seqcls } }, { name: 'causal', source: { uri: uris.causal } }, { name: 'copy', source: { uri: uris.copy } }] }));
    await waitDecisions('mos', 3, 180_000);
    const s = (await get(setPath('mos')))!;
    expect(s.status.decisions.map((d: Obj) => [d.task, d.action, d.module])).toEqual([['seqcls', 'NewModule', 'm0'], ['causal', 'MergedInto', 'm0'], ['copy', 'MergedInto', 'm0']]);
    expect((await setJobs('mos')).map((j) => j.metadata.name).sort()).toEqual(['mos-step-0', 'mos-step-1', 'mos-step-2']);
    const m0 = s.status.modules[0];
    expect(m0.versions).toHaveLength(3);
    const last = m0.versions[2];
    expect(m0).toMatchObject({ name: 'm0', adapter: 'mos-m0', digest: last.digest, uri: last.uri, tasks: ['seqcls', 'causal', 'copy'] });
    expect(last.rank).toBeLessThanOrEqual(16);
    // The version's files are the ones the agent digests.
    expect(await prefixDigest(last.uri, s3)).toBe(last.digest);
    const formula = await denseFormula(s3, ['seqcls', 'causal', 'copy'].map((n, i) => ({ uri: uris[n], weight: emaWeights(3, 0.1)[i] })));
    const dist = await denseDistance(s3, last.uri, formula);
    expect(dist.rel).toBeLessThan(1e-4);
    await waitServing('mos-m0', last.digest);
    await waitFor('mos Ready', async () => cond(await get(setPath('mos')), 'Ready')?.status === 'True', 60_000, 300);
    const child = (await get(adPath('mos-m0')))!;
    expect(child.metadata.ownerReferences[0]).toMatchObject({ kind: 'AdapterSet', name: 'mos', controller: true });
    const metrics = await sb.operator.metrics();
    expect(metrics).toMatch(/graft_adapterset_decisions_total\{action="MergedInto"\} 2/);
    expect(metrics).toMatch(/graft_adapterset_modules\{namespace="default",name="mos"\} 1/);
    console.log(`merge strategy: 3 tasks decided and served in ${((Date.now() - t0) / 1000).toFixed(1)} s; version 3 rank ${dist.rank}, max rel. deviation from the formula ${dist.rel.toExponential(2)}`);
  }, 300_000);

  it('a task of another base model is Rejected (one Job, nothing written, the old version serving); a later task is processed', async () => {
    const before = await decisions('mos');
    const served = (await get(setPath('mos')))!.status.modules[0].digest;
    const objects = await keys('out/mos/');
    await appendTask('mos', { name: 'bert', source: { uri: uris.bert } });
    await waitDecisions('mos', before.length + 1);
    const d = await decisions('mos');
    expect(d).toHaveLength(before.length + 1);
    expect(d[d.length - 1]).toMatchObject({ task: 'bert', action: 'Rejected', job: 'mos-step-3' });
    expect(d[d.length - 1].reason).toContain('distilbert-base-uncased');
    expect(await keys('out/mos/')).toEqual(objects);
    expect((await get(adPath('mos-m0')))!.spec.source.digest).toBe(served);
    // Appending a good task: exactly one new decision, one new Job, one new version.
    await appendTask('mos', { name: 'seqcls-again', source: { uri: uris.seqcls } });
    await waitDecisions('mos', before.length + 2);
    await new Promise((r) => setTimeout(r, 2_000)); // nothing more should come
    const s = (await get(setPath('mos')))!;
    expect(s.status.decisions).toHaveLength(before.length + 2);
    expect(s.status.decisions[before.length + 1]).toMatchObject({ task: 'seqcls-again', action: 'MergedInto' });
    expect((await setJobs('mos')).length).toBe(5);
    expect(s.status.modules[0].versions).toHaveLength(4);
    await waitServing('mos-m0', s.status.modules[0].versions[3].digest);
  }, 300_000);

  it('pin and unpin a module version: the pods follow', async () => {
    const s = (await get(setPath('mos')))!;
    const [v1, , , v4] = s.status.modules[0].versions;
    await patch(setPath('mos'), { spec: { pins: { m0: v1.digest } } });
    await waitServing('mos-m0', v1.digest);
    expect((await get(setPath('mos')))!.status.modules[0]).toMatchObject({ pinned: true, digest: v1.digest });
    await patch(setPath('mos'), { spec: { pins: null } });
    await waitServing('mos-m0', v4.digest);
    expect((await get(setPath('mos')))!.status.modules[0].pinned).toBeUndefined();
  }, 240_000);

  it('a quiet steady state: once Ready, the set and its child are not written again', async () => {
    await waitFor('mos Ready', async () => cond(await get(setPath('mos')), 'Ready')?.status === 'True', 60_000, 300);
    const rv = async () => [(await get(setPath('mos')))!.metadata.resourceVersion, (await get(adPath('mos-m0')))!.metadata.resourceVersion];
    const before = await rv();
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await rv()).toEqual(before);
  }, 90_000);

  it('Expand strategy: scores and novelty pick the modules, each served by its own Adapter; at the budget the closest module takes the task', async () => {
    await post(setPath(), set('sema', { strategy: 'Expand', output: { uri: `s3://${B}/out/sema/` }, expand: { maxModules: 2 }, tasks: [
      { name: 'causal', source: { uri: uris.causal } },
      { name: 'copy', source: { uri: uris.copy } },
      { name: 'seqcls', source: { uri: uris.seqcls } },
      { name: 'high', source: { uri: uris.causal }, shift: { score: 5 } }] }));
    await waitDecisions('sema', 4, 180_000);
    const s = (await get(setPath('sema')))!;
    expect(s.status.decisions.map((d: Obj) => [d.task, d.action, d.module])).toEqual([
      ['causal', 'NewModule', 'm0'], ['copy', 'MergedInto', 'm0'], ['seqcls', 'NewModule', 'm1'], ['high', 'BudgetExhausted', 'm0']]);
    expect(s.status.decisions[1].score).toBeLessThan(0.01);
    expect(s.status.decisions[2].score).toBeGreaterThan(0.8);
    const [m0, m1] = s.status.modules;
    expect(m0.tasks).toEqual(['causal', 'copy', 'high']);
    expect(m1).toMatchObject({ tasks: ['seqcls'], uri: uris.seqcls, adapter: 'sema-m1' });
    await waitServing('sema-m0', m0.digest);
    await waitServing('sema-m1', m1.digest);
  }, 300_000);

  it('a merge Job that fails (S3 refuses its credentials) stalls the set with the pod\'s message, records nothing and writes nothing', async () => {
    const secret = await rawRequest(sb.cp.kubeConfig, 'POST', `/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad-creds' }, stringData: { AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'wrong' } });
    expect(secret.status, secret.text).toBe(201);
    const bm = gpt2BaseModel('gpt2-bad', sb.gw, { replicas: 0 }) as Obj;
    bm.spec.storage.s3.credentialsSecretRef = { name: 'bad-creds' };
    await post(`/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels`, bm);
    await post(setPath(), { ...set('failing', { output: { uri: `s3://${B}/out/failing/` }, job: { backoffLimit: 0 }, tasks: [{ name: 'causal', source: { uri: uris.causal } }] }), spec: {
      baseModel: 'gpt2-bad', output: { uri: `s3://${B}/out/failing/` }, job: { backoffLimit: 0 }, tasks: [{ name: 'causal', source: { uri: uris.causal } }] } });
    await waitFor('failing Stalled', async () => cond(await get(setPath('failing')), 'Stalled')?.status === 'True', 120_000, 300);
    const s = (await get(setPath('failing')))!;
    expect(cond(s, 'Stalled').reason).toBe('MergeJobFailed');
    expect(cond(s, 'Stalled').message).toMatch(/merge Job failing-step-0 for task causal failed .*merge step failed/);
    expect(s.status.decisions ?? []).toEqual([]);
    expect(await keys('out/failing/')).toEqual([]);
    expect(await get(adPath('failing-m0'))).toBeUndefined();
  }, 180_000);

  it('the operator killed during a merge Job and the Job\'s pod deleted mid-run: the merge finishes exactly once', async () => {
    const before = (await decisions('mos')).length;
    await appendTask('mos', { name: 'causal-again', source: { uri: uris.causal }, weight: 2 });
    const jn = `mos-step-${before}`;
    await waitFor(`${jn} pod running`, async () => [...sb.graftPods.running.values()].some((r) => r.key.startsWith(`${NS}/${jn}-`)), 60_000, 100);
    await sb.operator.proc.kill();
    const pod = [...sb.graftPods.running.values()].find((r) => r.key.startsWith(`${NS}/${jn}-`))!;
    const r = await rawRequest(sb.cp.kubeConfig, 'DELETE', `/api/v1/namespaces/${pod.key.replace('/', '/pods/')}`);
    expect(r.status, r.text).toBe(200);
    await sb.restartOperator();
    await waitDecisions('mos', before + 1, 180_000);
    await new Promise((res) => setTimeout(res, 2_000));
    const s = (await get(setPath('mos')))!;
    expect(s.status.decisions.filter((d: Obj) => d.task === 'causal-again')).toHaveLength(1);
    const v = s.status.modules[0].versions.at(-1);
    expect(v.tasks.at(-1)).toBe('causal-again');
    expect(await prefixDigest(v.uri, s3)).toBe(v.digest);
    const markers = (await keys('out/mos/m0/')).filter((k) => k.includes('.graft-version.json'));
    expect(markers).toHaveLength(5); // one per merged version (all five), this one included
    const exits = sb.graftPods.exits.filter((e) => e.key.startsWith(`${NS}/${jn}-`));
    console.log(`restart case: ${exits.length} pod run(s) of ${jn}: ${exits.map((e) => e.code).join(', ')}`);
    await waitServing('mos-m0', v.digest);
    // Identical to an uninterrupted run: with its commit marker gone, the same step run here in one
    // go (the earlier tasks' running mean is found, the version remade) writes the same bytes.
    const spec = AdapterSetSpec.parse(s.spec);
    const prior = { ...s.status, decisions: s.status.decisions.slice(0, -1), modules: [{ ...s.status.modules[0], tasks: s.status.modules[0].tasks.slice(0, -1) }] };
    const marker = markers.find((k) => k.startsWith(`${v.uri.slice(`s3://${B}/`.length).replace(/\/$/, '')}.graft-version.json`))!.split(' ')[0];
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await s3.send(new DeleteObjectCommand({ Bucket: B, Key: marker }));
    const fresh = await runStep(buildStepRequest('mos', spec, prior, before, { maxRank: 16, modelId: 'gpt2' }), s3);
    expect(fresh.reused).toBeUndefined();
    expect(fresh.version).toEqual({ uri: v.uri, digest: v.digest, rank: v.rank });
    expect(await prefixDigest(v.uri, s3)).toBe(v.digest);
  }, 300_000);
});
