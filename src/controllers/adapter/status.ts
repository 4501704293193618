import type { AdapterStatus, Placement } from '../../api/adapter.js';
import { isPermanent } from '../../contracts/agent-api.js';
import type { Health } from '../../runtime/conditions.js';
import { metaTime } from '../../runtime/conditions.js';
import type { Shortfall } from '../../placement/placement.js';
import { isCurrent, type AdapterInfo, type AgentAdapter, type AgentView } from './model.js';

const STATE: Record<AgentAdapter['state'], Placement['state']> = {
  Staging: 'Staging', Staged: 'Staging', Loading: 'Loading', Loaded: 'Loaded', Unloading: 'Unloading', Failed: 'Failed',
};

export type AdapterObservation = {
  status: Omit<AdapterStatus, 'conditions' | 'observedGeneration'>;
  health: Health;
};

// What the rest of the pass knows that bears on one Adapter's health.
export type ObserveContext = {
  // Pods that take placements now; others are in their grace period (NotReady, agent unreachable).
  readyPods: ReadonlySet<string>;
  // The BaseModel still brings up pods (fewer ready than spec.replicas, or some in their grace
  // period): a shortfall is waited out, not reported as Stalled.
  waitingForPods: boolean;
  // spec.replicas of the BaseModel.
  baseModelReplicas: number;
  // The last failed agent call per pod for this adapter's version (PUT refused or not answered).
  callErrors?: ReadonlyMap<string, { message: string; refused: boolean }>;
};

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function progressOf(e: AgentAdapter): string | undefined {
  if (e.state !== 'Staging' || !e.progress?.bytesTotal) return undefined;
  return `staged ${mb(e.progress.bytesDone)} of ${mb(e.progress.bytesTotal)}`;
}

// When the agent's entry entered its state (the agent's clock); an engine restart that made the
// agent load the adapter again therefore shows as a new `since`, even when the operator never saw
// the entry in between.
function agentSince(e: AgentAdapter): string | undefined {
  const t = Date.parse(e.updatedAt);
  return Number.isFinite(t) ? metaTime(t) : undefined;
}

// One Adapter's status from its placement and what the agents report. An unchanged world gives an
// identical status (and so no write): `since` comes from the agent, or carries over.
export function observeAdapter(
  a: AdapterInfo, pods: readonly string[], shortfall: Shortfall | undefined, views: ReadonlyMap<string, AgentView>,
  previous: AdapterStatus | undefined, nowMs: number, ctx: ObserveContext,
): AdapterObservation {
  const prevByPod = new Map((previous?.placements ?? []).map((p) => [p.pod, p]));
  const placements: Placement[] = [];
  const now = metaTime(nowMs);
  let ready = 0, stale = 0, staleServing = 0;
  let failure: { reason: string; message: string; permanent: boolean } | undefined;
  let refused: string | undefined, callFailed: string | undefined;
  let found: AgentAdapter | undefined;

  const record = (pod: string, state: Placement['state'], digest?: string, message?: string, since?: string) => {
    const prev = prevByPod.get(pod);
    const p: Placement = { pod, state, since: since ?? (prev && prev.state === state && prev.since ? prev.since : now) };
    if (digest) p.digest = digest;
    if (message) p.message = message;
    placements.push(p);
  };

  const placed = new Set(pods);
  for (const pod of [...pods].sort()) {
    const v = views.get(pod);
    const notReady = ctx.readyPods.has(pod) ? '' : 'pod not ready; ';
    if (!v || !v.reachable) {
      const prev = prevByPod.get(pod);
      record(pod, prev?.state ?? 'Pending', prev?.digest, `${notReady}agent unreachable: ${v && !v.reachable ? v.error : 'no address'}`);
      continue;
    }
    const e = v.adapters.get(a.servedName);
    const callError = ctx.callErrors?.get(pod);
    if (callError) {
      if (callError.refused) refused ??= `pod ${pod}: ${callError.message}`;
      else callFailed ??= `pod ${pod}: ${callError.message}`;
    }
    if (!e) {
      record(pod, 'Pending', undefined, `${notReady}${callError ? `the agent call failed: ${callError.message}` : 'waiting for the agent to start staging'}`);
      continue;
    }
    if (!isCurrent(a, e)) {
      stale++;
      if (e.state === 'Loaded') staleServing++;
      record(pod, STATE[e.state], e.digest, `${notReady}serving the previous version (${e.source}); update pending`, agentSince(e));
      continue;
    }
    found ??= e.digest ? e : undefined;
    if (e.state === 'Loaded' && ctx.readyPods.has(pod)) ready++;
    if (e.state === 'Failed' && e.error) {
      const permanent = isPermanent(e.error.reason);
      if (!failure || (permanent && !failure.permanent)) failure = { reason: e.error.reason, message: `pod ${pod}: ${e.error.message}`, permanent };
    }
    const detail = e.error ? `${e.error.reason}: ${e.error.message}` : progressOf(e);
    record(pod, STATE[e.state], e.digest, notReady || detail ? `${notReady}${detail ?? ''}`.replace(/; $/, '') : undefined, agentSince(e));
  }
  // Pods that still hold the adapter without it being placed there: unloading (once it has
  // landed where it is placed).
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
  const halted = stale ? `; the roll is halted: ${staleServing} of ${pods.length} pods still serve the previous version` : '';
  let health: Health;
  if (a.deleting) health = { state: 'Reconciling', reason: 'Unloading', message: 'unloading from every pod before deletion' };
  else if (failure?.permanent) health = { state: 'Stalled', reason: failure.reason, message: `${failure.message}${halted}` };
  else if (refused) health = { state: 'Stalled', reason: 'AgentRejected', message: `${refused}${halted}` };
  else if (shortfall && !ctx.waitingForPods) {
    const why = shortfall.reason === 'NotEnoughPods'
      ? `the base model has ${ctx.baseModelReplicas} replica${ctx.baseModelReplicas === 1 ? '' : 's'} (spec.replicas)`
      : 'every other pod is full (adapters.maxPerPod) with adapters of equal or higher priority';
    health = { state: 'Stalled', reason: 'Unschedulable', message: `placed ${shortfall.placed} of ${shortfall.wanted} replicas: ${why}` };
  } else if (shortfall) {
    health = { state: 'Reconciling', reason: 'WaitingForPods', message: `placed ${shortfall.placed} of ${shortfall.wanted} replicas: waiting for the base model's pods to be ready` };
  } else if (wanted === 0) {
    health = ctx.baseModelReplicas === 0
      ? { state: 'Stalled', reason: 'NoServingPods', message: 'the base model has spec.replicas 0' }
      : { state: 'Reconciling', reason: 'WaitingForPods', message: 'waiting for the base model\'s pods to be ready' };
  } else if (ready === wanted) health = { state: 'Ready', reason: 'Loaded', message: `loaded on ${ready} of ${wanted} pods` };
  else if (failure) health = { state: 'Reconciling', reason: failure.reason, message: `${failure.message} (retrying)` };
  else if (callFailed) health = { state: 'Reconciling', reason: 'AgentUnavailable', message: `${callFailed} (retrying with backoff)` };
  else health = { state: 'Reconciling', reason: stale ? 'RollingUpdate' : 'Loading', message: `loaded on ${ready} of ${wanted} pods` };
  return { status, health };
}
