import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crdOf } from '../../src/api/crd.js';
import { KINDS } from '../../src/api/kinds.js';
import { AGENT_UID } from '../../src/contracts/names.js';
import { INSTALL_MANIFEST, INSTALL_NAMESPACE, renderInstallManifest } from '../../src/install/manifests.js';
import { policyRule } from '../../src/rbac/manifests.js';
import { CLUSTER_RULES, WATCHED_NAMESPACE_RULES, ownNamespaceRules } from '../../src/rbac/rules.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { DEFAULT_IMAGE } from '../../src/version.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { waitFor } from '../support/ports.js';
import { toolPath } from '../support/tools.js';

// charts/graft with the real helm (and kubectl) binaries: lint and template for the default values
// and every file in charts/graft/ci/, the schema refusing bad values by path, manifests/install.yaml
// identical to a fresh render, and both installs against a real API server (objects accepted with
// strict field validation, pods admitted under the restricted Pod Security Standard, helm install,
// upgrade and uninstall keeping the CRDs). Running the installed operator is the sandbox's part.
type Obj = Record<string, any>;
const root = join(import.meta.dirname, '..', '..');
const chart = join(root, 'charts', 'graft');
const ciFiles = readdirSync(join(chart, 'ci')).filter((f) => f.endsWith('.yaml')).sort();
const helmHome = mkdtempSync(join(tmpdir(), 'graft-helm-'));
const CLUSTER_SCOPED = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'Namespace']);

let helmBin = '';
let kubectlBin = '';

type Result = { code: number; stdout: string; stderr: string };
function sh(cmd: string, args: string[], opts: { input?: string; kubeconfig?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, {
      cwd: root, maxBuffer: 64 << 20,
      env: {
        PATH: process.env.PATH, HOME: helmHome, HELM_CACHE_HOME: join(helmHome, 'cache'), HELM_CONFIG_HOME: join(helmHome, 'config'),
        HELM_DATA_HOME: join(helmHome, 'data'), ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}),
      },
    }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    if (opts.input !== undefined) { child.stdin!.end(opts.input); }
  });
}
const helm = (...args: string[]) => sh(helmBin, args);

function docs(text: string): Obj[] {
  const out: Obj[] = [];
  for (const d of parseAllDocuments(text)) {
    // Duplicate keys and other YAML errors fail here: kubectl would refuse them too.
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('\n'));
    const o = d.toJS() as Obj | null;
    if (o) out.push(o);
  }
  return out;
}

async function template(valuesFile?: string, ...extra: string[]): Promise<Obj[]> {
  const args = ['template', 'graft', chart, '--namespace', 'graft-system', ...(valuesFile ? ['-f', join(chart, 'ci', valuesFile)] : []), ...extra];
  const r = await helm(...args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  return docs(r.stdout);
}

const find = (objs: Obj[], kind: string, name?: string) => objs.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
const one = (objs: Obj[], kind: string, name?: string) => {
  const f = find(objs, kind, name);
  expect(f.map((o) => `${o.kind}/${o.metadata.name}`), `exactly one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return f[0]!;
};
const argsOf = (d: Obj) => d.spec.template.spec.containers[0].args as string[];
const flag = (d: Obj, name: string) => argsOf(d).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const isSubset = (sub: Record<string, string>, of: Record<string, string>) => Object.entries(sub).every(([k, v]) => of[k] === v);

const RESTRICTED_CONTAINER = {
  runAsNonRoot: true, runAsUser: AGENT_UID, runAsGroup: AGENT_UID, allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
};

// What holds for every render: objects land in the release namespace, selectors agree, every pod
// is restricted and runs as the image's uid with a writable /tmp only.
function invariants(objs: Obj[]): void {
  for (const o of objs) {
    if (!CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name} has a namespace`).toBeTruthy();
  }
  const dep = one(objs, 'Deployment');
  const podLabels = dep.spec.template.metadata.labels as Record<string, string>;
  expect(isSubset(dep.spec.selector.matchLabels, podLabels)).toBe(true);
  // The BaseModels' NetworkPolicies admit the operator by these labels: they must be the pods' own.
  const npLabels = Object.fromEntries(flag(dep, 'operator-pod-labels')!.split(',').map((kv) => kv.split('=')));
  expect(isSubset(npLabels, podLabels), `--operator-pod-labels ${JSON.stringify(npLabels)} ⊄ pod labels`).toBe(true);
  for (const svc of find(objs, 'Service')) expect(isSubset(svc.spec.selector, podLabels)).toBe(true);
  for (const pdb of find(objs, 'PodDisruptionBudget')) expect(pdb.spec.selector.matchLabels).toEqual(dep.spec.selector.matchLabels);
  const pods = [dep.spec.template.spec, ...find(objs, 'Pod').map((p) => p.spec)];
  for (const spec of pods) {
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: AGENT_UID, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of spec.containers) {
      expect(c.securityContext).toEqual(RESTRICTED_CONTAINER);
      expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    }
    expect(spec.volumes).toEqual([expect.objectContaining({ name: 'tmp', emptyDir: expect.any(Object) })]);
  }
}

