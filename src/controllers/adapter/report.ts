import type { AdapterStatus } from '../../api/adapter.js';
import type { PlacementResult, Shortfall } from '../../placement/placement.js';
import { findCondition, READY, RECONCILING, STALLED, type Condition, type Health } from '../../runtime/conditions.js';
import { keyOf, type KubeObject } from '../../runtime/object.js';
import type { AdapterInfo, AgentView } from './model.js';
import type { PodSlots } from './pods.js';
import type { Refusal, Wanted } from './spec.js';
import { observeAdapter, type ObserveContext } from './status.js';

// The report step's decisions, as pure functions: what each Adapter's status says, whether its
// finalizer may go, which events tell the transition, and when time alone changes the answer.

export type BaseModelState =
  | { kind: 'ok'; uid?: string }
  | { kind: 'missing'; since: number }
  | { kind: 'deleting'; uid?: string }
  | { kind: 'invalid'; uid?: string; message: string };

export type StatusFields = Omit<AdapterStatus, 'conditions' | 'observedGeneration'>;

export type Report =
  | { key: string; kind: 'status'; fields: StatusFields; health: Health; nextChange?: number }
  | { key: string; kind: 'release'; timedOutAfterMs?: number };

// Reasons of a Reconciling Adapter that wait for something outside it (no fast polling, a Normal
// event): the BaseModel or its pods coming up.
export const WAITING_REASONS = new Set(['WaitingForBaseModel', 'WaitingForPods', 'BaseModelDeleting']);

export type ReportInput = {
  obj: KubeObject;
  key: string;
  info?: AdapterInfo;
  refusal?: Refusal;
  handedOver: boolean;
  baseModel: BaseModelState;
  baseModelName: string;
  placed: readonly string[];
  shortfall?: Shortfall;
  views: ReadonlyMap<string, AgentView>;
  previous: AdapterStatus | undefined;
  nowMs: number;
  ctx: ObserveContext;
  unloadTimeoutMs: number;
  baseModelWaitMs: number;
};

export function decideReport(i: ReportInput): Report {
  const m = i.obj.metadata!;
  if (m.deletionTimestamp) {
    if (i.handedOver || !i.info) return { key: i.key, kind: 'release' };
    const name = i.info.servedName;
    const stillHeld = [...i.views.values()].some((v) => v.reachable && v.adapters.has(name));
    const unreachable = (i.previous?.placements ?? []).some((p) => { const v = i.views.get(p.pod); return !!v && !v.reachable; });
    const deadline = Date.parse(m.deletionTimestamp) + i.unloadTimeoutMs;
    if (!stillHeld && (!unreachable || i.nowMs >= deadline)) {
      return unreachable ? { key: i.key, kind: 'release', timedOutAfterMs: i.nowMs - Date.parse(m.deletionTimestamp) } : { key: i.key, kind: 'release' };
    }
    const obs = observeAdapter(i.info, [], undefined, i.views, i.previous, i.nowMs, i.ctx);
    return { key: i.key, kind: 'status', fields: obs.status, health: obs.health, nextChange: unreachable ? deadline : undefined };
  }
  if (i.refusal) return { key: i.key, kind: 'status', fields: { placements: [], readyReplicas: 0 }, health: i.refusal.health };
  const info = i.info!;
  if (i.baseModel.kind === 'ok') {
    const obs = observeAdapter(info, i.placed, i.shortfall, i.views, i.previous, i.nowMs, i.ctx);
    return { key: i.key, kind: 'status', fields: obs.status, health: obs.health };
  }
  // No usable BaseModel: report the copies that pods still hold, and wait or stall.
  const holders = [...i.views.values()].filter((v) => v.reachable && v.adapters.has(info.servedName)).map((v) => v.pod);
  const obs = observeAdapter(info, holders, undefined, i.views, i.previous, i.nowMs, { ...i.ctx, readyPods: new Set(holders) });
  const bm = i.baseModel;
  if (bm.kind === 'deleting') return { key: i.key, kind: 'status', fields: obs.status, health: { state: 'Reconciling', reason: 'BaseModelDeleting', message: `BaseModel ${i.baseModelName} is being deleted` } };
  if (bm.kind === 'invalid') return { key: i.key, kind: 'status', fields: obs.status, health: { state: 'Stalled', reason: 'BaseModelInvalid', message: `BaseModel ${i.baseModelName}: ${bm.message}` } };
  // Missing: a BaseModel applied together with its Adapters (kubectl apply -f dir/, GitOps) may
  // simply not be there yet, so wait before calling it failed.
  const since = Math.max(bm.since, Date.parse(m.creationTimestamp ?? '') || 0);
  const until = since + i.baseModelWaitMs;
  if (i.nowMs < until) {
    return {
      key: i.key, kind: 'status', fields: obs.status, nextChange: until,
      health: { state: 'Reconciling', reason: 'WaitingForBaseModel', message: `BaseModel ${i.baseModelName} does not exist in this namespace yet; waiting up to ${Math.round(i.baseModelWaitMs / 1000)} s` },
    };
  }
  return { key: i.key, kind: 'status', fields: obs.status, health: { state: 'Stalled', reason: 'BaseModelNotFound', message: `BaseModel ${i.baseModelName} does not exist in this namespace (spec.baseModel)` } };
}

