import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rawRequest } from '../../src/sandbox/raw.js';
import { freePort, waitFor } from '../../src/sandbox/wait.js';
import { startGitHttp, type GitHttp } from '../gitops/git-http.js';
import { gitopsTool } from '../gitops/tools.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { REPO_ROOT } from '../support/fixtures-dir.js';
import { Proc } from '../support/process.js';
import { toolPath } from '../support/tools.js';

// The shipped HelmRelease example (gitops/flux/helmrelease.yaml) with Flux's own helm-controller:
// source-controller packages charts/graft from a Git repository on loopback, helm-controller
// installs it (and waits for it, kstatus again) and upgrades it when the values change. The
// operator pods it makes are played by KWOK here: the point is the chart under Flux.
type Obj = Record<string, any>;
const FLUX_NS = 'flux-system';
const hrPath = `/apis/helm.toolkit.fluxcd.io/v2/namespaces/${FLUX_NS}/helmreleases/graft`;
const cond = (o: Obj | undefined, type: string) => (o?.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type);

function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p); else out[relative(REPO_ROOT, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

describe('Flux HelmRelease of charts/graft', () => {
  let cp: ControlPlane;
  let git: GitHttp;
  let work: string;
  const procs: Proc[] = [];
  const get = async (p: string) => {
    const r = await rawRequest(cp.kubeConfig, 'GET', p);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  const create = async (p: string, body: Obj) => {
    const r = await rawRequest(cp.kubeConfig, 'POST', p, body);
    if (r.status !== 201) throw new Error(`POST ${p}: ${r.status} ${r.text}`);
  };
  const releasedOn = async (generation: number) => {
    let hr: Obj | undefined;
    await waitFor(`HelmRelease Ready for generation ${generation}`, async () => {
      hr = await get(hrPath);
      return hr?.status?.observedGeneration === generation && cond(hr, 'Ready')?.status === 'True';
    }, 180_000, 250);
    return hr!;
  };

  beforeAll(async () => {
    const bins = { source: gitopsTool('source-controller'), helm: gitopsTool('helm-controller') };
    const crds = [gitopsTool('source-controller-crds'), gitopsTool('helm-controller-crds')];
    cp = await startControlPlane({ e2e: true });
    const kubectl = toolPath('kubectl');
    for (const dir of crds) {
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml'))) {
        execFileSync(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'apply', '--server-side', '-f', join(dir, f)], { stdio: 'pipe' });
      }
    }
    await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FLUX_NS } });
    work = mkdtempSync(join(tmpdir(), 'graft-flux-helm-'));
    git = await startGitHttp(join(work, 'git'), 'graft');
    git.commit(filesUnder(join(REPO_ROOT, 'charts', 'graft')), 'the graft chart');

    const env = { KUBECONFIG: cp.kubeconfigPath, RUNTIME_NAMESPACE: FLUX_NS };
    const addr = async () => `127.0.0.1:${await freePort()}`;
    const storage = await addr();
    mkdirSync(join(work, 'artifacts'));
    procs.push(new Proc('source-controller', bins.source, [
      `--storage-path=${join(work, 'artifacts')}`, `--storage-addr=${storage}`, `--storage-adv-addr=${storage}`,
      `--metrics-addr=${await addr()}`, `--health-addr=${await addr()}`,
    ], { env }));
    procs.push(new Proc('helm-controller', bins.helm, [`--metrics-addr=${await addr()}`, `--health-addr=${await addr()}`], { env }));
  }, 600_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const p of procs) console.error(`${p.name} log:\n${p.output.slice(-5000)}`);
  });

  afterAll(async () => {
    for (const p of procs) await p.stop();
    await git?.stop();
    await cp?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs the chart from Git, CRDs kept, and upgrades it when the values change', async () => {
    const [repo, release] = parseAllDocuments(readFileSync(join(REPO_ROOT, 'gitops', 'flux', 'helmrelease.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
    Object.assign(repo.spec, { url: git.url, interval: '5s', ref: { branch: 'main' } });
    await create(`/apis/source.toolkit.fluxcd.io/v1/namespaces/${FLUX_NS}/gitrepositories`, repo);
    release.spec.interval = '10s';
    const start = Date.now();
    await create(`/apis/helm.toolkit.fluxcd.io/v2/namespaces/${FLUX_NS}/helmreleases`, release);
    const hr = await releasedOn(1);
    console.log(`HelmRelease Ready ${((Date.now() - start) / 1000).toFixed(1)} s after it was created`);
    expect(cond(hr, 'Ready')!.reason).toBe('InstallSucceeded');

    const crd = (await get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/basemodels.graft.dev'))!;
    expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    const dep = (await get('/apis/apps/v1/namespaces/graft-system/deployments/graft'))!;
    expect(dep.spec.replicas).toBe(2);

    const r = await rawRequest(cp.kubeConfig, 'PATCH', hrPath, { spec: { values: { replicaCount: 3 } } }, 'application/merge-patch+json');
    expect(r.status, r.text).toBe(200);
    const upgraded = await releasedOn(2);
    expect(cond(upgraded, 'Ready')!.reason).toBe('UpgradeSucceeded');
    expect((await get('/apis/apps/v1/namespaces/graft-system/deployments/graft'))!.spec.replicas).toBe(3);
  });
});
