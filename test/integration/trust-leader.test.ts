import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isWrite, startKubeProxy, type KubeProxy } from '../support/kube-proxy.js';
import { startOperator, type OperatorProc } from '../support/operator.js';
import { waitFor } from '../support/ports.js';
import {
  adapterObj, adPath, bmPath, cond, dumpOnFailure, gpt2BaseModel, isReady, kube, startSandbox, waitPods, type Obj, type Sandbox,
} from '../support/sandbox.js';

// Issue 9, item 14: controllers stop writing when they lose leadership. Two `graft operator`
// processes with leader election on a short lease; the leader (A) is frozen (SIGSTOP) in the
// middle of a roll until its lease runs out, the other (B) takes over and finishes the roll, then
// A is thawed (SIGCONT) with reconciles in flight. A talks to the API server through a recording
// proxy, so every request it sends is seen with its time: after the thaw it must send no write
// (lease renewals aside), and it must drive no agent.
const LEASE = ['--leader-elect', '--leader-election-namespace', 'default', '--leader-election-lease-duration', '6s', '--leader-election-renew-deadline', '4s', '--leader-election-retry-period', '1s'];
const NAMES = Array.from({ length: 6 }, (_, i) => `ld-${i}`);

const leading = async (op: OperatorProc) => /leader_election_master_status\{name="graft-operator"\} 1/.test(await op.metrics().catch(() => ''));

describe('leadership change mid-roll (issue 9, item 14)', () => {
  let sb: Sandbox;
  let proxy: KubeProxy;
  let b: OperatorProc | undefined;
  beforeAll(async () => {
    sb = await startSandbox({
      operatorArgs: LEASE,
      operatorKubeconfig: async (cp) => { proxy = await startKubeProxy(cp.kubeConfig); return proxy.kubeconfig(cp.dir); },
    });
    await waitFor('A to lead', () => leading(sb.operator), 30_000, 200);
    b = await startOperator(sb.cp.kubeconfigPath, ['--agent-image', 'ghcr.io/graft-dev/graft:e2e', '--sync-period', '30s', ...LEASE]);
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'ld/v1/');
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'ld/v2/');
    await kube(sb).post(bmPath(), gpt2BaseModel('gpt2', sb.gw, { replicas: 3 }));
    await waitPods(sb, 'gpt2', 3);
  });
  afterEach(async (c) => {
    if (c.task.result?.state === 'fail' && b) console.error(`operator B log:\n${b.proc.output.slice(-6000)}`);
    await dumpOnFailure(sb, c.task.result?.state === 'fail');
  });
  afterAll(async () => {
    if (sb?.operator.proc.child.pid) sb.operator.proc.child.kill('SIGCONT');
    await b?.stop();
    await sb?.stop();
    await proxy?.stop();
  });

  it('the old leader writes nothing after it is thawed, and the new one finishes the roll', async () => {
    const k = kube(sb);
    const a = sb.operator;
    expect(await leading(b!)).toBe(false);
    for (const n of NAMES) await k.post(adPath(), adapterObj(n, 'gpt2', { source: { uri: 's3://adapters/ld/v1/' }, replicas: 3 }));
    await waitFor('every Adapter Ready on v1', async () => ((await k.get(adPath()))!.items as Obj[]).filter((x) => isReady(x, 3)).length === NAMES.length, 120_000, 200);
    const v1 = ((await k.get(adPath('ld-0')))!).status.digest;

    for (const n of NAMES) await k.patch(adPath(n), { spec: { source: { uri: 's3://adapters/ld/v2/' } } });
    await waitFor('A rolling', async () => ((await k.get(adPath()))!.items as Obj[]).some((x) => cond(x, 'Reconciling')?.reason === 'RollingUpdate'), 30_000, 20);
    const tStop = Date.now();
    a.proc.child.kill('SIGSTOP');
    await waitFor('B to take over', () => leading(b!), 30_000, 100);
    const tLead = Date.now();
    a.proc.child.kill('SIGCONT');
    const tCont = Date.now();

    await waitFor('every Adapter Ready on v2', async () => ((await k.get(adPath()))!.items as Obj[])
      .filter((x) => isReady(x, 3) && x.status.digest !== v1 && (x.status.placements as Obj[]).every((p) => p.digest === x.status.digest)).length === NAMES.length, 120_000, 200);
    const tDone = Date.now();
    await waitFor('A to notice it lost the lease', () => /lost the lease/.test(a.proc.output), 30_000, 100);
    await new Promise((r) => setTimeout(r, 4_000)); // what A still had in flight has had time to go out

    const afterThaw = proxy.requests.filter((r) => r.at >= tCont);
    const aWrites = afterThaw.filter(isWrite);
    const drove = a.proc.output.split('\n').filter((l) => l.includes('"drove agents"') && Date.parse(JSON.parse(l).time) >= tCont);
    const before = proxy.requests.filter((r) => r.at < tStop && isWrite(r)).length;
    console.log(`item 14: B led ${tLead - tStop} ms after A froze; roll finished ${tDone - tCont} ms after A thawed; `
      + `A sent ${before} writes before it froze and ${aWrites.length} after it thawed (${afterThaw.length} requests in all: reads, watches, lease)`);
    expect(before).toBeGreaterThan(0); // the proxy did see A's writes while it led
    expect(aWrites.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    expect(drove).toEqual([]);
    expect(await leading(a)).toBe(false);
    expect(await leading(b!)).toBe(true);
  });
});
