import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/ports.js';
import { toolPath } from '../support/tools.js';
import {
  adapterObj, adPath, bmPath, dumpOnFailure, gpt2BaseModel, isReady, kube, loadedPods, NS, podsOf, servingPods, startSandbox, waitAdapter, waitPods,
  type Obj, type Sandbox,
} from '../support/sandbox.js';

const exec = promisify(execFile);

// The BaseModel's scale subresource, driven by the real clients of it: `kubectl scale` and the
// controller manager's HPA controller. Graft owns the Deployment's replicas (from spec.replicas,
// which /scale writes) and places an adapter with replicas All on the pods that scaling adds.
describe('BaseModel scale subresource (e2e)', () => {
  let sb: Sandbox;
  const k = () => kube(sb);
  const kubectl = async (...args: string[]) =>
    (await exec(toolPath('kubectl'), ['--kubeconfig', sb.cp.kubeconfigPath, '-n', NS, ...args], { encoding: 'utf8' })).stdout;
  const deploymentReplicas = async () => (await k().get(`/apis/apps/v1/namespaces/${NS}/deployments/gpt2`))?.spec?.replicas as number | undefined;
  // Ready on exactly these pods, each engine really serving it.
  const onEveryPod = async (n: number) => {
    const a = await waitAdapter(sb, 'everywhere', `Ready on ${n} pods`, (x) => isReady(x, n) && loadedPods(x!).length === n);
    expect(loadedPods(a)).toEqual(podsOf(sb, 'gpt2'));
    expect(await servingPods(sb, 'everywhere', 'gpt2')).toEqual(podsOf(sb, 'gpt2'));
  };

  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'tigrinya/v1/');
    await k().post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 1 }));
    await waitPods(sb, 'gpt2', 1);
    await k().post(adPath(), adapterObj('everywhere', 'gpt2', { source: { uri: 's3://adapters/tigrinya/v1/' }, replicas: 'All' }));
    await onEveryPod(1);
  });
  afterEach(async (ctx) => { await dumpOnFailure(sb, ctx.task.result?.state === 'fail'); });
  afterAll(async () => { await sb?.stop(); });

  it('publishes replicas and the pods\' selector on /scale', async () => {
    await waitFor('status.selector', async () => (await k().get(bmPath('gpt2')))?.status?.selector !== undefined, 30_000, 200);
    const scale = JSON.parse(await kubectl('get', 'basemodel', 'gpt2', '--subresource=scale', '-o', 'json')) as Obj;
    expect(scale).toMatchObject({
      kind: 'Scale', apiVersion: 'autoscaling/v1',
      spec: { replicas: 1 }, status: { replicas: 1, selector: 'graft.dev/basemodel=gpt2' },
    });
    // The selector selects exactly the serving pods.
    const pods = JSON.parse(await kubectl('get', 'pods', '-l', scale.status.selector, '-o', 'json')) as Obj;
    expect((pods.items as Obj[]).map((p) => p.metadata.name).sort()).toEqual(podsOf(sb, 'gpt2'));
  });

  it('kubectl scale → 3 pods, and the adapter with replicas All on each of them', async () => {
    const out = await kubectl('scale', 'basemodel', 'gpt2', '--replicas=3');
    expect(out).toContain('basemodel.graft.dev/gpt2 scaled');
    expect((await k().get(bmPath('gpt2')))!.spec.replicas).toBe(3);
    await waitPods(sb, 'gpt2', 3);
    await onEveryPod(3);
    expect(await deploymentReplicas()).toBe(3);
    await waitFor('/scale status.replicas 3', async () =>
      (JSON.parse(await kubectl('get', 'basemodel', 'gpt2', '--subresource=scale', '-o', 'json')) as Obj).status.replicas === 3, 30_000, 250);
  });

  it('an HPA raises the BaseModel to its minReplicas through /scale, and Graft keeps the new count', async () => {
    // minReplicas above the current count: the HPA controller scales up before it needs any metric
    // (there is no metrics server in the sandbox), through the same /scale call path a metric uses.
    await k().post(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers`, {
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'gpt2' },
      spec: {
        scaleTargetRef: { apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'gpt2' }, minReplicas: 4, maxReplicas: 6,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
      },
    });
    let hpa: Obj | undefined;
    await waitFor('the HPA to rescale the BaseModel', async () => (await k().get(bmPath('gpt2')))?.spec.replicas === 4, 90_000, 500)
      .catch(async (err: Error) => { throw new Error(`${err.message}\nHPA: ${JSON.stringify((await k().get(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/gpt2`))?.status)}`); });
    await waitPods(sb, 'gpt2', 4);
    await onEveryPod(4);
    expect(await deploymentReplicas()).toBe(4);
    await waitFor('the HPA to see 4 replicas', async () => {
      hpa = await k().get(`/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers/gpt2`);
      return hpa?.status?.currentReplicas === 4;
    }, 60_000, 500);
    expect(hpa!.status.desiredReplicas).toBe(4);
    const rescale = (await k().events('gpt2')).find((e) => e.reason === 'SuccessfulRescale');
    expect(rescale?.note ?? rescale?.message).toContain('New size: 4; reason: Current number of replicas below Spec.MinReplicas');
    // Graft wrote nothing back: the count the HPA chose is the spec, the Deployment follows it.
    const bm = (await k().get(bmPath('gpt2')))!;
    expect(bm.spec.replicas).toBe(4);
    expect(bm.status.observedGeneration).toBe(bm.metadata.generation);
  });
});
