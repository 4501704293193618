import type { Logger } from 'pino';
import type { AdapterStatus } from '../../api/adapter.js';
import { findCondition, READY, RECONCILING, setStandardConditions, type Condition, type Health } from '../../runtime/conditions.js';
import type { EventRecorder } from '../../runtime/events.js';
import { hasFinalizer } from '../../runtime/finalizers.js';
import { keyOf, type KubeObject } from '../../runtime/object.js';
import { Limiter } from '../../util/limiter.js';
import type { BaseModelMemory } from './memory.js';
import type { AdapterMetrics } from './metrics.js';
import type { AdapterWriter, StatusStore } from './ports.js';
import { eventsFor, WAITING_REASONS, type Report } from './report.js';

export const UNLOAD_FINALIZER = 'graft.dev/unload';

// The writing steps: the finalizer every live Adapter carries, and each Adapter's report (its
// status with the events of the transition, or the finalizer's removal). Everything is sent with
// the reconcile's signal; events follow only writes that went through, so a process that lost its
// lease neither writes nor tells.

export async function ensureFinalizers(writer: AdapterWriter, adapters: readonly KubeObject[], signal: AbortSignal, concurrency = 16): Promise<KubeObject[]> {
  const limiter = new Limiter(concurrency);
  return Promise.all(adapters.map((a) => limiter.run(async () => {
    if (a.metadata?.deletionTimestamp || hasFinalizer(a, UNLOAD_FINALIZER)) return a;
    return (await writer.addFinalizer(a, UNLOAD_FINALIZER, signal)) ?? a;
  }, signal)));
}

export type WriteDeps = { writer: AdapterWriter; status: StatusStore; events: EventRecorder; metrics: AdapterMetrics };

export function statusOf(store: StatusStore, a: KubeObject): AdapterStatus {
  return (store.current(a) ?? {}) as AdapterStatus;
}

// A Reconciling status that keeps its reason (and its generation) may wait up to `intervalMs`
// after the Adapter's last status write: a copy loaded on the first of its two pods a moment
// before the second was a write of its own, then another for Ready. A new reason, Ready, Stalled
// and waiting reasons are written at once; a deferred write is made by a later pass (a Reconciling
// report that is not waiting keeps the pass moving, so one comes within pollMs).
export function mayDefer(previous: AdapterStatus, health: Health, generation: number | undefined, lastWriteAt: number | undefined, nowMs: number, intervalMs: number): boolean {
  if (health.state !== 'Reconciling' || WAITING_REASONS.has(health.reason)) return false;
  if (lastWriteAt === undefined || nowMs - lastWriteAt >= intervalMs) return false;
  const r = findCondition(previous.conditions as Condition[] | undefined, RECONCILING);
  return r?.status === 'True' && r.reason === health.reason && previous.observedGeneration === generation;
}

export async function writeReport(d: WriteDeps, a: KubeObject, r: Report, mem: BaseModelMemory, nowMs: number, signal: AbortSignal, log: Logger, statusIntervalMs = 0): Promise<void> {
  const uid = a.metadata?.uid ?? keyOf(a);
  if (r.kind === 'release') {
    await d.writer.removeFinalizer(a, UNLOAD_FINALIZER, signal);
    d.status.forget(a);
    mem.ready.delete(uid);
    mem.statusWrittenAt.delete(uid);
    if (r.timedOutAfterMs !== undefined) {
      d.events.event(a, 'Warning', 'UnloadTimedOut', 'Delete', `some pods could not be reached for ${Math.round(r.timedOutAfterMs / 1000)} s; removing the finalizer anyway`);
    }
    log.info({ adapter: r.key }, 'unloaded everywhere; finalizer removed');
    return;
  }
  const previous = statusOf(d.status, a);
  const before = previous.conditions as Condition[] | undefined;
  const wasReady = findCondition(before, READY);
  // The version it was Ready with, kept fresh while it stays Ready.
  if (wasReady?.status === 'True') mem.ready.set(uid, { digest: previous.digest, generation: wasReady.observedGeneration });
  const conditions = setStandardConditions(before, r.health, a.metadata?.generation, nowMs);
  const status = { observedGeneration: a.metadata?.generation, ...r.fields, conditions };
  if (mayDefer(previous, r.health, a.metadata?.generation, mem.statusWrittenAt.get(uid), nowMs, statusIntervalMs)) return;
  // The store compares with the current status and sends nothing when it is the same.
  if (!(await d.status.write(a, status as Record<string, unknown>, signal)) || signal.aborted) return;
  mem.statusWrittenAt.set(uid, nowMs);

  const remembered = mem.ready.get(uid);
  for (const e of eventsFor(before, r.health, remembered?.digest, r.fields.digest)) {
    d.events.event(a, e.type, e.reason, e.action, e.note);
    if (e.type === 'Warning') log.warn({ adapter: r.key, reason: e.reason }, e.note);
  }
  if (r.health.state === 'Ready' && wasReady?.status !== 'True') {
    // From creation, or from when it last stopped being Ready, once per generation (an engine
    // restart that made it reload is not a new version getting ready).
    if (remembered?.generation !== a.metadata?.generation) {
      const since = wasReady?.lastTransitionTime && wasReady.status === 'False' ? Date.parse(wasReady.lastTransitionTime) : Date.parse(a.metadata!.creationTimestamp!);
      d.metrics.readySeconds.observe(Math.max(0, (nowMs - since) / 1000));
    }
    mem.ready.set(uid, { digest: r.fields.digest, generation: a.metadata?.generation });
  }
}
