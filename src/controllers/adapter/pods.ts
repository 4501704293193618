import { isOwnPod, type OwnerLookup } from '../owned-pods.js';
import type { KubeObject } from '../../runtime/object.js';
import type { AgentView, ServingPod } from './model.js';


type Obj = KubeObject & { status?: any };

// The BaseModel's own pods that run (an address, not terminating), with their readiness.
export function servingPods(pods: readonly KubeObject[], bm: { name: string; uid?: string }, look: OwnerLookup, nowMs: number): ServingPod[] {
  const out: ServingPod[] = [];
  for (const p of pods as Obj[]) {
    if (p.metadata?.deletionTimestamp || !p.status?.podIP || !isOwnPod(p, bm, look)) continue;
    const cond = (p.status.conditions ?? []).find((c: any) => c.type === 'Ready');
    const ready = cond?.status === 'True';
    const pod: ServingPod = { name: p.metadata!.name!, uid: p.metadata!.uid ?? p.metadata!.name!, address: p.status.podIP, ready };
    if (!ready) pod.notReadySince = firstTime(cond?.lastTransitionTime, p.metadata?.creationTimestamp) ?? nowMs;
    out.push(pod);
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

export type PodSlots = {
  // Pods that take new placements.
  ready: ServingPod[];
  // Pods in their grace period: they keep their placements and take no new ones.
  grace: ServingPod[];
  // Pods past their grace period: their placements move.
  lost: ServingPod[];
  // The earliest time a grace period ends (for the requeue), if any.
  nextChange?: number;
};

// Sorts the pods by health once their agents have been read. A pod is unhealthy when it is not
// Ready or its agent cannot be reached; `unreachableSince` is the controller's memory of the
// latter (pod uid → first failed read), updated here.
export function podSlots(pods: readonly ServingPod[], views: ReadonlyMap<string, AgentView>, unreachableSince: Map<string, number>, nowMs: number, graceMs: number): PodSlots {
  const slots: PodSlots = { ready: [], grace: [], lost: [] };
  const seen = new Set<string>();
  for (const p of pods) {
    seen.add(p.uid);
    const v = views.get(p.name);
    let since = p.notReadySince;
    if (v && !v.reachable) {
      if (!unreachableSince.has(p.uid)) unreachableSince.set(p.uid, nowMs);
      since = Math.min(since ?? Infinity, unreachableSince.get(p.uid)!);
    } else unreachableSince.delete(p.uid);
    if (since === undefined) { slots.ready.push(p); continue; }
    const end = since + graceMs;
    if (nowMs >= end) { slots.lost.push(p); continue; }
    slots.grace.push(p);
    slots.nextChange = Math.min(slots.nextChange ?? Infinity, end);
  }
  for (const uid of [...unreachableSince.keys()]) if (!seen.has(uid)) unreachableSince.delete(uid);
  return slots;
}

function firstTime(...ts: Array<string | undefined>): number | undefined {
  for (const t of ts) {
    const ms = t ? Date.parse(t) : NaN;
    if (Number.isFinite(ms)) return ms;
  }
  return undefined;
}
