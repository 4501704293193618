import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KINDS } from '../../src/api/kinds.js';
import { INSTALL_MANIFEST } from '../../src/install/manifests.js';
import { DEFAULT_IMAGE } from '../../src/version.js';
import { waitFor } from '../../src/sandbox/wait.js';
import {
  GRAFT_IMAGE, adPath, bmPath, isReady, kube, loadedPods, servingPods, startSandbox, waitAdapter, waitPods,
  type BareSandbox, type Obj,
} from '../support/sandbox.js';
import { toolPath } from '../support/tools.js';

// The installed operator, end to end: `kubectl apply --server-side -f manifests/install.yaml` and
// `helm install charts/graft` on the sandbox (control plane, KWOK, versitygw, the pod runner), with
// no operator of the sandbox's own. The operator's pods run as local `graft` processes
// (src/sandbox/graft-pods.ts) with their ServiceAccount's token, so what they may do is exactly the
// chart's RBAC; one takes the Lease; the example BaseModel and Adapter become Ready with the adapter
// really loaded in the engine simulators. Then `helm upgrade` rolls the pods, `helm test` runs
// `graft check` in its Pod, and `helm uninstall` leaves the CRDs and the objects (crds.keep).
const root = join(import.meta.dirname, '..', '..');
const chart = join(root, 'charts', 'graft');
const examples = join(root, 'manifests', 'examples');
const helmHome = mkdtempSync(join(tmpdir(), 'graft-helm-'));
const LEASE = 'graft-operator';

