import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PORT } from '../../src/contracts/names.js';
import { sandboxNetwork } from '../../src/sandbox/netns.js';
import { PodNetns } from '../../src/sandbox/pod-netns.js';
import { Proc } from '../../src/sandbox/proc.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../support/ports.js';
import {
  adapterObj, adPath, agentAdapters, bmPath, dumpOnFailure, gpt2BaseModel, isReady, kube, loadedPods, NS, podPath, podsOf, sample,
  servingPods, startSandbox, waitAdapter, waitPods, type Obj, type Sandbox,
} from '../support/sandbox.js';

// Issue 9, item 12: only the BaseModel's own pods get placements and the token, and a short
// NotReady moves nothing while a long one does. Before the fix any ready pod with the label was
// used, and a pod that was not ready for a moment lost all its placements at once.
const GRACE_MS = 60_000; // the operator's default (--pod-unready-grace is not a flag yet)

async function setReady(sb: Sandbox, pod: string, ready: boolean): Promise<void> {
  const r = await rawRequest(sb.cp.kubeConfig, 'PATCH', `${podPath(pod)}/status`, {
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? '' : 'ContainersNotReady', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }] },
  }, 'application/strategic-merge-patch+json');
  if (r.status !== 200) throw new Error(`pod ${pod} status: HTTP ${r.status}: ${r.text}`);
}

const placedPods = (a: Obj | undefined) => ((a?.status?.placements ?? []) as Obj[]).filter((p) => p.state !== 'Unloading').map((p) => p.pod as string).sort();

describe('serving pods are the BaseModel\'s own (issue 9, item 12)', () => {
  let sb: Sandbox;
  let intruderNet: PodNetns | undefined;
  let listener: Proc | undefined;
  const connections = () => (listener?.output.match(/^CONN .*$/gm) ?? []);
  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'pods/v1/');
    await kube(sb).post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 3 }));
    await waitPods(sb, 'gpt2', 3);
  });
  afterEach(async (c) => dumpOnFailure(sb, c.task.result?.state === 'fail'));
  afterAll(async () => {
    await listener?.stop();
    await intruderNet?.destroy();
    await sb?.stop();
  });

  it('gives a labelled pod that no ReplicaSet of the BaseModel owns no placement and no request', async () => {
    const k = kube(sb);
    // Anyone who may create a pod may set the label.
    await k.post(podPath(), { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'intruder', labels: { 'graft.dev/basemodel': 'gpt2' } }, spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:v0.11.0' }] } });
    const intruder = await waitFor('the intruder running', async () => !!(await k.get(podPath('intruder')))?.status?.podIP, 60_000, 200)
      .then(async () => (await k.get(podPath('intruder')))!);
    // Its "agent", in a network namespace at its address (the sandbox runs no processes for a pod
    // without the agent container): anything that connects to its agent port is recorded.
    intruderNet = await PodNetns.create(sandboxNetwork(), `${NS}/intruder`, intruder.metadata.uid, intruder.status.podIP);
    const [cmd, args] = intruderNet.wrap(process.execPath, ['-e', `require('node:net').createServer((s) => { console.log('CONN ' + s.remoteAddress); s.destroy(); }).listen(${AGENT_PORT}, () => console.log('LISTENING'))`]);
    listener = new Proc('intruder agent', cmd, args);
    await waitFor('the intruder\'s listener', () => listener!.output.includes('LISTENING'), 10_000, 50);
    // It records what reaches it: one connection of this test's own.
    connect(AGENT_PORT, intruder.status.podIP).on('error', () => {});
    await waitFor('the test\'s own connection recorded', () => connections().length === 1, 10_000, 50);
    await k.post(adPath(), adapterObj('everywhere', 'gpt2', { source: { uri: 's3://adapters/pods/v1/' }, replicas: 'All' }));
    const a = await waitAdapter(sb, 'everywhere', 'Ready on the 3 own pods', (x) => isReady(x, 3));
    await new Promise((r) => setTimeout(r, 5_000)); // a few more passes, rechecks included
    expect(placedPods(await k.get(adPath('everywhere')))).toEqual(podsOf(sb, 'gpt2'));
    expect(placedPods(a)).not.toContain('intruder');
    expect(connections()).toHaveLength(1);
    // Nor is it one of the BaseModel's endpoints.
    const bm = (await k.get('/apis/graft.dev/v1alpha1/namespaces/default/basemodels/gpt2'))!;
    expect((bm.status.endpoints as Array<{ pod: string }>).map((e) => e.pod).sort()).toEqual(podsOf(sb, 'gpt2'));
    await k.del(podPath('intruder'));
  });

  it('keeps the placements of a pod that is NotReady for a moment', async () => {
    const k = kube(sb);
    await k.post(adPath(), adapterObj('mv', 'gpt2', { source: { uri: 's3://adapters/pods/v1/' }, replicas: 2 }));
    const before = await waitAdapter(sb, 'mv', 'Ready on 2 pods', (x) => isReady(x, 2));
    const victim = loadedPods(before)[0]!;
    const watch = sample(async () => placedPods(await k.get(adPath('mv'))).join(','), 200);
    await setReady(sb, victim, false);
    await new Promise((r) => setTimeout(r, 8_000)); // an engine restart's worth
    await setReady(sb, victim, true);
    await waitAdapter(sb, 'mv', 'Ready again', (x) => isReady(x, 2));
    const seen = new Set(await watch.stop());
    expect([...seen]).toEqual([loadedPods(before).join(',')]);
  });

  it('moves the placements of a pod that stays NotReady past the grace period, and unloads it there once it is back', async () => {
    const k = kube(sb);
    const before = (await k.get(adPath('mv')))!;
    const victim = loadedPods(before)[0]!;
    const t0 = Date.now();
    await setReady(sb, victim, false);
    const moved = await waitAdapter(sb, 'mv', 'moved off the NotReady pod', (x) => isReady(x, 2) && !placedPods(x).includes(victim), GRACE_MS + 30_000);
    const took = Date.now() - t0;
    console.log(`item 12: placements moved ${took} ms after the pod went NotReady (grace ${GRACE_MS} ms)`);
    expect(took).toBeGreaterThanOrEqual(GRACE_MS - 1_000);
    expect(await servingPods(sb, 'mv', 'gpt2')).toEqual(loadedPods(moved));
    await setReady(sb, victim, true);
    await waitFor('the old copy unloaded from the pod that came back', async () => !(await agentAdapters(sb, `${NS}/${victim}`)).some((e) => e.name === 'mv'), 30_000, 200);
    expect(placedPods(await k.get(adPath('mv')))).toEqual(loadedPods(moved));
  });
});
