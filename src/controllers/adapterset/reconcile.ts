// One level-triggered pass over one AdapterSet: record the result of the finished Job of the next
// task (once: decisions are append-only and keyed by task), start the next task's Job when there
// is one and the namespace has room, serve every module's newest (or pinned) version through its
// child Adapter, and write status. Nothing is written when nothing changed.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { AdapterSetSpec, AdapterSetStatus, type Decision } from '../../api/adapterset.js';
import { BaseModelSpec } from '../../api/basemodel.js';
import { API_VERSION } from '../../api/common.js';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../../contracts/names.js';
import { applyOwned } from '../../runtime/apply.js';
import type { Clock } from '../../runtime/clock.js';
import { findCondition, isStatusTrue, metaTime, setStandardConditions, STALLED, type Condition, type Health } from '../../runtime/conditions.js';
import { apiStatus, isConflict } from '../../runtime/errors.js';
import type { EventRecorder } from '../../runtime/events.js';
import type { Cache } from '../../runtime/informer.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import type { KubeObject } from '../../runtime/object.js';
import type { ReconcileResult } from '../../runtime/controller.js';
import type { StatusWriter } from '../../runtime/status-writer.js';
import { AdapterKind, PodKind } from '../kinds.js';
import { buildStepRequest, modelIdOf, nextTaskIndex } from './decide.js';
import { ANNOTATION_TASK, desiredJob, JobKind, jobOutcome, LABEL_ADAPTERSET, MERGE_CONTAINER } from './job.js';
import type { AdapterSetMetrics } from './metrics.js';
import { decodeResult } from './protocol.js';
import { applyResult, jobName, withServing } from './status.js';

export type AdapterSetDeps = {
  client: KubeClient;
  sets: Cache<KubeObject>;
  basemodels: Cache<KubeObject>;
  adapters: Cache<KubeObject>;
  jobs: Cache<KubeObject>;
  events: EventRecorder;
  clock: Clock;
  status: StatusWriter;
  metrics: AdapterSetMetrics;
  image: string; // Graft's image (the operator's --agent-image)
  maxJobsPerNamespace: number;
  retryFailedAfterMs: number;
  // Merge Jobs are started one at a time per namespace, so the bound holds across workers.
  slots: Map<string, Promise<void>>;
  created: Map<string, Set<string>>;
};

const issues = (e: { issues: { path: PropertyKey[]; message: string }[] }) => e.issues.map((i) => `spec.${i.path.map(String).join('.')}: ${i.message}`).join('; ');

