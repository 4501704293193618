// Placement: which pods host which adapters. A pure, deterministic function of its inputs, so the
// operator can recompute it on every reconcile and get the same answer.
//
// Rules, in order of precedence:
//   1. an adapter's replicas go on distinct pods, and no pod holds more than its capacity;
//   2. when capacity is short, higher priority wins (ties: the adapter key, ascending); a
//      lower-priority placement is given up for a higher-priority adapter that has nowhere else
//      to go, and whatever cannot be placed is reported, never silently dropped;
//   3. existing placements on pods that still exist stay where they are (minimal moves);
//   4. new placements go to the least loaded pod: fewest adapters, then fewest bytes, then name;
//   5. when the only free slots are on pods that already host the adapter, one replica of another
//      adapter moves onto such a slot to make room (one move per replica placed).

export type AdapterDemand = {
  key: string;
  replicas: number | 'All';
  priority: number;
  sizeBytes?: number;
};

export type PodSlot = { name: string; capacity: number };

export type Shortfall = { wanted: number; placed: number; reason: 'InsufficientCapacity' | 'NotEnoughPods' };

export type PlacementResult = {
  // adapter key → pod names, sorted
  placements: Map<string, string[]>;
  // adapters with fewer replicas than wanted
  unschedulable: Map<string, Shortfall>;
};

export function wantedReplicas(a: AdapterDemand, podCount: number): number {
  return a.replicas === 'All' ? podCount : a.replicas;
}

export function place(adapters: readonly AdapterDemand[], pods: readonly PodSlot[], current: ReadonlyMap<string, readonly string[]>): PlacementResult {
  const podList = [...pods].sort((x, y) => cmp(x.name, y.name));
  const capacity = new Map(podList.map((p) => [p.name, Math.max(0, p.capacity)]));
  const order = [...adapters].sort((a, b) => b.priority - a.priority || cmp(a.key, b.key));
  const byKey = new Map(order.map((a) => [a.key, a]));
  const hosts = new Map<string, Set<string>>(order.map((a) => [a.key, new Set()]));
  const load = new Map(podList.map((p) => [p.name, { count: 0, bytes: 0, adapters: new Set<string>() }]));

  const assign = (a: AdapterDemand, pod: string) => {
    hosts.get(a.key)!.add(pod);
    const l = load.get(pod)!;
    l.count++; l.bytes += a.sizeBytes ?? 0; l.adapters.add(a.key);
  };
  const unassign = (a: AdapterDemand, pod: string) => {
    hosts.get(a.key)!.delete(pod);
    const l = load.get(pod)!;
    l.count--; l.bytes -= a.sizeBytes ?? 0; l.adapters.delete(a.key);
  };
  const free = (pod: string) => capacity.get(pod)! - load.get(pod)!.count;

  // Pass 1: keep what is already placed, highest priority first.
  for (const a of order) {
    const want = wantedReplicas(a, podList.length);
    const kept = [...new Set(current.get(a.key) ?? [])].filter((p) => capacity.has(p)).sort(cmp);
    for (const pod of kept) {
      if (hosts.get(a.key)!.size >= want) break;
      if (free(pod) > 0) assign(a, pod);
    }
  }

  // Pass 2: fill what is missing, highest priority first; take from lower priorities if needed.
  for (const a of order) {
    const want = wantedReplicas(a, podList.length);
    const mine = hosts.get(a.key)!;
    while (mine.size < want) {
      let best: string | undefined;
      for (const p of podList) {
        if (mine.has(p.name) || free(p.name) <= 0) continue;
        if (best === undefined || lighter(load.get(p.name)!, load.get(best)!, p.name, best)) best = p.name;
      }
      if (best === undefined) {
        // The free slots are all on pods that already host `a`: move another adapter's replica
        // from a full pod onto one of them, and take its place. Nobody loses a replica.
        const swap = findSwap(mine, podList, load, free);
        if (swap) {
          const b = byKey.get(swap.key)!;
          unassign(b, swap.from);
          assign(b, swap.to);
          best = swap.from;
        }
      }
      if (best === undefined) {
        const victim = lowestBelow(a, podList, load, byKey, mine);
        if (!victim) break;
        unassign(byKey.get(victim.key)!, victim.pod);
        best = victim.pod;
      }
      assign(a, best);
    }
  }

  const placements = new Map<string, string[]>();
  const unschedulable = new Map<string, Shortfall>();
  for (const a of order) {
    const pods = [...hosts.get(a.key)!].sort(cmp);
    placements.set(a.key, pods);
    const want = wantedReplicas(a, podList.length);
    if (pods.length < want) {
      unschedulable.set(a.key, { wanted: want, placed: pods.length, reason: want > podList.length ? 'NotEnoughPods' : 'InsufficientCapacity' });
    }
  }
  return { placements, unschedulable };
}

type Load = { count: number; bytes: number; adapters: Set<string> };

function lighter(x: Load, y: Load, xName: string, yName: string): boolean {
  if (x.count !== y.count) return x.count < y.count;
  if (x.bytes !== y.bytes) return x.bytes < y.bytes;
  return cmp(xName, yName) < 0;
}

// The placement to give up for `a`: on a pod that does not host `a`, of the lowest-priority
// adapter strictly below `a` (ties: the largest key, then the pod name).
function lowestBelow(a: AdapterDemand, pods: readonly PodSlot[], load: Map<string, Load>, byKey: Map<string, AdapterDemand>, mine: Set<string>): { key: string; pod: string } | undefined {
  let found: { key: string; pod: string; priority: number } | undefined;
  for (const p of pods) {
    if (mine.has(p.name)) continue;
    for (const k of load.get(p.name)!.adapters) {
      const b = byKey.get(k)!;
      if (b.priority >= a.priority) continue;
      if (!found || b.priority < found.priority || (b.priority === found.priority && (cmp(k, found.key) > 0 || (k === found.key && cmp(p.name, found.pod) < 0)))) {
        found = { key: k, pod: p.name, priority: b.priority };
      }
    }
  }
  return found;
}

// A replica to move so that an adapter hosted on `mine` can get one more pod: from a full pod
// `from` that does not host it, to a pod `to` with a free slot that does not host the mover.
// Deterministic: pods by name, movers by key.
function findSwap(mine: Set<string>, pods: readonly PodSlot[], load: Map<string, Load>, free: (pod: string) => number): { key: string; from: string; to: string } | undefined {
  const targets = pods.filter((p) => free(p.name) > 0).map((p) => p.name);
  if (!targets.length) return undefined;
  for (const p of pods) {
    if (mine.has(p.name) || free(p.name) > 0) continue;
    for (const key of [...load.get(p.name)!.adapters].sort(cmp)) {
      const to = targets.find((t) => !load.get(t)!.adapters.has(key));
      if (to) return { key, from: p.name, to };
    }
  }
  return undefined;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