type Result = { code: number; stdout: string; stderr: string };
function sh(cmd: string, args: string[], kubeconfig: string, input?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, {
      cwd: root, maxBuffer: 64 << 20,
      env: {
        PATH: process.env.PATH, HOME: helmHome, HELM_CACHE_HOME: join(helmHome, 'cache'), HELM_CONFIG_HOME: join(helmHome, 'config'),
        HELM_DATA_HOME: join(helmHome, 'data'), KUBECONFIG: kubeconfig,
      },
    }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

const example = (file: string, kind: string, name: string): Obj => {
  const found = parseAllDocuments(readFileSync(join(examples, file), 'utf8')).map((d) => d.toJS() as Obj).find((o) => o?.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${file}: no ${kind} ${name}`);
  return found;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe('the installed operator (e2e)', () => {
  let sb: BareSandbox;
  let kubectl: (args: string[], input?: string) => Promise<Result>;
  let helm: (...args: string[]) => Promise<Result>;
  const times: string[] = [];

  // The operator pods of an install, as GraftPods runs them.
  const operatorProcs = (ns: string) => [...sb.graftPods.running.values()].filter((r) => r.key.startsWith(`${ns}/graft-`) && !r.key.endsWith('-test'));

  // The Lease's holder, and the pod whose process logged that identity at start.
  async function leader(ns: string): Promise<{ identity: string; pod: string } | undefined> {
    const lease = await kube(sb).get(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${LEASE}`);
    const identity = lease?.spec?.holderIdentity as string | undefined;
    if (!identity) return undefined;
    const proc = operatorProcs(ns).find((r) => r.output.includes(`"identity":"${identity}"`));
    return proc ? { identity, pod: proc.key.split('/')[1]! } : undefined;
  }
  async function waitLeader(ns: string, t0: number, what: string, not?: Set<string>): Promise<{ identity: string; pod: string }> {
    let got: { identity: string; pod: string } | undefined;
    await waitFor(`a pod of ${ns} holding the Lease ${LEASE}`, async () => !!(got = await leader(ns)) && !not?.has(got.pod), 120_000, 250)
      .catch((err: Error) => { throw new Error(`${err.message}\n${operatorProcs(ns).map((r) => `--- ${r.key}:\n${r.output.slice(-3000)}`).join('\n')}`); });
    times.push(`${what}: ${secs(Date.now() - t0)}`);
    return got!;
  }

  // The operator pod is a pod of the install's Deployment, running with its ServiceAccount.
  async function expectOperatorPod(ns: string, pod: string): Promise<Obj> {
    const p = (await kube(sb).get(`/api/v1/namespaces/${ns}/pods/${pod}`))!;
    expect(p.spec.containers[0].image).toBe(GRAFT_IMAGE);
    expect(p.spec.serviceAccountName).toBe('graft');
    expect(p.metadata.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
    // Its probes answer on its own pod address (":8081" in its arguments, in its own network namespace).
    const r = await fetch(`http://${p.status.podIP}:8081/readyz`);
    expect(r.status).toBe(200);
    return p;
  }

  // The example BaseModel (with the sandbox's S3) and the example Adapter "tigrinya" become Ready,
  // the adapter served by the engines of the pods its status names.
  async function examplesReady(t0: number, what: string): Promise<void> {
    const bm = example('basemodel.yaml', 'BaseModel', 'gpt2');
    bm.spec.replicas = 2;
    bm.spec.storage.s3 = { ...bm.spec.storage.s3, endpoint: sb.gw.endpoint, credentialsSecretRef: { name: 's3-creds' } };
    const ad = example('adapters.yaml', 'Adapter', 'tigrinya');
    const apply = await kubectl(['apply', '--server-side', '--field-manager=e2e', '-n', 'default', '-f', '-'], [bm, ad].map((o) => JSON.stringify(o)).join('\n---\n'));
    expect(apply.code, apply.stderr).toBe(0);
    await waitPods(sb, 'gpt2', 2, 120_000);
    const a = await waitAdapter(sb, 'tigrinya', 'Ready on 2 pods', (x) => isReady(x, 2), 120_000);
    times.push(`${what}: ${secs(Date.now() - t0)}`);
    expect(loadedPods(a)).toHaveLength(2);
    expect(await servingPods(sb, 'tigrinya', 'gpt2')).toEqual(loadedPods(a));
  }

  beforeAll(async () => {
    sb = await startSandbox({ operator: false, crds: false });
    const kc = sb.cp.kubeconfigPath;
    const kubectlBin = toolPath('kubectl');
    const helmBin = toolPath('helm');
    kubectl = (args, input) => sh(kubectlBin, args, kc, input);
    helm = (...args) => sh(helmBin, args, kc);
    // Where the example Adapter reads from.
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'gpt2-causal-tigrinya/');
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    for (const r of sb.graftPods.running.values()) console.error(`--- ${r.key}:\n${r.output.slice(-4000)}`);
    for (const e of sb.graftPods.exits) console.error(`--- exited ${e.key} (${e.code}):\n${e.output}`);
    for (const ns of ['graft-system', 'graft-helm']) {
      for (const p of ((await kube(sb).get(`/api/v1/namespaces/${ns}/pods`))?.items as Obj[] | undefined) ?? []) {
        console.error(`pod ${ns}/${p.metadata.name}${p.metadata.deletionTimestamp ? ' (deleting)' : ''}: ${JSON.stringify(p.status)}`);
      }
    }
    for (const a of ((await kube(sb).get(adPath()))?.items as Obj[] | undefined) ?? []) console.error(`${a.metadata.name}: ${JSON.stringify(a.status)}`);
  });
  afterAll(async () => {
    process.stdout.write(`[install-e2e] ${times.join('; ')}\n`);
    await sb?.stop();
    rmSync(helmHome, { recursive: true, force: true });
  });

  it(`kubectl apply --server-side -f ${INSTALL_MANIFEST}: the operator pod takes the Lease, the examples become Ready; kubectl delete removes it all`, async () => {
    // The image, pointed at the sandbox's Graft image as a user points it at a mirror.
    const text = readFileSync(join(root, INSTALL_MANIFEST), 'utf8');
    expect(text).toContain(`image: ${DEFAULT_IMAGE}`);
    const manifest = text.replaceAll(DEFAULT_IMAGE, GRAFT_IMAGE);
    const t0 = Date.now();
    const r = await kubectl(['apply', '--server-side', '--field-manager=graft-install', '-f', '-'], manifest);
    expect(r.code, r.stderr).toBe(0);
    const lead = await waitLeader('graft-system', t0, 'install.yaml: apply to Lease held');
    await expectOperatorPod('graft-system', lead.pod);
    // Two replicas run, one leads.
    await waitFor('two operator processes', () => operatorProcs('graft-system').length === 2, 60_000, 250);
    // The master key the operator made in its own namespace (its Role's one Secret).
    expect(await kube(sb).get('/api/v1/namespaces/graft-system/secrets/graft-operator-key')).toBeDefined();
    await examplesReady(t0, 'install.yaml: apply to Adapter Ready');

    // The leader's process dies (SIGKILL): its pod is reported as a kubelet reports it (not Ready,
    // CrashLoopBackOff, lastState 137), the other replica takes the Lease, and the same pod's
    // container is started again after the back-off; the ReplicaSet does not replace the pod.
    const victim = [...sb.graftPods.running.values()].find((r) => r.key === `graft-system/${lead.pod}`)!;
    const podPathOf = `/api/v1/namespaces/graft-system/pods/${lead.pod}`;
    const status = async () => (await kube(sb).get(podPathOf))?.status?.containerStatuses?.[0] as Obj | undefined;
    const tk = Date.now();
    victim.child.kill('SIGKILL');
    await waitFor('the killed container waiting in CrashLoopBackOff', async () => (await status())?.state?.waiting?.reason === 'CrashLoopBackOff', 20_000, 100);
    const crashed = (await kube(sb).get(podPathOf))!;
    expect(crashed.status.phase).toBe('Running');
    expect(crashed.status.conditions.find((c: Obj) => c.type === 'Ready').status).toBe('False');
    expect(crashed.status.containerStatuses[0]).toMatchObject({ restartCount: 1, ready: false, lastState: { terminated: { exitCode: 137, reason: 'Error' } } });
    const other = await waitLeader('graft-system', tk, 'install.yaml: leader killed to the other replica holding the Lease', new Set([lead.pod]));
    expect(other.pod).not.toBe(lead.pod);
    await waitFor('the killed container running again', async () => {
      const st = await status();
      return st?.state?.running !== undefined && st.ready === true && st.restartCount === 1;
    }, 30_000, 250);
    times.push(`install.yaml: leader killed to its container restarted: ${secs(Date.now() - tk)}`);
    expect(sb.graftPods.running.has(victim.uid)).toBe(true);
    expect(operatorProcs('graft-system').map((r) => r.key.split('/')[1]).sort()).toEqual([lead.pod, other.pod].sort());

    // Clean up for the helm install: the objects first, while the operator can still remove its
    // finalizers, then everything install.yaml made.
    await kube(sb).del(adPath('tigrinya'));
    await kube(sb).del(bmPath('gpt2'));
    await waitFor('the examples deleted', async () => !(await kube(sb).get(adPath('tigrinya'))) && !(await kube(sb).get(bmPath('gpt2'))), 60_000, 250);
    const d = await kubectl(['delete', '--wait', '--timeout=120s', '-f', '-'], manifest);
    expect(d.code, d.stderr).toBe(0);
    await waitFor('no operator processes', () => operatorProcs('graft-system').length === 0, 30_000, 250);
    for (const k of KINDS) expect(await kube(sb).get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k.plural}.graft.dev`)).toBeUndefined();
  }, 400_000);

  it('helm install → Ready; helm upgrade rolls the operator; helm test passes; helm uninstall keeps the CRDs and the objects', async () => {
    const ns = 'graft-helm';
    const t0 = Date.now();
    let r = await helm('install', 'graft', chart, '--namespace', ns, '--create-namespace', '--set', `image.tag=${GRAFT_IMAGE.split(':')[1]}`);
    expect(r.code, r.stderr).toBe(0);
    const first = await waitLeader(ns, t0, 'helm install to Lease held');
    await expectOperatorPod(ns, first.pod);
    await examplesReady(t0, 'helm install to Adapter Ready');

    // helm upgrade with a changed value: a new ReplicaSet, the old pods' processes stopped, and a
    // new pod leading with the new flag.
    const before = new Set(operatorProcs(ns).map((p) => p.key.split('/')[1]!));
    const t1 = Date.now();
    r = await helm('upgrade', 'graft', chart, '--namespace', ns, '--reuse-values', '--set', 'operator.logLevel=debug');
    expect(r.code, r.stderr).toBe(0);
    await waitFor('the old operator pods gone', () => operatorProcs(ns).every((p) => !before.has(p.key.split('/')[1]!)) && operatorProcs(ns).length === 2, 120_000, 250);
    const next = await waitLeader(ns, t1, 'helm upgrade to a new pod holding the Lease', before);
    const p = await expectOperatorPod(ns, next.pod);
    expect(p.spec.containers[0].args).toContain('--log-level=debug');
    // The Adapter stays Ready under the new leader.
    await waitAdapter(sb, 'tigrinya', 'Ready after the upgrade', (x) => isReady(x, 2), 60_000);

    // helm test: its Pod runs `graft check` (CRDs served, /readyz through the metrics Service).
    const t2 = Date.now();
    r = await helm('test', 'graft', '--namespace', ns, '--timeout', '150s');
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/TEST SUITE:\s+graft-test[\s\S]*Phase:\s+Succeeded/);
    const run = sb.graftPods.exits.find((e) => e.key === `${ns}/graft-test`);
    expect(run?.code).toBe(0);
    times.push(`helm test: ${secs(Date.now() - t2)}`);

    // helm uninstall: the operator goes, the CRDs (crds.keep) and the objects stay.
    r = await helm('uninstall', 'graft', '--namespace', ns);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('no operator processes', () => operatorProcs(ns).length === 0, 30_000, 250);
    expect(await kube(sb).get(`/apis/apps/v1/namespaces/${ns}/deployments/graft`)).toBeUndefined();
    for (const k of KINDS) expect(await kube(sb).get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k.plural}.graft.dev`)).toBeDefined();
    expect(await kube(sb).get(bmPath('gpt2'))).toBeDefined();
    expect(isReady(await kube(sb).get(adPath('tigrinya')), 2)).toBe(true);
  }, 400_000);
});
