import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../runtime/clock.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import type { EventRecorder } from '../../runtime/events.js';
import { keyOf, type KubeObject } from '../../runtime/object.js';
import { Limiter } from '../../util/limiter.js';
import type { BaseModelRef } from '../../security/keys.js';
import { AgentCaller, callKey } from './act.js';
import { AGENT_CALLS_PER_POD, type AgentApi, type AgentTarget } from './agent-client.js';
import type { ControllerMemory } from './memory.js';
import type { AdapterMetrics } from './metrics.js';
import type { AgentView, ServingPod } from './model.js';
import { observeAgents } from './observe.js';
import { admitActions, planActions, type AgentAction } from './plan.js';
import { currentPlacements, NO_PLACEMENT, placeAdapters } from './placement.js';
import { podSlots, servingPods } from './pods.js';
import type { AdapterReader, AdapterWriter, StatusStore } from './ports.js';
import { placementCounts, reporter, WAITING_REASONS, type Report } from './report.js';
import { wanted, type Wanted } from './spec.js';
import { ensureFinalizers, statusOf, writeReport } from './write.js';

export { UNLOAD_FINALIZER } from './write.js';

export type AdapterTiming = {
  // How long a deleted Adapter waits for unreachable pods before its finalizer is removed anyway.
  unloadTimeoutMs: number;
  // How often a settled base model's agents are read again (engine restarts, lost pods). A pass
  // over unchanged inputs writes nothing and is cut short after the read.
  recheckMs: number;
  // How often agents are read while something is still moving.
  pollMs: number;
  // A Reconciling status that keeps its reason is written at most this often (write.ts mayDefer).
  statusIntervalMs: number;
  // At most this many adapters in flight (staging or loading) per pod; more PUTs wait for the
  // next pass (admitActions).
  inFlightPerPod: number;
  // How long an agent may hold a PUT's answer until the load is done (act.ts); 0: answer at once.
  putWaitMs?: number;
  // How long a pod may be NotReady (or its agent unreachable) before its placements move.
  notReadyGraceMs: number;
  // How long an Adapter waits for a missing BaseModel before it is Stalled (BaseModelNotFound).
  baseModelWaitMs: number;
};

export type AdapterDeps = {
  reader: AdapterReader;
  writer: AdapterWriter;
  status: StatusStore;
  events: EventRecorder;
  clock: Clock;
  agents: AgentApi;
  metrics: AdapterMetrics;
  memory: ControllerMemory;
  timing: AdapterTiming;
};

type Target = AgentTarget & { uid: string };