export type ReportAllInput = {
  adapters: readonly KubeObject[];
  wanted: Wanted;
  baseModelName: string;
  placement: PlacementResult;
  views: ReadonlyMap<string, AgentView>;
  slots: PodSlots;
  statusOf: (a: KubeObject) => AdapterStatus;
  // The last failure of the PUT of this adapter's version to this pod, if it has not succeeded.
  callError: (a: AdapterInfo, pod: string) => { message: string; refused: boolean } | undefined;
  nowMs: number;
  unloadTimeoutMs: number;
  baseModelWaitMs: number;
};

// One Adapter's report from what the agents report now: `views` as observed at the start of the
// pass, with the answers of this pass's calls folded in by the caller (so an Adapter whose PUTs
// just returned reports them). Shared facts (ready pods, infos by key) are computed once.
export function reporter(i: ReportAllInput): (a: KubeObject) => Report {
  const { set, spec } = i.wanted;
  const infoByKey = new Map(set.infos.map((x) => [x.key, x]));
  const readyPods = new Set(i.slots.ready.map((p) => p.name));
  const waitingForPods = i.slots.grace.length > 0 || i.slots.ready.length < (spec?.replicas ?? 0);
  return (a) => {
    const key = keyOf(a);
    const info = infoByKey.get(key);
    const placed = i.placement.placements.get(key) ?? [];
    const callErrors = new Map<string, { message: string; refused: boolean }>();
    if (info && !info.deleting) for (const pod of placed) { const e = i.callError(info, pod); if (e) callErrors.set(pod, e); }
    return decideReport({
      obj: a, key, info, refusal: set.refused.get(key), handedOver: set.handedOver.has(key), baseModel: i.wanted.baseModel, baseModelName: i.baseModelName,
      placed, shortfall: i.placement.unschedulable.get(key), views: i.views, previous: i.statusOf(a), nowMs: i.nowMs,
      ctx: { readyPods, waitingForPods, baseModelReplicas: spec?.replicas ?? 0, callErrors }, unloadTimeoutMs: i.unloadTimeoutMs, baseModelWaitMs: i.baseModelWaitMs,
    });
  };
}

// Placements by state over every report, for the graft_adapter_placements gauge.
export function placementCounts(reports: ReadonlyArray<[KubeObject, Report]>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [, r] of reports) {
    if (r.kind !== 'status') continue;
    for (const p of r.fields.placements ?? []) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  }
  return counts;
}

export type EventNote = { type: 'Normal' | 'Warning'; reason: string; action: string; note: string };

// The events that tell a status transition: Loaded (first Ready) or RolledOut (Ready on a new
// version), a Warning for each new Stalled reason, a Normal one for each new waiting reason.
export function eventsFor(before: readonly Condition[] | undefined, health: Health, readyDigest: string | undefined, digest: string | undefined): EventNote[] {
  const out: EventNote[] = [];
  if (health.state === 'Ready' && findCondition(before, READY)?.status !== 'True') {
    const rolled = !!readyDigest && !!digest && readyDigest !== digest;
    out.push({ type: 'Normal', reason: rolled ? 'RolledOut' : 'Loaded', action: rolled ? 'Roll' : 'Load', note: rolled ? `${health.message}: now serving ${digest}` : health.message });
  } else if (health.state === 'Stalled') {
    const s = findCondition(before, STALLED);
    if (s?.status !== 'True' || s.reason !== health.reason) out.push({ type: 'Warning', reason: health.reason, action: 'Reconcile', note: health.message });
  } else if (health.state === 'Reconciling' && WAITING_REASONS.has(health.reason)) {
    const r = findCondition(before, RECONCILING);
    if (r?.status !== 'True' || r.reason !== health.reason) out.push({ type: 'Normal', reason: health.reason, action: 'Wait', note: health.message });
  }
  return out;
}
