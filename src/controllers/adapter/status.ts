import type { AdapterStatus, Placement } from '../../api/adapter.js';
import type { Health } from '../../runtime/conditions.js';
import { metaTime } from '../../runtime/conditions.js';
import type { Shortfall } from '../../placement/placement.js';
import { isPermanent, type FailureReason } from '../../agent/types.js';
import { isCurrent, type AdapterInfo, type AgentAdapter, type AgentView } from './model.js';

const STATE: Record<AgentAdapter['state'], Placement['state']> = {
  Staging: 'Staging', Staged: 'Staging', Loading: 'Loading', Loaded: 'Loaded', Unloading: 'Unloading', Failed: 'Failed',
};

export type AdapterObservation = {
  status: Omit<AdapterStatus, 'conditions' | 'observedGeneration'>;
  health: Health;
};

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function progressOf(e: AgentAdapter): string | undefined {
  if (e.state !== 'Staging' || !e.progress?.bytesTotal) return undefined;
  return `staged ${mb(e.progress.bytesDone)} of ${mb(e.progress.bytesTotal)}`;
}

// One Adapter's status from its placement and what the agents report. `since` carries over from
// the previous status while a pod's state stays the same, so an unchanged world gives an
// identical status (and no write).
export function observeAdapter(
  a: AdapterInfo, pods: readonly string[], shortfall: Shortfall | undefined, views: ReadonlyMap<string, AgentView>,
  previous: AdapterStatus | undefined, nowMs: number, opts: { baseModelFound: boolean },
): AdapterObservation {
  const prevByPod = new Map((previous?.placements ?? []).map((p) => [p.pod, p]));
  const placements: Placement[] = [];
  const now = metaTime(nowMs);
  let ready = 0, stale = 0;
  let failure: { reason: string; message: string; permanent: boolean } | undefined;
  let found: AgentAdapter | undefined;

  const record = (pod: string, state: Placement['state'], digest?: string, message?: string) => {
    const prev = prevByPod.get(pod);
    const p: Placement = { pod, state, since: prev && prev.state === state && prev.since ? prev.since : now };
    if (digest) p.digest = digest;
    if (message) p.message = message;
    placements.push(p);
  };

  const placed = new Set(pods);
  for (const pod of [...pods].sort()) {
    const v = views.get(pod);
    if (!v || !v.reachable) {
      const prev = prevByPod.get(pod);
      record(pod, prev?.state ?? 'Pending', prev?.digest, `agent unreachable: ${v && !v.reachable ? v.error : 'pod not ready'}`);
      continue;
    }
    const e = v.adapters.get(a.servedName);
    if (!e) { record(pod, 'Pending', undefined, 'waiting for the agent to start staging'); continue; }
    if (!isCurrent(a, e)) {
      stale++;
      record(pod, STATE[e.state], e.digest, `serving the previous version (${e.source}); update pending`);
      continue;
    }
    found ??= e.digest ? e : undefined;
    if (e.state === 'Loaded') ready++;
    if (e.state === 'Failed' && e.error) {
      const permanent = isPermanent(e.error.reason as FailureReason);
      if (!failure || (permanent && !failure.permanent)) failure = { reason: e.error.reason, message: `pod ${pod}: ${e.error.message}`, permanent };
    }
    record(pod, STATE[e.state], e.digest, e.error ? `${e.error.reason}: ${e.error.message}` : progressOf(e));
  }
  // Pods that still hold the adapter without it being placed there: unloading.
  for (const [pod, v] of [...views].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (placed.has(pod) || !v.reachable) continue;
    const e = v.adapters.get(a.servedName);
    if (e) record(pod, 'Unloading', e.digest, 'not placed here any more');
  }

  const status: AdapterObservation['status'] = { placements, readyReplicas: ready };
  if (found?.digest) status.digest = found.digest;
  if (found?.bytes !== undefined) status.sizeBytes = found.bytes;
  if (found?.rank !== undefined) status.rank = found.rank;
  if (!found && previous?.digest && !stale) {
    // Keep what is known of this version until an agent reports it again.
    status.digest = previous.digest;
    if (previous.sizeBytes !== undefined) status.sizeBytes = previous.sizeBytes;
    if (previous.rank !== undefined) status.rank = previous.rank;
  }

  const wanted = pods.length + (shortfall ? shortfall.wanted - shortfall.placed : 0);
  let health: Health;
  if (!opts.baseModelFound) health = { state: 'Stalled', reason: 'BaseModelNotFound', message: 'the BaseModel named in spec.baseModel does not exist in this namespace' };
  else if (a.deleting) health = { state: 'Reconciling', reason: 'Unloading', message: 'unloading from every pod before deletion' };
  else if (failure?.permanent) health = { state: 'Stalled', reason: failure.reason, message: failure.message };
  else if (shortfall) {
    const why = shortfall.reason === 'NotEnoughPods'
      ? `the base model has ${shortfall.placed} ready pod${shortfall.placed === 1 ? '' : 's'}`
      : 'every other pod is full (adapters.maxPerPod) with adapters of equal or higher priority';
    health = { state: 'Stalled', reason: 'Unschedulable', message: `placed ${shortfall.placed} of ${shortfall.wanted} replicas: ${why}` };
  } else if (wanted === 0) health = { state: 'Reconciling', reason: 'NoServingPods', message: 'the base model has no ready pods' };
  else if (ready === wanted) health = { state: 'Ready', reason: 'Loaded', message: `loaded on ${ready} of ${wanted} pods` };
  else if (failure) health = { state: 'Reconciling', reason: failure.reason, message: `${failure.message} (retrying)` };
  else health = { state: 'Reconciling', reason: stale ? 'RollingUpdate' : 'Loading', message: `loaded on ${ready} of ${wanted} pods` };
  return { status, health };
}