// One pass over every Adapter of one BaseModel, in steps: finalize (every live Adapter carries
// the unload finalizer), want (the BaseModel's spec and the Adapters as data), observe (what the
// BaseModel's own pods' agents hold), place (a pure function of the adapters, the pods' health and
// the current placements), act (PUT and DELETE toward the placement), report (each Adapter's
// status and events, or its finalizer's removal). Keyed by BaseModel because placement is a
// property of all its adapters together. Every write, agent calls included, carries `signal`: a
// process that lost its lease stops at the next one.
export async function reconcileAdapters(deps: AdapterDeps, namespace: string, bmName: string, log: Logger, signal: AbortSignal): Promise<ReconcileResult> {
  const bmKey = `${namespace}/${bmName}`;
  const now = deps.clock.now();
  const t = deps.timing;
  const bmObj = deps.reader.baseModel(namespace, bmName);
  let adapters = deps.reader.adapters(namespace, bmName);
  if (!bmObj && !adapters.length) {
    deps.memory.drop(bmKey);
    deps.metrics.setPlacements(bmKey, undefined);
    deps.agents.forget?.({ namespace, name: bmName });
    return {};
  }
  const mem = deps.memory.of(bmKey);

  // Finalize: the objects the server answered with are the ones the rest of the pass works on.
  adapters = await ensureFinalizers(deps.writer, adapters, signal);
  const want = wanted(bmObj, adapters, mem, now);

  // Observe: the BaseModel's own pods only (no placements and no token for any other pod).
  const pods = servingPods(deps.reader.pods(namespace, bmName), { name: bmName, uid: bmObj?.metadata?.uid }, deps.reader.owners(namespace), now);
  const targets = targetsOf(pods, { namespace, name: bmName }, want.spec?.security.agentTLS ?? true);
  const views = await observeAgents(deps.agents, [...targets.values()], signal);
  const slots = podSlots(pods, views, mem.unreachableSince, now, t.notReadyGraceMs);
  const fingerprint = fingerprintOf(bmObj, adapters, pods, views, deps.status);
  if (mem.last && mem.last.fingerprint === fingerprint && now < mem.last.validUntil) return { requeueAfter: t.recheckMs };
  mem.last = undefined;

  // Place.
  const statusOfA = (a: KubeObject) => statusOf(deps.status, a);
  const live = want.set.infos.filter((i) => !i.deleting);
  const placement = want.spec ? placeAdapters(live, slots, currentPlacements(adapters, statusOfA), want.spec.adapters.maxPerPod) : NO_PLACEMENT;

  // Act and report, Adapter by Adapter: each one's calls, then its status from what the agents
  // answered, so a status is written as soon as that Adapter's own calls return. PUTs go out
  // within a window per pod (admitActions), which keeps a pass short when many Adapters arrive.
  // Without a usable BaseModel only deleted Adapters are unloaded; the rest stay as they are.
  const planned = planActions(want.set.infos, placement.placements, views).filter((a) => !!want.spec || unloadsDeleted(want, a));
  const actions = admitActions(planned, views, t.inFlightPerPod);
  const caller = new AgentCaller(deps.agents, targets, views, mem.backoff, now, signal, log, { perPod: AGENT_CALLS_PER_POD, total: 64, putWaitMs: t.putWaitMs ?? 0 });
  const report = reporter({
    adapters, wanted: want, baseModelName: bmName, placement, views, slots, statusOf: statusOfA, nowMs: now,
    callError: (a, pod) => {
      const target = targets.get(pod);
      return target && mem.backoff.error(callKey(target.uid, { op: 'put', pod, name: a.servedName, source: a.source, digest: a.digest, reason: 'place' }));
    },
    unloadTimeoutMs: t.unloadTimeoutMs, baseModelWaitMs: t.baseModelWaitMs,
  });
  const callsOf = groupByName(actions);
  const infoByKey = new Map(want.set.infos.map((i) => [i.key, i]));
  const writes = new Limiter(16);
  // One Adapter's failed write does not cut the others short: all finish, then the pass fails
  // (and is retried) with the first error.
  const settled = await Promise.allSettled(adapters.map(async (a): Promise<[KubeObject, Report]> => {
    const name = infoByKey.get(keyOf(a))?.servedName;
    const mine = name === undefined ? undefined : callsOf.get(name);
    if (mine) { callsOf.delete(name!); await caller.run(mine); }
    const r = report(a);
    await writes.run(() => writeReport(deps, a, r, mem, now, signal, log, t.statusIntervalMs), signal);
    return [a, r];
  }));
  const failed = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (failed) throw failed.reason;
  const reports = settled.map((x) => (x as PromiseFulfilledResult<[KubeObject, Report]>).value);
  // Copies no Adapter of this BaseModel claims (orphans from before a restart).
  await caller.run([...callsOf.values()].flat());
  const calls = new Set(caller.keys);
  mem.backoff.retain((k) => calls.has(k));
  deps.metrics.setPlacements(bmKey, placementCounts(reports));

  // Next pass: soon while anything moves, else a cheap recheck; never later than a deadline.
  // (A status write deferred by mayDefer is Reconciling and not waiting: moving covers it.)
  const moving = planned.length > 0 || reports.some(([, r]) => r.kind === 'release' || (r.health.state === 'Reconciling' && !WAITING_REASONS.has(r.health.reason)));
  const deadline = Math.min(slots.nextChange ?? Infinity, mem.backoff.nextRetry(calls) ?? Infinity, ...reports.map(([, r]) => (r.kind === 'status' ? r.nextChange ?? Infinity : Infinity)));
  if (!moving) mem.last = { fingerprint, validUntil: deadline };
  // While moving, the next pass starts pollMs after this one started, not after it ended.
  const poll = Math.max(50, t.pollMs - (deps.clock.now() - now));
  return { requeueAfter: Math.min(moving ? poll : t.recheckMs, Math.max(50, deadline - now)) };
}

function targetsOf(pods: readonly ServingPod[], baseModel: BaseModelRef, tls: boolean): Map<string, Target> {
  return new Map(pods.map((p) => [p.name, { pod: p.name, uid: p.uid, address: p.address, baseModel, tls }]));
}

function unloadsDeleted(want: Wanted, a: AgentAction): boolean {
  return a.op === 'delete' && want.set.infos.some((i) => i.deleting && i.servedName === a.name);
}

// Everything a pass decides from: when it is the same as the last settled pass (and no deadline
// has passed), the pass would write nothing.
function fingerprintOf(bm: KubeObject | undefined, adapters: readonly KubeObject[], pods: readonly ServingPod[], views: ReadonlyMap<string, AgentView>, status: StatusStore): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([bm?.metadata?.uid, bm?.metadata?.resourceVersion]));
  for (const a of adapters) h.update(JSON.stringify([a.metadata?.uid, a.metadata?.resourceVersion, status.current(a) === a.status]));
  h.update(JSON.stringify(pods));
  for (const [pod, v] of [...views].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (!v.reachable) { h.update(JSON.stringify([pod, v.code])); continue; }
    h.update(JSON.stringify([pod, [...v.adapters.values()].map((e) => [e.name, e.state, e.source, e.expectedDigest, e.digest, e.updatedAt, e.error?.reason])]));
  }
  return h.digest('hex');
}

function groupByName(actions: readonly AgentAction[]): Map<string, AgentAction[]> {
  const out = new Map<string, AgentAction[]>();
  for (const a of actions) { const l = out.get(a.name); if (l) l.push(a); else out.set(a.name, [a]); }
  return out;
}
