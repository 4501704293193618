import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { freePort, waitFor } from '../support/ports.js';
import { Proc } from '../support/process.js';
import { KubeClient } from '../../src/runtime/kube-client.js';
import { LeaseKind, type KubeObject } from '../../src/runtime/object.js';

// Two (then three) `graft operator` processes against a real kube-apiserver: one leads; when it
// is killed with SIGKILL the other takes the Lease within the lease duration (plus the retry
// period it polls at); a leader stopped with SIGTERM releases the Lease, so the next takes over
// at once; and at no poll do two processes report leading.

const repo = fileURLToPath(new URL('../..', import.meta.url));
const LEASE_MS = 15_000;
const RETRY_MS = 2_000;
const LEASE_NS = 'default';

type Operator = { proc: Proc; metricsPort: number; probePort: number; identity: string };

let cp: ControlPlane;
let admin: KubeClient;
const leaseId = `graft-le-${randomUUID().slice(0, 8)}`;
const operators: Operator[] = [];

async function startOperator(name: string): Promise<Operator> {
  const metricsPort = await freePort();
  const probePort = await freePort();
  // node with tsx's loader: one process, so SIGKILL really kills the operator.
  const proc = new Proc(name, process.execPath, [
    '--import', 'tsx', `${repo}src/cli/main.ts`, 'operator',
    '--kubeconfig', cp.kubeconfigPath,
    '--metrics-bind-address', `127.0.0.1:${metricsPort}`,
    '--health-probe-bind-address', `127.0.0.1:${probePort}`,
    '--leader-election-namespace', LEASE_NS,
    '--leader-election-id', leaseId,
    '--log-level', 'debug',
  ], { cwd: repo });
  let identity = '';
  await waitFor(`${name} to log its identity`, () => {
    if (!proc.running) throw new Error(`${name} exited:\n${proc.output}`);
    const m = /"identity":"([^"]+)".*"msg":"graft operator starting"/.exec(proc.output);
    identity = m?.[1] ?? '';
    return !!identity;
  }, 60_000);
  const op = { proc, metricsPort, probePort, identity };
  operators.push(op);
  await waitFor(`${name} /healthz`, async () => (await fetch(`http://127.0.0.1:${probePort}/healthz`)).ok, 60_000, 200);
  return op;
}

/** 1 or 0 from the process's leader_election_master_status, or undefined when it does not answer. */
async function leaderStatus(op: Operator): Promise<number | undefined> {
  if (!op.proc.running) return undefined;
  try {
    const text = await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const m = new RegExp(`^leader_election_master_status\\{name="${leaseId}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function lease(): Promise<{ holderIdentity?: string; leaseTransitions?: number; leaseDurationSeconds?: number } | undefined> {
  const l = await admin.get<KubeObject & { spec?: Record<string, unknown> }>(LeaseKind, LEASE_NS, leaseId);
  return l?.spec as never;
}

// Polls every process and the Lease until `done` holds, failing if two ever report leading.
async function watchLeaders(done: (leaders: Operator[]) => boolean, timeoutMs: number): Promise<Operator[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(operators.map(leaderStatus));
    const leaders = operators.filter((_, i) => statuses[i] === 1);
    expect(leaders.length, `two leaders at once: ${leaders.map((l) => l.proc.name).join(', ')}`).toBeLessThanOrEqual(1);
    if (leaders.length === 1) {
      const spec = await lease();
      // The Lease names the process that reports leading (or one that just released/lost it).
      if (spec?.holderIdentity && spec.holderIdentity !== leaders[0].identity) {
        const holder = operators.find((o) => o.identity === spec.holderIdentity);
        expect(holder && holder.proc.running && (await leaderStatus(holder)) === 1, 'the Lease holder and the reporting leader differ while both run').toBeFalsy();
      }
    }
    if (done(leaders)) return leaders;
    if (Date.now() > deadline) throw new Error(`timed out; statuses ${JSON.stringify(statuses)}\n${operators.map((o) => `--- ${o.proc.name}\n${o.proc.output.slice(-3000)}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  cp = await startControlPlane();
  admin = new KubeClient(cp.kubeConfig);
});

afterAll(async () => {
  for (const o of operators) await o.proc.kill();
  await cp?.stop();
});

describe('leader election between graft operator processes', () => {
  it('one leads; after kill -9 the other leads within the lease duration; SIGTERM hands over at once', async () => {
    const a = await startOperator('operator-a');
    const b = await startOperator('operator-b');
    const [first] = await watchLeaders((l) => l.length === 1, 60_000);
    const second = first === a ? b : a;
    expect((await lease())?.holderIdentity).toBe(first.identity);
    expect((await lease())?.leaseDurationSeconds).toBe(15);
    // Both are ready: the leader with its controllers running, the other as a warm standby.
    for (const o of [a, b]) {
      await waitFor(`${o.proc.name} /readyz`, async () => (await fetch(`http://127.0.0.1:${o.probePort}/readyz`)).status === 200, 30_000);
    }
    // Steady: the same leader for a few renewals.
    const steadyUntil = Date.now() + 3 * RETRY_MS;
    await watchLeaders(() => Date.now() > steadyUntil, 20_000);
    expect(await leaderStatus(first)).toBe(1);
    expect(await leaderStatus(second)).toBe(0);
    const transitions = (await lease())?.leaseTransitions ?? 0;

    await first.proc.kill(); // SIGKILL: no release, the lease must expire
    const killedAt = Date.now();
    await watchLeaders((l) => l[0] === second, LEASE_MS + 3 * RETRY_MS + 10_000);
    const takeoverMs = Date.now() - killedAt;
    console.log(`takeover after SIGKILL: ${takeoverMs} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    // Never before the lease could have expired: at least lease duration minus the one retry
    // period that may have passed between the last renewal and the kill.
    expect(takeoverMs).toBeGreaterThanOrEqual(LEASE_MS - RETRY_MS - 500);
    // Within the lease duration counted from the first poll that saw the last renewal (which can
    // come up to one jittered retry period after it) plus one more try.
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_MS + 2 * 1.2 * RETRY_MS + 1_500);
    const after = await lease();
    expect(after?.holderIdentity).toBe(second.identity);
    expect(after?.leaseTransitions).toBe(transitions + 1);

    // A clean stop releases the Lease: a standby takes over at its next try.
    const c = await startOperator('operator-c');
    await waitFor('operator-c /readyz', async () => (await fetch(`http://127.0.0.1:${c.probePort}/readyz`)).status === 200, 30_000);
    expect(await leaderStatus(c)).toBe(0);
    const stopping = second.proc.stop(30_000);
    const termAt = Date.now();
    await watchLeaders((l) => l[0] === c, 15_000);
    const handoverMs = Date.now() - termAt;
    console.log(`takeover after SIGTERM (released lease): ${handoverMs} ms`);
    expect(await stopping).toBeUndefined();
    expect(second.proc.child.exitCode).toBe(0);
    expect(second.proc.output).toMatch(/released the lease/);
    expect(handoverMs).toBeLessThanOrEqual(1.2 * RETRY_MS + 2_000);
    expect((await lease())?.holderIdentity).toBe(c.identity);
  });
});
