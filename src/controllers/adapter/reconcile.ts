import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdapterStatus } from '../../api/adapter.js';
import { BaseModelSpec } from '../../api/basemodel.js';
import { AllowedSources } from '../../contracts/allowed-sources.js';
import type { PlacementResult } from '../../placement/placement.js';
import type { Clock } from '../../runtime/clock.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import type { EventRecorder } from '../../runtime/events.js';
import { keyOf, type KubeObject } from '../../runtime/object.js';
import { Limiter } from '../../util/limiter.js';
import { act, callKey } from './act.js';
import type { AgentApi, AgentTarget } from './agent-client.js';
import type { ControllerMemory } from './memory.js';
import type { AdapterMetrics } from './metrics.js';
import type { AgentView } from './model.js';
import { observeAgents } from './observe.js';
import { planActions } from './plan.js';
import { placeAdapters } from './placement.js';
import { podSlots, servingPods, type PodSlots } from './pods.js';
import type { AdapterReader, AdapterWriter, StatusStore } from './ports.js';
import { decideReport, WAITING_REASONS, type BaseModelState, type Report } from './report.js';
import { adapterSet } from './spec.js';
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
// the unload finalizer), observe (what the BaseModel's own pods' agents hold), place (a pure
// function of the adapters, the pods' health and the current placements), act (PUT and DELETE
// toward the placement), report (each Adapter's status and events, or its finalizer's removal).
// Keyed by BaseModel because placement is a property of all its adapters together. Every write,
// agent calls included, carries `signal`: a process that lost its lease stops at the next one.
export async function reconcileAdapters(deps: AdapterDeps, namespace: string, bmName: string, log: Logger, signal: AbortSignal): Promise<ReconcileResult> {
  const bmKey = `${namespace}/${bmName}`;
  const now = deps.clock.now();
  const t = deps.timing;
  const bmObj = deps.reader.baseModel(namespace, bmName) as (KubeObject & { spec?: unknown }) | undefined;
  let adapters = deps.reader.adapters(namespace, bmName);
  if (!bmObj && !adapters.length) {
    deps.memory.drop(bmKey);
    deps.metrics.setPlacements(bmKey, undefined);
    return {};
  }
  const mem = deps.memory.of(bmKey);

  // Finalize: the objects the server answered with are the ones the rest of the pass works on.
  adapters = await ensureFinalizers(deps.writer, adapters, signal);

  // What is wanted.
  const parsed = bmObj && !bmObj.metadata?.deletionTimestamp ? BaseModelSpec.safeParse(bmObj.spec) : undefined;
  const spec = parsed?.success ? parsed.data : undefined;
  const bm = baseModelState(bmObj, parsed, mem, now);
  let allowed = AllowedSources.of(undefined);
  try { allowed = AllowedSources.of(spec?.adapters.allowedSources, 'spec.adapters.allowedSources'); } catch { /* the CRD validates the list */ }
  const set = adapterSet(adapters, allowed);

  // Observe: the BaseModel's own pods only (no placements and no token for any other pod).
  const pods = servingPods(deps.reader.pods(namespace, bmName), { name: bmName, uid: bmObj?.metadata?.uid }, deps.reader.owners(namespace), now);
  const tls = spec?.security.agentTLS ?? true;
  const targets = new Map<string, Target>(pods.map((p) => [p.name, { pod: p.name, uid: p.uid, address: p.address, baseModel: { namespace, name: bmName }, tls }]));
  const views = await observeAgents(deps.agents, [...targets.values()], signal);
  const slots = podSlots(pods, views, mem.unreachableSince, now, t.notReadyGraceMs);

  const fingerprint = fingerprintOf(bmObj, adapters, pods, views, deps.status);
  if (mem.last && mem.last.fingerprint === fingerprint && now < mem.last.validUntil) return { requeueAfter: t.recheckMs };
  mem.last = undefined;

  // Place.
  const live = set.infos.filter((i) => !i.deleting);
  const current = new Map<string, string[]>();
  for (const a of adapters) {
    const placed = (statusOf(deps.status, a).placements ?? []).filter((p) => p.state !== 'Unloading').map((p) => p.pod);
    current.set(keyOf(a), placed);
  }
  const placement: PlacementResult = spec ? placeAdapters(live, slots, current, spec.adapters.maxPerPod) : { placements: new Map(), unschedulable: new Map() };

  // Act. Without a usable BaseModel only deleted Adapters are unloaded; the rest stay as they are.
  let actions = planActions(set.infos, placement.placements, views);
  if (!spec) {
    const deleting = new Set(set.infos.filter((i) => i.deleting).map((i) => i.servedName));
    actions = actions.filter((a) => a.op === 'delete' && deleting.has(a.name));
  }
  const acted = await act(deps.agents, actions, targets, mem.backoff, now, signal, log);
  const wantedCalls = new Set(acted.keys);
  mem.backoff.retain((k) => wantedCalls.has(k));
  if (acted.sent || acted.failed) log.info({ puts: actions.filter((a) => a.op === 'put').length, deletes: actions.filter((a) => a.op === 'delete').length, sent: acted.sent, failed: acted.failed, backingOff: acted.skipped }, 'drove agents');

  // Report, from what the agents reported before these calls (the next pass sees their effect).
  const infoByKey = new Map(set.infos.map((i) => [i.key, i]));
  const readyPods = new Set(slots.ready.map((p) => p.name));
  const waitingForPods = slots.grace.length > 0 || slots.ready.length < (spec?.replicas ?? 0);
  const reports = adapters.map((a): [KubeObject, Report] => {
    const key = keyOf(a);
    const info = infoByKey.get(key);
    const placed = placement.placements.get(key) ?? [];
    const callErrors = new Map<string, { message: string; refused: boolean }>();
    if (info && !info.deleting) {
      for (const pod of placed) {
        const target = targets.get(pod);
        const e = target && mem.backoff.error(callKey(target.uid, { op: 'put', pod, name: info.servedName, source: info.source, digest: info.digest, reason: 'place' }));
        if (e) callErrors.set(pod, e);
      }
    }
    return [a, decideReport({
      obj: a, key, info, refusal: set.refused.get(key), handedOver: set.handedOver.has(key), baseModel: bm, baseModelName: bmName,
      placed, shortfall: placement.unschedulable.get(key), views, previous: statusOf(deps.status, a) as AdapterStatus, nowMs: now,
      ctx: { readyPods, waitingForPods, baseModelReplicas: spec?.replicas ?? 0, callErrors }, unloadTimeoutMs: t.unloadTimeoutMs, baseModelWaitMs: t.baseModelWaitMs,
    })];
  });
  const limiter = new Limiter(16);
  await Promise.all(reports.map(([a, r]) => limiter.run(() => writeReport(deps, a, r, mem, now, signal, log), signal)));
  deps.metrics.setPlacements(bmKey, placementCounts(reports));

  // Next pass: soon while anything moves, else a cheap recheck; never later than a deadline.
  const moving = actions.length > 0 || reports.some(([, r]) => r.kind === 'release' || (r.health.state === 'Reconciling' && !WAITING_REASONS.has(r.health.reason)));
  const deadline = Math.min(slots.nextChange ?? Infinity, mem.backoff.nextRetry(wantedCalls) ?? Infinity, ...reports.map(([, r]) => (r.kind === 'status' ? r.nextChange ?? Infinity : Infinity)));
  if (!moving) mem.last = { fingerprint, validUntil: deadline };
  const after = Math.min(moving ? t.pollMs : t.recheckMs, Math.max(50, deadline - now));
  return { requeueAfter: after };
}

function baseModelState(obj: KubeObject | undefined, parsed: ReturnType<typeof BaseModelSpec.safeParse> | undefined, mem: { missingSince: number | undefined }, now: number): BaseModelState {
  if (!obj) {
    mem.missingSince ??= now;
    return { kind: 'missing', since: mem.missingSince };
  }
  mem.missingSince = undefined;
  const uid = obj.metadata?.uid;
  if (obj.metadata?.deletionTimestamp) return { kind: 'deleting', uid };
  if (!parsed?.success) {
    const issue = parsed?.error.issues[0];
    return { kind: 'invalid', uid, message: `spec.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
  }
  return { kind: 'ok', uid };
}

// Everything a pass decides from: when it is the same as the last settled pass (and no deadline
// has passed), the pass would write nothing.
function fingerprintOf(bm: KubeObject | undefined, adapters: readonly KubeObject[], pods: PodSlots['ready'], views: ReadonlyMap<string, AgentView>, status: StatusStore): string {
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

function placementCounts(reports: ReadonlyArray<[KubeObject, Report]>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [, r] of reports) {
    if (r.kind !== 'status') continue;
    for (const p of r.fields.placements ?? []) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  }
  return counts;
}
