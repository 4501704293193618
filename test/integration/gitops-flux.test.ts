import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { rawRequest } from '../../src/sandbox/raw.js';
import { freePort, waitFor } from '../../src/sandbox/wait.js';
import { startGitHttp, type GitHttp } from '../gitops/git-http.js';
import { gitopsTool } from '../gitops/tools.js';
import { REPO_ROOT } from '../support/fixtures-dir.js';
import { Proc } from '../support/process.js';
import { startSandbox, type Sandbox } from '../support/sandbox.js';
import { toolPath } from '../support/tools.js';

// Flux itself against Graft: source-controller clones a Git repository served on loopback (git's
// own http-backend), kustomize-controller applies manifests/examples from it with the shipped
// gitops/flux Kustomization (wait: true), and decides health with kstatus and the example's
// healthCheckExprs while the real operator reconciles the objects.
type Obj = Record<string, any>;
const NS = 'default';
const FLUX_NS = 'flux-system';
const ksPath = `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${FLUX_NS}/kustomizations/graft-models`;
const cond = (o: Obj | undefined, type: string) => (o?.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type);
const example = (f: string) => readFileSync(join(REPO_ROOT, f), 'utf8');

describe('Flux Kustomization with wait: true on Graft objects', () => {
  let sb: Sandbox;
  let git: GitHttp;
  let work: string;
  const procs: Proc[] = [];
  let healthySha = '';
  const get = async (p: string) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'GET', p);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  const create = async (p: string, body: Obj) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'POST', p, body);
    if (r.status !== 201) throw new Error(`POST ${p}: ${r.status} ${r.text}`);
  };
  const graft = (plural: string, name: string) => get(`/apis/graft.dev/v1alpha1/namespaces/${NS}/${plural}/${name}`);

  // manifests/examples as a user would commit them, with the sandbox's S3 endpoint.
  const models = (): Record<string, string> => {
    const bm = parse(example('manifests/examples/basemodel.yaml'));
    bm.spec.storage.s3.endpoint = sb.gw.endpoint;
    return { 'models/basemodel.yaml': stringify(bm), 'models/adapters.yaml': example('manifests/examples/adapters.yaml') };
  };
  const adapterNames = () => parseAllDocuments(example('manifests/examples/adapters.yaml')).map((d) => (d.toJS() as Obj).metadata.name as string);
  const revisionOf = (sha: string) => `main@sha1:${sha}`;

  // The Kustomization once it has finished a reconcile of `sha` (Ready True or False, not Unknown).
  const settledOn = async (sha: string, timeoutMs = 150_000) => {
    let ks: Obj | undefined;
    await waitFor(`Kustomization settled on ${sha.slice(0, 7)}`, async () => {
      ks = await get(ksPath);
      const ready = cond(ks, 'Ready');
      return ks?.status?.lastAttemptedRevision === revisionOf(sha) && ks.status.observedGeneration === ks.metadata.generation
        && (ready?.status === 'True' || ready?.status === 'False');
    }, timeoutMs, 250);
    return ks!;
  };

  beforeAll(async () => {
    const bins = { source: gitopsTool('source-controller'), kustomize: gitopsTool('kustomize-controller') };
    const crds = [gitopsTool('source-controller-crds'), gitopsTool('kustomize-controller-crds')];
    sb = await startSandbox({ s3SecretName: 'graft-s3' });
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'gpt2-causal-tigrinya/');
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'gpt2-seqcls-c_attn/');
    const kubectl = toolPath('kubectl');
    for (const dir of crds) {
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml'))) {
        execFileSync(kubectl, ['--kubeconfig', sb.cp.kubeconfigPath, 'apply', '--server-side', '-f', join(dir, f)], { stdio: 'pipe' });
      }
    }
    await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FLUX_NS } });
    work = mkdtempSync(join(tmpdir(), 'graft-flux-'));
    git = await startGitHttp(join(work, 'git'));

    const env = { KUBECONFIG: sb.cp.kubeconfigPath, RUNTIME_NAMESPACE: FLUX_NS };
    const addr = async () => `127.0.0.1:${await freePort()}`;
    const storage = await addr();
    mkdirSync(join(work, 'artifacts')); // source-controller refuses a storage path that does not exist
    procs.push(new Proc('source-controller', bins.source, [
      `--storage-path=${join(work, 'artifacts')}`, `--storage-addr=${storage}`, `--storage-adv-addr=${storage}`,
      `--metrics-addr=${await addr()}`, `--health-addr=${await addr()}`, '--log-level=info',
    ], { env }));
    procs.push(new Proc('kustomize-controller', bins.kustomize, [
      `--metrics-addr=${await addr()}`, `--health-addr=${await addr()}`, '--no-remote-bases=true', '--log-level=info',
    ], { env }));
  }, 600_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const p of procs) console.error(`${p.name} log:\n${p.output.slice(-5000)}`);
    console.error(`operator log:\n${sb.operator.proc.output.slice(-3000)}`);
  });

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await git?.stop();
    await sb?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('applies the examples and becomes Ready only once the BaseModel and every Adapter are Ready', async () => {
    const sha = git.commit(models(), 'Graft models');
    healthySha = sha;
    const repo = parse(example('gitops/flux/gitrepository.yaml'));
    repo.spec.url = git.url;
    repo.spec.interval = '5s';
    await create(`/apis/source.toolkit.fluxcd.io/v1/namespaces/${FLUX_NS}/gitrepositories`, repo);
    const ks = parse(example('gitops/flux/kustomization.yaml'));
    Object.assign(ks.spec, { interval: '10s', retryInterval: '5s', timeout: '3m', targetNamespace: NS });
    await create(`/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${FLUX_NS}/kustomizations`, ks);

    // Each time the Kustomization is seen Ready, every object it applied must already be Ready.
    const start = Date.now();
    let readyAt = 0;
    let seenUnready = false;
    await waitFor('Kustomization Ready', async () => {
      const k = await get(ksPath);
      const ready = cond(k, 'Ready')?.status === 'True' && k!.status.lastAppliedRevision === revisionOf(sha);
      if (!ready) { seenUnready ||= !!(await graft('basemodels', 'gpt2')); return false; }
      const bm = await graft('basemodels', 'gpt2');
      expect(cond(bm, 'Ready')?.status, 'BaseModel gpt2 Ready when the Kustomization is').toBe('True');
      for (const n of adapterNames()) expect(cond(await graft('adapters', n), 'Ready')?.status, `Adapter ${n} Ready when the Kustomization is`).toBe('True');
      readyAt = Date.now();
      return true;
    }, 240_000, 200);
    // It was applied, and seen not Ready while the objects came up.
    expect(seenUnready).toBe(true);
    console.log(`Kustomization Ready ${((readyAt - start) / 1000).toFixed(1)} s after it was created`);
    const k = (await get(ksPath))!;
    expect(cond(k, 'Ready')!.reason).toBe('ReconciliationSucceeded');
    expect(cond(k, 'Healthy')?.status).toBe('True');
  });

  it('is not Ready while an Adapter is Stalled, and Ready again once Git fixes it', async () => {
    const broken = { apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name: 'typo' }, spec: { baseModel: 'gpt2', source: { uri: 's3://adapters/gpt2-causal-tigrinyaa/' } } };
    const sha = git.commit({ ...models(), 'models/typo.yaml': stringify(broken) }, 'an adapter with a typo in its source');
    const ks = await settledOn(sha);
    expect(cond(await graft('adapters', 'typo'), 'Stalled')?.status).toBe('True');
    const ready = cond(ks, 'Ready')!;
    expect(ready.status).toBe('False');
    expect(ready.reason).toBe('HealthCheckFailed');
    expect(ready.message).toMatch(/Adapter\/default\/typo/);
    // Applied, but not recorded as applied: Flux keeps the last healthy revision there.
    expect(ks.status.lastAttemptedRevision).toBe(revisionOf(sha));
    expect(ks.status.lastAppliedRevision).toBe(revisionOf(healthySha));
    // And it stays that way while the Adapter is Stalled (a later retry fails the same way).
    await new Promise((r) => setTimeout(r, 8_000));
    expect(cond(await get(ksPath), 'Ready')!.status).toBe('False');

    broken.spec.source.uri = 's3://adapters/gpt2-causal-tigrinya/';
    const fixed = git.commit({ ...models(), 'models/typo.yaml': stringify(broken) }, 'fix the typo');
    const after = await settledOn(fixed);
    expect(cond(after, 'Ready')!.status, cond(after, 'Ready')!.message).toBe('True');
    expect(cond(await graft('adapters', 'typo'), 'Ready')?.status).toBe('True');
  });

  it('waits for the operator: Adapters applied while Graft is down have no status; only kstatus alone calls them healthy', async () => {
    await sb.operator.stop();
    const adapter = (name: string) => ({ apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name }, spec: { baseModel: 'gpt2', source: { uri: 's3://adapters/gpt2-seqcls-c_attn/' } } });
    const sha = git.commit({ ...models(), 'models/late.yaml': stringify(adapter('late')), 'plain/adapter.yaml': stringify(adapter('plain')) },
      'more adapters while the operator is down');
    // The same example without healthCheckExprs, on its own folder: kstatus alone.
    const plain = parse(example('gitops/flux/kustomization.yaml'));
    delete plain.spec.healthCheckExprs;
    Object.assign(plain.metadata, { name: 'graft-plain' });
    Object.assign(plain.spec, { path: './plain', interval: '10s', retryInterval: '5s', timeout: '3m', targetNamespace: NS });
    await create(`/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${FLUX_NS}/kustomizations`, plain);

    await waitFor('graft-plain Ready', async () => {
      const k = await get(`/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${FLUX_NS}/kustomizations/graft-plain`);
      return cond(k, 'Ready')?.status === 'True' && k!.status.lastAppliedRevision === revisionOf(sha);
    }, 90_000, 250);
    // kstatus's rule for an object without status: Current. Nothing has looked at these Adapters.
    expect((await graft('adapters', 'plain'))!.status).toBeUndefined();
    // "late" comes with the shipped Kustomization, which takes the commit up on its own interval.
    await waitFor('the shipped Kustomization to apply "late"', async () => !!(await graft('adapters', 'late')), 90_000, 250);
    expect((await graft('adapters', 'late'))!.status).toBeUndefined();
    // The shipped Kustomization must have taken up this commit before its verdict means anything
    // (it polls Git on its own interval; right after graft-plain it may still be Ready on the old
    // one): wait until it leaves Ready, or wrongly records the new commit as applied.
    await waitFor('the shipped Kustomization to take up the new commit', async () => {
      const k = await get(ksPath);
      return cond(k, 'Ready')?.status !== 'True' || k?.status?.lastAppliedRevision === revisionOf(sha);
    }, 90_000, 250);
    const waiting = (await get(ksPath))!;
    expect(waiting.status.lastAppliedRevision, 'the example is not recorded as applied while an Adapter has no status').not.toBe(revisionOf(sha));
    expect(cond(waiting, 'Ready')!.status).not.toBe('True');

    await sb.restartOperator();
    await waitFor('Kustomization Ready on the new commit', async () => {
      const k = await get(ksPath);
      return cond(k, 'Ready')?.status === 'True' && k!.status.lastAppliedRevision === revisionOf(sha);
    }, 150_000, 250);
    expect(cond(await graft('adapters', 'late'), 'Ready')?.status).toBe('True');
  });
});
