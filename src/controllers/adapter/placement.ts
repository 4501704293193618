import type { AdapterStatus } from '../../api/adapter.js';
import { place, type AdapterDemand, type PlacementResult } from '../../placement/placement.js';
import { keyOf, type KubeObject } from '../../runtime/object.js';
import type { AdapterInfo } from './model.js';
import type { PodSlots } from './pods.js';

// Placement over the pods' health: ready pods take placements up to adapters.maxPerPod; a pod in
// its grace period keeps exactly what it holds (capacity = its current placements), so a short
// NotReady moves nothing and adds nothing; lost pods are not offered at all, so what they held
// moves. `replicas: All` means every ready pod plus the pods in grace that already host it.
export function placeAdapters(live: readonly AdapterInfo[], slots: PodSlots, current: ReadonlyMap<string, readonly string[]>, maxPerPod: number): PlacementResult {
  const grace = new Set(slots.grace.map((p) => p.name));
  const held = new Map<string, number>();
  for (const a of live) for (const pod of current.get(a.key) ?? []) if (grace.has(pod)) held.set(pod, (held.get(pod) ?? 0) + 1);
  const pods = [
    ...slots.ready.map((p) => ({ name: p.name, capacity: maxPerPod })),
    ...slots.grace.map((p) => ({ name: p.name, capacity: Math.min(maxPerPod, held.get(p.name) ?? 0) })),
  ];
  const demand: AdapterDemand[] = live.map((a) => ({
    key: a.key, priority: a.priority, sizeBytes: a.sizeBytes,
    replicas: a.replicas === 'All' ? slots.ready.length + (current.get(a.key) ?? []).filter((p) => grace.has(p)).length : a.replicas,
  }));
  return place(demand.filter((d) => d.replicas !== 0), pods, current);
}

// Where each Adapter is placed now, from its status as last written (so a restart reshuffles
// nothing). Pods it is only leaving (Unloading) do not count.
export function currentPlacements(adapters: readonly KubeObject[], statusOf: (a: KubeObject) => AdapterStatus): Map<string, string[]> {
  return new Map(adapters.map((a) => [keyOf(a), (statusOf(a).placements ?? []).filter((p) => p.state !== 'Unloading').map((p) => p.pod)]));
}

export const NO_PLACEMENT: PlacementResult = { placements: new Map(), unschedulable: new Map() };