beforeAll(() => {
  helmBin = toolPath('helm');
  kubectlBin = toolPath('kubectl');
});
afterAll(() => rmSync(helmHome, { recursive: true, force: true }));

describe('charts/graft with helm', () => {
  it('lints clean (no warnings) for the default values and every ci/ file', async () => {
    for (const f of [undefined, ...ciFiles]) {
      const r = await helm('lint', '--strict', chart, ...(f ? ['-f', join(chart, 'ci', f)] : []));
      expect(r.code, `${f ?? 'defaults'}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout, f).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('renders the default values: two leader-electing replicas, probes, PDB, RBAC and CRDs from the sources', async () => {
    const objs = await template();
    invariants(objs);
    expect(objs.map((o) => o.kind).sort()).toEqual([
      'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'CustomResourceDefinition', 'CustomResourceDefinition',
      'Deployment', 'Pod', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount',
    ]);
    const dep = one(objs, 'Deployment');
    expect(dep.spec.replicas).toBe(2);
    expect(argsOf(dep)).toContain('--leader-elect');
    expect(flag(dep, 'leader-election-namespace')).toBe('graft-system');
    expect(flag(dep, 'namespaces')).toBeUndefined();
    const c = dep.spec.template.spec.containers[0];
    // One image name everywhere: src/version.ts.
    expect(c.image).toBe(DEFAULT_IMAGE);
    expect(flag(dep, 'agent-image')).toBe(DEFAULT_IMAGE);
    expect(one(objs, 'Pod').spec.containers[0].image).toBe(DEFAULT_IMAGE);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }, { name: 'health', containerPort: 8081, protocol: 'TCP' }]);
    expect(flag(dep, 'metrics-bind-address')).toBe(':8080');
    expect(flag(dep, 'health-probe-bind-address')).toBe(':8081');
    expect(c.resources.requests).toEqual({ cpu: '100m', memory: '256Mi' });
    expect(dep.spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(dep.spec.template.spec.serviceAccountName).toBe(one(objs, 'ServiceAccount').metadata.name);
    expect(one(objs, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
    expect(one(objs, 'Service').spec.ports.map((p: Obj) => [p.name, p.port])).toEqual([['metrics', 8080], ['health', 8081]]);

    // RBAC: exactly src/rbac/rules.ts.
    expect(one(objs, 'ClusterRole').rules).toEqual([...WATCHED_NAMESPACE_RULES, ...CLUSTER_RULES].map(policyRule));
    const own = one(objs, 'Role');
    expect(own.metadata.namespace).toBe('graft-system');
    expect(own.rules).toEqual(ownNamespaceRules({ leaseName: 'graft-operator', masterKeySecret: 'graft-operator-key' }).map(policyRule));
    for (const b of [one(objs, 'ClusterRoleBinding'), one(objs, 'RoleBinding')]) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: one(objs, 'ServiceAccount').metadata.name, namespace: 'graft-system' }]);
    }

    // CRDs: exactly src/api's, kept on uninstall.
    for (const k of KINDS) {
      const crd = one(objs, 'CustomResourceDefinition', `${k.plural}.graft.dev`);
      expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      const want = crdOf(k) as Obj;
      expect(crd.spec).toEqual(want.spec);
      expect(isSubset(want.metadata.labels, crd.metadata.labels)).toBe(true);
    }

    // The helm test hook.
    const test = one(objs, 'Pod');
    expect(test.metadata.annotations['helm.sh/hook']).toBe('test');
    expect(test.spec.containers[0].args).toEqual(['check', '--crds', '--ready-url=http://graft-metrics.graft-system.svc:8081/readyz', '--timeout=120s']);
  });

  const expectations: Record<string, (objs: Obj[]) => void> = {
    'namespaced-values.yaml': (objs) => {
      const dep = one(objs, 'Deployment');
      expect(flag(dep, 'namespaces')).toBe('team-a,team-b');
      expect(flag(dep, 'allowed-host-paths')).toBe('/mnt/models');
      expect(flag(dep, 'log-level')).toBe('debug');
      expect(dep.spec.replicas).toBe(3);
      // No ClusterRole: CLUSTER_RULES is empty, and each watched namespace has its own Role.
      expect(find(objs, 'ClusterRole')).toEqual([]);
      expect(find(objs, 'ClusterRoleBinding')).toEqual([]);
      for (const ns of ['team-a', 'team-b']) {
        const role = find(objs, 'Role').find((r) => r.metadata.namespace === ns)!;
        expect(role.rules).toEqual(WATCHED_NAMESPACE_RULES.map(policyRule));
        expect(find(objs, 'RoleBinding').find((r) => r.metadata.namespace === ns)!.subjects[0].namespace).toBe('graft-system');
      }
    },
    'no-crds-values.yaml': (objs) => {
      expect(find(objs, 'CustomResourceDefinition')).toEqual([]);
    },
    'servicemonitor-values.yaml': (objs) => {
      const sm = one(objs, 'ServiceMonitor');
      const svc = one(objs, 'Service');
      expect(isSubset(sm.spec.selector.matchLabels, svc.metadata.labels)).toBe(true);
      expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '10s' }]);
      expect(svc.spec.ports.map((p: Obj) => p.name)).toContain('metrics');
      expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
      const np = one(objs, 'NetworkPolicy');
      expect(np.spec.podSelector.matchLabels).toEqual(one(objs, 'Deployment').spec.selector.matchLabels);
      expect(np.spec.ingress).toEqual([{
        ports: [{ port: 'metrics', protocol: 'TCP' }, { port: 'health', protocol: 'TCP' }],
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      }]);
    },
    'private-registry-values.yaml': (objs) => {
      const ref = `registry.example.com/mirror/graft@sha256:${'0'.repeat(64)}`;
      const dep = one(objs, 'Deployment');
      expect(dep.spec.template.spec.containers[0].image).toBe(ref);
      expect(flag(dep, 'agent-image')).toBe(ref);
      expect(one(objs, 'Pod').spec.containers[0].image).toBe(ref);
      for (const spec of [dep.spec.template.spec, one(objs, 'Pod').spec]) expect(spec.imagePullSecrets).toEqual([{ name: 'registry-credentials' }]);
    },
    'single-replica-values.yaml': (objs) => {
      const dep = one(objs, 'Deployment');
      expect(dep.spec.replicas).toBe(1);
      expect(argsOf(dep)).toContain('--no-leader-elect');
      expect(find(objs, 'PodDisruptionBudget')).toEqual([]);
      for (const crd of find(objs, 'CustomResourceDefinition')) expect(crd.metadata.annotations).toBeUndefined();
    },
  };

  it('has an expectation for every ci/ file', () => {
    expect(ciFiles).toEqual(Object.keys(expectations).sort());
  });

  for (const f of ciFiles) {
    it(`renders ci/${f}`, async () => {
      const objs = await template(f);
      invariants(objs);
      expectations[f]!(objs);
    });
  }

  it('refuses a misspelt or mistyped value, naming its path', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--set', 'imagee.tag=x'], /at '': additional properties 'imagee' not allowed/],
      [['--set', 'crds.kep=true'], /at '\/crds': additional properties 'kep' not allowed/],
      [['--set', 'operator.leaderElection.leaseDurration=20s'], /at '\/operator\/leaderElection': additional properties 'leaseDurration' not allowed/],
      [['--set', 'replicaCount=two'], /at '\/replicaCount': got string, want integer/],
      [['--set', 'operator.logLevel=loud'], /at '\/operator\/logLevel': value must be one of/],
      [['--set', 'operator.syncPeriod=10 minutes'], /at '\/operator\/syncPeriod'/],
      [['--set', 'watchNamespaces[0]=Team_A'], /at '\/watchNamespaces\/0'/],
    ];
    for (const [args, want] of cases) {
      const r = await helm('template', 'graft', chart, ...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(want);
    }
    // What the schema cannot say, the templates refuse with the value's name.
    const r = await helm('template', 'graft', chart, '--set', 'operator.leaderElection.enabled=false');
    expect(r.stderr).toMatch(/operator\.leaderElection\.enabled: must be true when replicaCount > 1/);
    const sm = await helm('template', 'graft', chart, '--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.service.enabled=false', '--set', 'tests.enabled=false');
    expect(sm.code).not.toBe(0);
    expect(sm.stderr).toMatch(/metrics\.serviceMonitor\.enabled: needs metrics\.service\.enabled/);
  });

  it(`${INSTALL_MANIFEST} is the chart rendered with its defaults (run \`make manifests\` when this fails)`, async () => {
    const fresh = await renderInstallManifest(helmBin, root);
    const committed = readFileSync(join(root, INSTALL_MANIFEST), 'utf8');
    expect(committed === fresh, `${INSTALL_MANIFEST} differs from a fresh render: run \`make manifests\` and commit it`).toBe(true);
    const objs = docs(committed);
    expect(objs[0]).toMatchObject({ kind: 'Namespace', metadata: { name: INSTALL_NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    // No helm test hook in the plain manifests.
    expect(find(objs, 'Pod')).toEqual([]);
    invariants(objs);
  });
});

// Each install path on a cluster of its own: a cluster that held a helm release keeps its CRDs
// (crds.keep) with helm as their field manager, and a later `kubectl apply --server-side` of the
// same CRDs conflicts on spec.versions (docs/install.md: --force-conflicts when switching).
function onControlPlane() {
  const ctx = {} as {
    cp: ControlPlane;
    kubectl: (args: string[], input?: string) => Promise<Result>;
    helmK: (...args: string[]) => Promise<Result>;
    get: (path: string) => Promise<Obj | undefined>;
  };
  // The chart's CRDs come from the chart: the control plane starts without them.
  beforeAll(async () => {
    ctx.cp = await startControlPlane({ crds: false });
    ctx.kubectl = (args, input) => sh(kubectlBin, args, { input, kubeconfig: ctx.cp.kubeconfigPath });
    ctx.helmK = (...args) => sh(helmBin, args, { kubeconfig: ctx.cp.kubeconfigPath });
    ctx.get = async (path) => {
      const r = await rawRequest(ctx.cp.kubeConfig, 'GET', path);
      return r.status === 200 ? (r.body as Obj) : undefined;
    };
  }, 240_000);
  afterAll(async () => { await ctx.cp?.stop(); });
  return ctx;
}
const established = (crd: Obj | undefined) => crd?.status?.conditions?.some((c: Obj) => c.type === 'Established' && c.status === 'True');

describe('helm install on a real API server', () => {
  const ctx = onControlPlane();
  it('helm install, a refused typo, helm upgrade with a changed value, and helm uninstall keeping the CRDs and the objects', async () => {
    let r = await ctx.helmK('install', 'graft', chart, '--namespace', 'graft-system', '--create-namespace', '--set', 'imagee.tag=v1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/at '': additional properties 'imagee' not allowed/);
    const t0 = Date.now();
    r = await ctx.helmK('install', 'graft', chart, '--namespace', 'graft-system', '--create-namespace');
    expect(r.code, r.stderr).toBe(0);
    for (const k of KINDS) {
      await waitFor(`${k.plural} Established`, async () => established(await ctx.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k.plural}.graft.dev`)), 30_000, 200);
    }
    const installMs = Date.now() - t0;
    // A custom resource the CRDs accept (the example, as a user would apply it).
    r = await ctx.kubectl(['apply', '--server-side', '-n', 'default', '-f', join(root, 'manifests', 'examples', 'basemodel.yaml')]);
    expect(r.code, r.stderr).toBe(0);

    r = await ctx.helmK('upgrade', 'graft', chart, '--namespace', 'graft-system', '--reuse-values', '--set', 'crds.kep=true');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/at '\/crds': additional properties 'kep' not allowed/);

    r = await ctx.helmK('upgrade', 'graft', chart, '--namespace', 'graft-system', '--reuse-values', '--set', 'operator.logLevel=debug');
    expect(r.code, r.stderr).toBe(0);
    const dep = await ctx.get('/apis/apps/v1/namespaces/graft-system/deployments/graft');
    expect(dep!.spec.template.spec.containers[0].args).toContain('--log-level=debug');
    expect(dep!.metadata.annotations['meta.helm.sh/release-name']).toBe('graft');

    r = await ctx.helmK('uninstall', 'graft', '--namespace', 'graft-system');
    expect(r.code, r.stderr).toBe(0);
    expect(await ctx.get('/apis/apps/v1/namespaces/graft-system/deployments/graft')).toBeUndefined();
    expect(await ctx.get('/apis/rbac.authorization.k8s.io/v1/clusterroles/graft')).toBeUndefined();
    // crds.keep: the CRDs and the BaseModel stay.
    for (const k of KINDS) expect(established(await ctx.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k.plural}.graft.dev`))).toBe(true);
    expect(await ctx.get('/apis/graft.dev/v1alpha1/namespaces/default/basemodels/gpt2')).toBeDefined();
    process.stdout.write(`[chart] helm install to CRDs Established: ${installMs} ms\n`);
  });
});

describe(`kubectl apply of ${INSTALL_MANIFEST} on a real API server`, () => {
  const ctx = onControlPlane();

  it(`kubectl apply --server-side -f ${INSTALL_MANIFEST} is accepted with strict field validation`, async () => {
    const t0 = Date.now();
    const r = await ctx.kubectl(['apply', '--server-side', '--field-manager=graft-install', '--validate=strict', '-f', join(root, INSTALL_MANIFEST)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/warning/i);
    const dep = await ctx.get(`/apis/apps/v1/namespaces/${INSTALL_NAMESPACE}/deployments/graft`);
    expect(dep!.spec.replicas).toBe(2);
    const ns = await ctx.get(`/api/v1/namespaces/${INSTALL_NAMESPACE}`);
    expect(ns!.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    process.stdout.write(`[chart] kubectl apply of ${INSTALL_MANIFEST}: ${Date.now() - t0} ms\n`);
  });

  it('the operator pod and the helm test pod pass the restricted Pod Security Standard (enforced in graft-system)', async () => {
    const objs = await template();
    const dep = one(objs, 'Deployment');
    const pods = [
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'graft-operator-psa', namespace: INSTALL_NAMESPACE, labels: dep.spec.template.metadata.labels }, spec: dep.spec.template.spec },
      one(objs, 'Pod'),
    ];
    for (const pod of pods) {
      const res = await rawRequest(ctx.cp.kubeConfig, 'POST', `/api/v1/namespaces/${INSTALL_NAMESPACE}/pods?dryRun=All&fieldValidation=Strict`, pod);
      expect(res.status, `${pod.metadata.name}: ${res.text}`).toBe(201);
    }
    // The admission really enforces: the same pod without its securityContext is refused.
    const bare = structuredClone(pods[0]!) as Obj;
    delete bare.spec.securityContext;
    delete bare.spec.containers[0].securityContext;
    const refused = await rawRequest(ctx.cp.kubeConfig, 'POST', `/api/v1/namespaces/${INSTALL_NAMESPACE}/pods?dryRun=All`, bare);
    expect(refused.status).toBe(403);
    expect((refused.body as Obj).message).toMatch(/violates PodSecurity "restricted:latest"/);
  });

  it('every ci/ render is accepted by the API server (server-side dry run, strict field validation)', async () => {
    for (const ns of ['team-a', 'team-b']) await ctx.kubectl(['create', 'namespace', ns]);
    for (const f of ciFiles) {
      // The ServiceMonitor kind needs the Prometheus Operator's CRDs, which this cluster lacks.
      const objs = (await template(f)).filter((o) => o.kind !== 'ServiceMonitor');
      const input = objs.map((o) => JSON.stringify(o)).join('\n---\n');
      const r = await ctx.kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=graft-ci', '--force-conflicts', '--validate=strict', '-f', '-'], input);
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim().split('\n').length, f).toBe(objs.length);
    }
    // The ServiceMonitor is valid YAML of the right shape at least (its schema is not checked here).
    expect(parse(JSON.stringify(one(await template('servicemonitor-values.yaml'), 'ServiceMonitor'))).apiVersion).toBe('monitoring.coreos.com/v1');
  });
});