export async function reconcileAdapterSet(deps: AdapterSetDeps, namespace: string, name: string, log: Logger, signal: AbortSignal): Promise<ReconcileResult | void> {
  const raw = deps.sets.get(namespace, name);
  if (!raw || raw.metadata?.deletionTimestamp) {
    deps.metrics.modules.remove(namespace, name);
    return; // children and Jobs go with it (owner references)
  }
  const client = deps.client.withSignal(signal);
  const prior = AdapterSetStatus.safeParse(deps.status.current(raw) ?? {});
  let status: AdapterSetStatus = prior.success ? prior.data : {};
  status = { ...status, observedGeneration: raw.metadata?.generation };

  const parsed = AdapterSetSpec.safeParse(raw.spec);
  if (!parsed.success) return write(deps, raw, status, { state: 'Stalled', reason: 'InvalidSpec', message: issues(parsed.error) }, log, signal);
  const spec = parsed.data;
  const bmRaw = deps.basemodels.get(namespace, spec.baseModel);
  const bm = bmRaw ? BaseModelSpec.safeParse(bmRaw.spec) : undefined;
  if (!bm?.success) {
    await write(deps, raw, status, { state: 'Stalled', reason: 'BaseModelNotFound', message: `BaseModel ${spec.baseModel} ${bmRaw ? 'has an invalid spec' : 'does not exist in this namespace'}; the set waits for it` }, log, signal);
    return;
  }
  const maxRank = bm.data.adapters.maxRank;
  if (spec.merge.rank !== undefined && spec.merge.rank > maxRank) {
    return write(deps, raw, status, { state: 'Stalled', reason: 'InvalidSpec', message: `spec.merge.rank ${spec.merge.rank} is above BaseModel ${spec.baseModel}'s adapters.maxRank ${maxRank}: merged versions would not load; lower spec.merge.rank` }, log, signal);
  }

  let health: Health | undefined;
  let requeueAfter: number | undefined;
  let index = nextTaskIndex(spec, status);

  // The Job of the next task: record its result once it has one.
  if (index < spec.tasks.length) {
    const jn = jobName(name, index);
    const job = ownJob(deps.jobs.get(namespace, jn), raw, spec.tasks[index].name);
    const outcome = job && jobOutcome(job);
    if (job && outcome === 'Complete') {
      const pods = await jobPods(client, namespace, job);
      const done = pods.find((p) => p.status?.phase === 'Succeeded');
      const message = terminated(done)?.message;
      try {
        const result = decodeResult(message);
        if (result.task !== spec.tasks[index].name) throw new Error(`Job ${jn} reports task ${result.task}, not ${spec.tasks[index].name}`);
        status = applyResult(status, result, { time: metaTime(deps.clock.now()), job: jn });
        recordDecision(deps, raw, job, status.decisions![status.decisions!.length - 1], log);
        index = nextTaskIndex(spec, status);
      } catch (err) {
        // Retried like a failed Job: the step is idempotent, so a new Job reports the same commit.
        const since = Date.parse(String(job.status && (job.status as { completionTime?: string }).completionTime)) || deps.clock.now();
        const wait = since + deps.retryFailedAfterMs - deps.clock.now();
        if (wait <= 0) {
          await client.delete(JobKind, namespace, jn, { propagationPolicy: 'Background', preconditionUid: job.metadata?.uid });
          requeueAfter = 1_000;
        } else {
          requeueAfter = wait;
        }
        health = { state: 'Stalled', reason: 'MergeResultUnreadable', message: `${(err as Error).message}; the step is run again in ${Math.max(0, Math.round(wait / 1000))} s` };
      }
    } else if (job && outcome === 'Failed') {
      const pods = await jobPods(client, namespace, job);
      const why = pods.map((p) => terminated(p)?.message).filter(Boolean).pop() ?? (job.status as { conditions?: { type: string; message?: string }[] })?.conditions?.find((c) => c.type === 'Failed')?.message ?? 'no message';
      const failedAt = Date.parse(String((job.status as { conditions?: { type: string; lastTransitionTime?: string }[] })?.conditions?.find((c) => c.type === 'Failed')?.lastTransitionTime ?? '')) || deps.clock.now();
      const wait = failedAt + deps.retryFailedAfterMs - deps.clock.now();
      if (wait <= 0) {
        log.info({ job: jn }, 'deleting the failed merge Job to retry the task');
        await client.delete(JobKind, namespace, jn, { propagationPolicy: 'Background', preconditionUid: job.metadata?.uid });
        requeueAfter = 1_000;
      } else {
        requeueAfter = wait;
      }
      health = { state: 'Stalled', reason: 'MergeJobFailed', message: `merge Job ${jn} for task ${spec.tasks[index].name} failed (retried in ${Math.max(0, Math.round(wait / 1000))} s; the served versions do not change): ${why.slice(0, 2000)}` };
    } else if (job) {
      health = { state: 'Reconciling', reason: 'Merging', message: `Job ${jn} is running the step of task ${spec.tasks[index].name}` };
    }
  }

  // Serve what status records before starting anything new, so a recorded version is live even
  // if the next Job cannot start.
  const { status: served, pinProblems } = withServing(status, name, spec.pins);
  status = served;
  deps.metrics.modules.labels(namespace, name).set(status.modules?.length ?? 0);
  for (const m of status.modules ?? []) {
    if (!m.uri) continue;
    const desired = {
      apiVersion: API_VERSION, kind: 'Adapter',
      metadata: { name: m.adapter!, namespace, labels: { ...spec.template.labels, [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_ADAPTERSET]: name.slice(0, 63) } },
      spec: { baseModel: spec.baseModel, source: { uri: m.uri, digest: m.digest }, replicas: spec.template.replicas, priority: spec.template.priority },
    } as KubeObject;
    const outcome = await applyOwned(client, desired, raw, deps.adapters.get(namespace, m.adapter!), signal);
    if (outcome !== 'unchanged') {
      log.info({ adapter: m.adapter, digest: m.digest, outcome }, 'applied child Adapter');
      deps.events.event(raw, 'Normal', outcome === 'created' ? 'Created' : 'Updated', 'Serve', `${outcome} Adapter ${m.adapter}: module ${m.name} serves ${m.digest}${m.pinned ? ' (pinned)' : ''}`);
    }
  }

  if (!health && index < spec.tasks.length && !ownJob(deps.jobs.get(namespace, jobName(name, index)), raw, spec.tasks[index].name)) {
    // Record what is done before the next Job starts from it.
    await write(deps, raw, status, { state: 'Reconciling', reason: 'Merging', message: `starting the step of task ${spec.tasks[index].name}` }, log, signal);
    const started = await startJob(deps, client, raw, spec, bm.data, status, index, log);
    health = started
      ? { state: 'Reconciling', reason: 'Merging', message: `Job ${jobName(name, index)} is running the step of task ${spec.tasks[index].name}` }
      : { state: 'Reconciling', reason: 'WaitingForMergeSlot', message: `${deps.maxJobsPerNamespace} merge Jobs already run in namespace ${namespace}; task ${spec.tasks[index].name} waits` };
    if (!started) requeueAfter = 10_000;
  }

  if (!health && pinProblems.length) health = { state: 'Stalled', reason: 'PinNotFound', message: pinProblems.join('; ') };
  if (!health) {
    const waiting = (status.modules ?? []).filter((m) => {
      const a = deps.adapters.get(namespace, m.adapter!);
      const st = a?.status as { conditions?: Condition[]; observedGeneration?: number } | undefined;
      return !a || !isStatusTrue(st?.conditions, 'Ready') || (st?.observedGeneration ?? 0) < (a.metadata?.generation ?? 0);
    }).map((m) => m.adapter);
    health = waiting.length
      ? { state: 'Reconciling', reason: 'Rollout', message: `waiting for Adapters ${waiting.join(', ')} to be Ready` }
      : { state: 'Ready', reason: 'Serving', message: `${status.modules?.length ?? 0} module(s) serving ${status.decisions?.length ?? 0} decided task(s)` };
  }
  await write(deps, raw, status, health, log, signal);
  return requeueAfter !== undefined ? { requeueAfter } : undefined;
}

