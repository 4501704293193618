import type { Logger } from 'pino';
import { AdapterSpec, type AdapterStatus } from '../../api/adapter.js';
import { BaseModelSpec } from '../../api/basemodel.js';
import { place, type AdapterDemand } from '../../placement/placement.js';
import type { Clock } from '../../runtime/clock.js';
import { findCondition, READY, setStandardConditions, STALLED, type Condition } from '../../runtime/conditions.js';
import type { EventRecorder } from '../../runtime/events.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../runtime/finalizers.js';
import type { Cache } from '../../runtime/informer.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import { keyOf, type KubeObject } from '../../runtime/object.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import type { StatusWriter } from '../../runtime/status-writer.js';
import { Limiter } from '../../storage/limiter.js';
import { AGENT_PORT, LABEL_BASEMODEL, TOKEN_KEY, tokenSecretName } from '../../contracts/names.js';
import { AdapterKind } from '../kinds.js';
import type { AgentClient } from './agent-client.js';
import type { AdapterMetrics } from './metrics.js';
import type { AdapterInfo, AgentView } from './model.js';
import { planActions, type AgentAction } from './plan.js';
import { observeAdapter } from './status.js';

export const UNLOAD_FINALIZER = 'graft.dev/unload';

export type AdapterDeps = {
  client: KubeClient;
  adapters: Cache<KubeObject>;
  basemodels: Cache<KubeObject>;
  pods: Cache<KubeObject>;
  secrets: Cache<KubeObject>;
  events: EventRecorder;
  clock: Clock;
  agents: AgentClient;
  status: StatusWriter;
  metrics: AdapterMetrics;
  // How long a deleted Adapter waits for unreachable pods before its finalizer is removed anyway.
  unloadTimeoutMs: number;
  // How often a settled base model's agents are read again (engine restarts, lost pods).
  recheckMs: number;
  // How often agents are read while something is still moving.
  pollMs: number;
};

type Obj = KubeObject & { spec?: any; status?: any };

