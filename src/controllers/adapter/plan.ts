import { isCurrent, type AdapterInfo, type AgentView } from './model.js';

export type AgentAction =
  | { op: 'put'; pod: string; name: string; source: string; digest?: string; reason: 'place' | 'update' }
  | { op: 'delete'; pod: string; name: string };

// The agent calls that move the pods toward the placement: PUT where an adapter is placed and
// the agent lacks it (or holds another version), DELETE where the agent holds what is not placed.
//
// A new version rolls one pod at a time: a pod moves to it only while no other placed pod is
// still staging, loading or failing the new version. A pod that failed the new version therefore
// halts the roll (the status says Stalled with the agent's reason, or retrying), and the pods not
// yet moved keep serving the old one until the spec changes again (a fixed or reverted source).
// When no replica serves any version, there is nothing to protect and every pod moves at once.
//
// Make before break: a copy held where an adapter is no longer placed is deleted only once the
// adapter has landed, that is, its current version is Loaded on every pod it is placed on (or it
// is placed nowhere: preempted, or its replicas lowered to pods that have it). A failed or
// unreachable new home keeps the old copy serving.
export function planActions(adapters: readonly AdapterInfo[], placements: ReadonlyMap<string, readonly string[]>, views: ReadonlyMap<string, AgentView>): AgentAction[] {
  const actions: AgentAction[] = [];
  const wantedOn = new Map<string, Set<string>>(); // pod → served names placed there
  const landed = new Set<string>(); // served names of live adapters that may drop their other copies
  const live = new Set<string>();

  for (const a of adapters) {
    if (a.deleting) continue;
    live.add(a.servedName);
    const pods = [...(placements.get(a.key) ?? [])].sort();
    const stale: string[] = [];
    let inFlight = 0, serving = 0, loadedCurrent = 0;
    for (const pod of pods) {
      if (!wantedOn.has(pod)) wantedOn.set(pod, new Set());
      wantedOn.get(pod)!.add(a.servedName);
      const v = views.get(pod);
      if (!v?.reachable) continue;
      const e = v.adapters.get(a.servedName);
      if (!e) {
        actions.push({ op: 'put', pod, name: a.servedName, source: a.source, digest: a.digest, reason: 'place' });
        continue;
      }
      if (e.state === 'Loaded') serving++;
      if (!isCurrent(a, e)) stale.push(pod);
      else if (e.state === 'Loaded') loadedCurrent++;
      else inFlight++; // staging, loading, or failed: the roll waits for it
    }
    if (loadedCurrent === pods.length) landed.add(a.servedName);
    if (!stale.length) continue;
    const move = serving === 0 ? stale : inFlight === 0 ? stale.slice(0, 1) : [];
    for (const pod of move) actions.push({ op: 'put', pod, name: a.servedName, source: a.source, digest: a.digest, reason: 'update' });
  }

  for (const [pod, v] of [...views].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (!v.reachable) continue;
    const wanted = wantedOn.get(pod) ?? new Set<string>();
    for (const [name, e] of v.adapters) {
      if (wanted.has(name) || e.state === 'Unloading') continue;
      // Held but not placed here: moved elsewhere, deleted, refused, or an orphan from before a
      // restart. A live adapter's copy waits until the adapter has landed.
      if (live.has(name) && !landed.has(name)) continue;
      actions.push({ op: 'delete', pod, name });
    }
  }
  return actions;
}

// Agent states in which a pod is still working on an adapter (a Failed one waits for its retry).
const IN_FLIGHT = new Set(['Staging', 'Staged', 'Loading']);

// The planned calls this pass sends: every DELETE, and PUTs while the pod has fewer than `perPod`
// adapters in flight (what its agent is staging or loading, plus the PUTs admitted here), in plan
// order (oldest Adapter first). A pass therefore stays short however many Adapters arrive at
// once, and the next pass (which reports what the agents finished) comes soon; without the
// window, a thousand new Adapters made one pass of thousands of calls before any became Ready.
// The PUTs left out are planned again by the next pass.
export function admitActions(actions: readonly AgentAction[], views: ReadonlyMap<string, AgentView>, perPod: number): AgentAction[] {
  const inFlight = new Map<string, number>();
  for (const [pod, v] of views) {
    if (!v.reachable) continue;
    let n = 0;
    for (const e of v.adapters.values()) if (IN_FLIGHT.has(e.state)) n++;
    inFlight.set(pod, n);
  }
  return actions.filter((a) => {
    if (a.op === 'delete') return true;
    const n = inFlight.get(a.pod) ?? 0;
    if (n >= perPod) return false;
    inFlight.set(a.pod, n + 1);
    return true;
  });
}