function ownJob(job: KubeObject | undefined, set: KubeObject, task: string): KubeObject | undefined {
  if (!job) return undefined;
  const owned = job.metadata?.ownerReferences?.some((r) => r.uid === set.metadata?.uid && r.controller);
  return owned && job.metadata?.annotations?.[ANNOTATION_TASK] === task ? job : undefined;
}

async function jobPods(client: KubeClient, namespace: string, job: KubeObject): Promise<V1Pod[]> {
  const list = await client.list(PodKind, namespace, { labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata?.uid}` });
  return (list.items as unknown as V1Pod[]).sort((a, b) => String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')));
}

function terminated(pod: V1Pod | undefined) {
  return pod?.status?.containerStatuses?.find((c) => c.name === MERGE_CONTAINER)?.state?.terminated;
}

async function startJob(deps: AdapterSetDeps, client: KubeClient, raw: KubeObject, spec: AdapterSetSpec, bm: BaseModelSpec,
  status: AdapterSetStatus, index: number, log: Logger): Promise<boolean> {
  const ns = raw.metadata!.namespace!;
  const prev = deps.slots.get(ns) ?? Promise.resolve();
  let release!: () => void;
  const chained = prev.then(() => new Promise<void>((r) => { release = r; }));
  deps.slots.set(ns, chained);
  await prev;
  await Promise.resolve(); // `release` is set once `chained` has started
  try {
    // Running Jobs as the cache sees them, plus the ones this process created that it has not seen yet.
    const running = new Set(deps.jobs.list(ns).filter((j) => j.metadata?.labels?.[LABEL_ADAPTERSET] && !jobOutcome(j)).map((j) => j.metadata!.name!));
    const created = deps.created.get(ns) ?? new Set<string>();
    for (const n of created) if (deps.jobs.get(ns, n)) created.delete(n); else running.add(n);
    if (running.size >= deps.maxJobsPerNamespace) return false;
    const req = buildStepRequest(raw.metadata!.name!, spec, status, index, { maxRank: bm.adapters.maxRank, modelId: modelIdOf(bm.model.source.uri) });
    const job = desiredJob(raw, spec, bm, index, req, deps.image);
    try {
      await client.create(JobKind, job);
    } catch (err) {
      if (!isConflict(err) && apiStatus(err) !== 409) throw err; // the cache has not seen it yet
    }
    created.add(job.metadata!.name!);
    deps.created.set(ns, created);
    log.info({ job: job.metadata?.name, task: spec.tasks[index].name }, 'started merge Job');
    deps.events.event(raw, 'Normal', 'MergeStarted', 'Merge', `Job ${job.metadata?.name} runs the step of task ${spec.tasks[index].name}`);
    return true;
  } finally {
    release?.();
    if (deps.slots.get(ns) === chained) deps.slots.delete(ns);
  }
}

function recordDecision(deps: AdapterSetDeps, raw: KubeObject, job: KubeObject, d: Decision, log: Logger): void {
  deps.metrics.decisions.labels(d.action).inc();
  const st = job.status as { startTime?: string; completionTime?: string } | undefined;
  if (st?.startTime && st.completionTime) deps.metrics.mergeSeconds.observe((Date.parse(st.completionTime) - Date.parse(st.startTime)) / 1000);
  const note = `task ${d.task}: ${d.action}${d.module ? ` ${d.module}` : ''}${d.digest ? ` → ${d.digest}` : ''}: ${d.reason}`;
  deps.events.event(raw, d.action === 'Rejected' ? 'Warning' : 'Normal', d.action, 'Decide', note);
  log.info({ task: d.task, action: d.action, module: d.module, digest: d.digest, score: d.score }, 'recorded decision');
}

async function write(deps: AdapterSetDeps, raw: KubeObject, status: AdapterSetStatus, health: Health, log: Logger, signal: AbortSignal): Promise<void> {
  const before = (deps.status.current(raw) as AdapterSetStatus | undefined)?.conditions as Condition[] | undefined;
  const conditions = setStandardConditions(before, health, raw.metadata?.generation, deps.clock.now());
  const wrote = await deps.status.write(raw, { ...status, conditions } as Record<string, unknown>, signal);
  if (!wrote) return;
  const was = findCondition(before, STALLED);
  if (health.state === 'Stalled' && (was?.status !== 'True' || was.reason !== health.reason)) {
    deps.events.event(raw, 'Warning', health.reason, 'Reconcile', health.message);
    log.warn({ reason: health.reason }, health.message);
  }
}