const isPodReady = (p: Obj) => !p.metadata?.deletionTimestamp && !!(p.status as any)?.podIP
  && ((p.status as any)?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');

// One pass over every Adapter of one BaseModel: place them across its ready pods, drive each pod's
// agent toward the placement, and write each Adapter's status from what the agents report.
// Keyed by BaseModel because placement is a property of all its adapters together.
export async function reconcileAdapters(deps: AdapterDeps, namespace: string, bmName: string, log: Logger): Promise<ReconcileResult> {
  const bmKey = `${namespace}/${bmName}`;
  const all = (deps.adapters.list(namespace) as Obj[]).filter((a) => a.spec?.baseModel === bmName);
  const bmRaw = deps.basemodels.get(namespace, bmName) as Obj | undefined;
  const limiter = new Limiter(32);
  const now = deps.clock.now();

  // Every live Adapter carries the finalizer that unloads it before it goes; the rest of the pass
  // works on the objects the server answered with.
  await Promise.all(all.map((a, i) => limiter.run(async () => {
    if (a.metadata?.deletionTimestamp || hasFinalizer(a, UNLOAD_FINALIZER)) return;
    const updated = await addFinalizer(deps.client, AdapterKind, a, UNLOAD_FINALIZER);
    if (updated) all[i] = updated as Obj;
  })));

  const bmSpec = bmRaw && !bmRaw.metadata?.deletionTimestamp ? BaseModelSpec.safeParse(bmRaw.spec) : undefined;
  if (!bmSpec?.success) {
    // No base model, so no pods to unload from: deleted Adapters may go at once.
    await Promise.all(all.map((a) => limiter.run(async () => {
      if (a.metadata?.deletionTimestamp) return void (await removeFinalizer(deps.client, AdapterKind, a, UNLOAD_FINALIZER));
      await writeStatus(deps, a, { placements: [], readyReplicas: 0 }, { state: 'Stalled', reason: 'BaseModelNotFound', message: `BaseModel ${bmName} does not exist in namespace ${namespace}` }, now, log);
    })));
    deps.metrics.setPlacements(bmKey, undefined);
    return {};
  }
  const maxPerPod = bmSpec.data.adapters.maxPerPod;

  // The adapters as data; a served name taken by an older Adapter makes the newer one wait.
  const infos: AdapterInfo[] = [];
  const conflicts = new Map<string, string>();
  const byServed = new Map<string, string>();
  for (const a of [...all].sort(byAge)) {
    const spec = AdapterSpec.safeParse(a.spec);
    if (!spec.success) continue;
    const servedName = spec.data.servedName ?? a.metadata!.name!;
    const holder = byServed.get(servedName);
    if (holder && !a.metadata?.deletionTimestamp) { conflicts.set(keyOf(a), holder); continue; }
    if (!a.metadata?.deletionTimestamp) byServed.set(servedName, keyOf(a));
    infos.push({
      key: keyOf(a), servedName, source: spec.data.source.uri, digest: spec.data.source.digest,
      replicas: spec.data.replicas, priority: spec.data.priority, sizeBytes: a.status?.sizeBytes,
      deleting: !!a.metadata?.deletionTimestamp,
    });
  }
  const live = infos.filter((i) => !i.deleting);
  const infoByKey = new Map(infos.map((i) => [i.key, i]));

  const pods = (deps.pods.list(namespace) as Obj[]).filter((p) => p.metadata?.labels?.[LABEL_BASEMODEL] === bmName && isPodReady(p));
  const podIp = new Map(pods.map((p) => [p.metadata!.name!, (p.status as any).podIP as string]));
  const current = new Map<string, string[]>();
  for (const a of all) {
    const placed = ((statusOf(deps, a).placements ?? []) as NonNullable<AdapterStatus['placements']>).filter((p) => p.state !== 'Unloading').map((p) => p.pod);
    current.set(keyOf(a), placed);
  }
  const demand: AdapterDemand[] = live.map((i) => ({ key: i.key, replicas: i.replicas, priority: i.priority, sizeBytes: i.sizeBytes }));
  const placement = place(demand, pods.map((p) => ({ name: p.metadata!.name!, capacity: maxPerPod })), current);

  // What every ready pod's agent holds.
  const token = tokenOf(deps, namespace, bmName);
  const views = new Map<string, AgentView>();
  await Promise.all([...podIp].map(([pod, ip]) => limiter.run(async () => {
    if (!token) return void views.set(pod, { pod, reachable: false, error: `the token Secret ${tokenSecretName(bmName)} is missing` });
    try {
      views.set(pod, { pod, reachable: true, adapters: await deps.agents.list(agentUrl(ip), token) });
    } catch (err) {
      views.set(pod, { pod, reachable: false, error: (err as Error).message });
    }
  })));

  // Move the agents toward the placement.
  const actions = planActions(live, placement.placements, views);
  let acted = 0;
  await Promise.all(actions.map((act) => limiter.run(async () => {
    try {
      await runAction(deps, act, podIp.get(act.pod)!, token!);
      acted++;
    } catch (err) {
      log.warn({ pod: act.pod, adapter: act.name, op: act.op, err: (err as Error).message }, 'agent call failed');
    }
  })));
  if (actions.length) log.info({ puts: actions.filter((a) => a.op === 'put').length, deletes: actions.filter((a) => a.op === 'delete').length, acted }, 'drove agents');

  // Status, from what the agents reported before these calls (the next pass sees their effect).
  let settled = true;
  const counts = new Map<string, number>();
  await Promise.all(all.map((a) => limiter.run(async () => {
    const key = keyOf(a);
    const info = infoByKey.get(key);
    if (!info) {
      const holder = conflicts.get(key);
      const message = holder ? `spec.servedName (or the name) is already served by Adapter ${holder}; choose another servedName` : 'spec is invalid';
      await writeStatus(deps, a, { placements: [], readyReplicas: 0 }, { state: 'Stalled', reason: holder ? 'ServedNameConflict' : 'InvalidSpec', message }, now, log);
      return;
    }
    const obs = observeAdapter(info, placement.placements.get(key) ?? [], placement.unschedulable.get(key), views, statusOf(deps, a), now, { baseModelFound: true });
    for (const p of obs.status.placements ?? []) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
    if (info.deleting) {
      const stillHeld = [...views.values()].some((v) => v.reachable && v.adapters.has(info.servedName));
      const unreachable = (statusOf(deps, a).placements ?? []).some((p) => !views.get(p.pod)?.reachable);
      const waited = now - Date.parse(a.metadata!.deletionTimestamp!);
      if (!stillHeld && (!unreachable || waited >= deps.unloadTimeoutMs)) {
        if (unreachable) deps.events.event(a, 'Warning', 'UnloadTimedOut', 'Delete', `some pods could not be reached for ${Math.round(waited / 1000)} s; removing the finalizer anyway`);
        await removeFinalizer(deps.client, AdapterKind, a, UNLOAD_FINALIZER);
        deps.status.forget(a);
        log.info({ adapter: key }, 'unloaded everywhere; finalizer removed');
        return;
      }
      settled = false;
      await writeStatus(deps, a, obs.status, obs.health, now, log);
      return;
    }
    if (obs.health.state === 'Reconciling') settled = false;
    await writeStatus(deps, a, obs.status, obs.health, now, log);
  })));
  deps.metrics.setPlacements(bmKey, counts);
  return { requeueAfter: settled && !actions.length ? deps.recheckMs : deps.pollMs };
}

async function runAction(deps: AdapterDeps, act: AgentAction, ip: string, token: string): Promise<void> {
  if (act.op === 'put') await deps.agents.put(agentUrl(ip), token, act.name, act.source, act.digest);
  else await deps.agents.delete(agentUrl(ip), token, act.name);
}

async function writeStatus(deps: AdapterDeps, a: Obj, fields: Omit<AdapterStatus, 'conditions' | 'observedGeneration'>, health: Parameters<typeof setStandardConditions>[1], now: number, log: Logger): Promise<void> {
  const before = statusOf(deps, a).conditions as Condition[] | undefined;
  const conditions = setStandardConditions(before, health, a.metadata?.generation, now);
  const status = { observedGeneration: a.metadata?.generation, ...fields, conditions };
  if (!(await deps.status.write(a, status as Record<string, unknown>))) return;
  const wasReady = findCondition(before, READY)?.status === 'True';
  const wasStalled = findCondition(before, STALLED);
  if (health.state === 'Ready' && !wasReady) {
    deps.events.event(a, 'Normal', 'Loaded', 'Load', health.message);
    // From creation, or from when it last stopped being Ready (a source change).
    const readyFalse = findCondition(before, READY);
    const since = readyFalse?.lastTransitionTime && readyFalse.status === 'False' ? Date.parse(readyFalse.lastTransitionTime) : Date.parse(a.metadata!.creationTimestamp!);
    deps.metrics.readySeconds.observe(Math.max(0, (now - since) / 1000));
  } else if (health.state === 'Stalled' && (wasStalled?.status !== 'True' || wasStalled.reason !== health.reason)) {
    deps.events.event(a, 'Warning', health.reason, 'Reconcile', health.message);
    log.warn({ adapter: keyOf(a), reason: health.reason }, health.message);
  }
}

// The Adapter's status as last written (the cache may not have seen the latest write yet).
function statusOf(deps: AdapterDeps, a: Obj): AdapterStatus {
  return (deps.status.current(a) ?? {}) as AdapterStatus;
}

function tokenOf(deps: AdapterDeps, namespace: string, bmName: string): string | undefined {
  const s = deps.secrets.get(namespace, tokenSecretName(bmName)) as Obj | undefined;
  const b64 = (s as any)?.data?.[TOKEN_KEY] as string | undefined;
  return b64 ? Buffer.from(b64, 'base64').toString('utf8').trim() : undefined;
}

const agentUrl = (ip: string) => `http://${ip.includes(':') ? `[${ip}]` : ip}:${AGENT_PORT}`;

function byAge(a: Obj, b: Obj): number {
  const ta = a.metadata?.creationTimestamp ?? '', tb = b.metadata?.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : keyOf(a) < keyOf(b) ? -1 : 1;
}
