import { isCurrent, type AdapterInfo, type AgentView } from './model.js';

export type AgentAction =
  | { op: 'put'; pod: string; name: string; source: string; digest?: string; reason: 'place' | 'update' }
  | { op: 'delete'; pod: string; name: string };

// The agent calls that move the pods toward the placement: PUT where an adapter is placed and
// the agent lacks it (or holds another version), DELETE where the agent holds what is not placed
// (once the adapter has landed where it moved to).
//
// A new version rolls one pod at a time: a pod is moved to it only while no other pod of the same
// adapter is still staging or loading the new version, so the other replicas keep serving. When
// no replica serves any version, there is nothing to protect and every pod moves at once.
export function planActions(adapters: readonly AdapterInfo[], placements: ReadonlyMap<string, readonly string[]>, views: ReadonlyMap<string, AgentView>): AgentAction[] {
  const actions: AgentAction[] = [];
  const wantedOn = new Map<string, Set<string>>(); // pod → served names placed there
  for (const a of adapters) {
    for (const pod of placements.get(a.key) ?? []) {
      if (!wantedOn.has(pod)) wantedOn.set(pod, new Set());
      wantedOn.get(pod)!.add(a.servedName);
    }
  }

  // Adapters still arriving on some placed pod: a copy they hold elsewhere keeps serving until
  // they have landed (make before break), unless nothing is on its way to replace it.
  const arriving = new Set<string>();
  for (const a of adapters) {
    for (const pod of placements.get(a.key) ?? []) {
      const v = views.get(pod);
      const e = v?.reachable ? v.adapters.get(a.servedName) : undefined;
      if (v?.reachable && (!e || !isCurrent(a, e) || (e.state !== 'Loaded' && e.state !== 'Failed'))) arriving.add(a.servedName);
    }
  }

  for (const a of adapters) {
    const pods = [...(placements.get(a.key) ?? [])].sort();
    const stale: string[] = [];
    let inFlight = 0, serving = 0;
    for (const pod of pods) {
      const v = views.get(pod);
      if (!v?.reachable) continue;
      const e = v.adapters.get(a.servedName);
      if (!e) {
        actions.push({ op: 'put', pod, name: a.servedName, source: a.source, digest: a.digest, reason: 'place' });
        continue;
      }
      if (e.state === 'Loaded') serving++;
      if (isCurrent(a, e)) {
        if (e.state !== 'Loaded' && e.state !== 'Failed') inFlight++;
      } else {
        stale.push(pod);
      }
    }
    if (!stale.length) continue;
    const move = serving === 0 ? stale : inFlight === 0 ? stale.slice(0, 1) : [];
    for (const pod of move) actions.push({ op: 'put', pod, name: a.servedName, source: a.source, digest: a.digest, reason: 'update' });
  }

  for (const [pod, v] of views) {
    if (!v.reachable) continue;
    const wanted = wantedOn.get(pod) ?? new Set<string>();
    for (const [name, e] of v.adapters) {
      // Held but not placed here: moved elsewhere, deleted, or an orphan from before a restart.
      if (!wanted.has(name) && e.state !== 'Unloading' && !arriving.has(name)) actions.push({ op: 'delete', pod, name });
    }
  }
  return actions;
}
