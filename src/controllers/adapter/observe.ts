import { Limiter } from '../../util/limiter.js';
import type { AgentApi, AgentTarget } from './agent-client.js';
import { isAgentCallError } from './errors.js';
import type { AgentView } from './model.js';

// Reads what every pod's agent holds (GET /v1/adapters), at most `concurrency` at once. A pod
// whose agent does not answer, answers with an error, or answers something that is not the agent
// API is unreachable for this pass; the pass goes on with the others.
export async function observeAgents(agents: AgentApi, targets: readonly AgentTarget[], signal: AbortSignal, concurrency = 16): Promise<Map<string, AgentView>> {
  const limiter = new Limiter(concurrency);
  const views = new Map<string, AgentView>();
  await Promise.all(targets.map((t) => limiter.run(async () => {
    try {
      views.set(t.pod, { pod: t.pod, reachable: true, adapters: await agents.list(t, signal) });
    } catch (err) {
      views.set(t.pod, { pod: t.pod, reachable: false, error: (err as Error).message, code: isAgentCallError(err) ? err.code : 'network' });
    }
  }, signal)));
  return views;
}

// A pod's last good read, by pod uid.
export type RecentViews = Map<string, { view: AgentView; at: number }>;

// Views with short read failures bridged: a pod whose agent answered within `holdMs` keeps that
// answer for this pass instead of turning unreachable. One failed read (a reset connection, a
// slow answer on a busy node) otherwise rewrote the status of every Adapter placed on the pod
// twice, once to say "agent unreachable" and once to take it back. A pod that stays unreachable
// past `holdMs` is reported so and starts its grace period (podSlots). Remembers good reads in
// `recent` and forgets pods that are gone.
export function bridgeShortFailures(views: Map<string, AgentView>, targets: readonly (AgentTarget & { uid: string })[], recent: RecentViews, nowMs: number, holdMs: number): Map<string, AgentView> {
  const seen = new Set<string>();
  for (const t of targets) {
    seen.add(t.uid);
    const v = views.get(t.pod);
    if (v?.reachable) { recent.set(t.uid, { view: v, at: nowMs }); continue; }
    const last = recent.get(t.uid);
    if (last && nowMs - last.at < holdMs) views.set(t.pod, last.view);
  }
  for (const uid of [...recent.keys()]) if (!seen.has(uid)) recent.delete(uid);
  return views;
}
