import type { ControllerFactory } from '../runtime/controller.js';
import { joinKey, type KubeObject } from '../runtime/object.js';
import { StatusWriter } from '../runtime/status-writer.js';
import { JobKind } from './adapterset/job.js';
import { AdapterSetMetrics } from './adapterset/metrics.js';
import { reconcileAdapterSet, type AdapterSetDeps } from './adapterset/reconcile.js';
import { AdapterKind, AdapterSetKind, BaseModelKind } from './kinds.js';

export type AdapterSetControllerOptions = {
  // Graft's image: the merge Jobs run `graft merge step` in it (the operator's --agent-image).
  image: string;
  // Merge Jobs running at once in one namespace, over all its sets.
  maxJobsPerNamespace?: number;
  // A failed merge Job is deleted and the task retried after this long.
  retryFailedAfterMs?: number;
};

export const DEFAULT_MAX_MERGE_JOBS_PER_NAMESPACE = 4;

// The AdapterSet controller: one step (a merge Job) per task, in order, recorded as a decision;
// each module served by a child Adapter. Its Jobs and Adapters are owned, so their changes bring
// the set back; a BaseModel change brings back the sets that name it.
export function adapterSetController(opts: AdapterSetControllerOptions): ControllerFactory {
  return (ctx) => {
    const sets = ctx.cache(AdapterSetKind);
    const deps: AdapterSetDeps = {
      client: ctx.client, sets,
      basemodels: ctx.cache(BaseModelKind), adapters: ctx.cache(AdapterKind), jobs: ctx.cache(JobKind),
      events: ctx.events, clock: ctx.clock, status: new StatusWriter(ctx.client), metrics: new AdapterSetMetrics(ctx.registry),
      image: opts.image, maxJobsPerNamespace: opts.maxJobsPerNamespace ?? DEFAULT_MAX_MERGE_JOBS_PER_NAMESPACE,
      retryFailedAfterMs: opts.retryFailedAfterMs ?? 5 * 60_000, slots: new Map(), created: new Map(),
    };
    const byBaseModel = (bm: KubeObject) => sets.list(bm.metadata?.namespace)
      .filter((s) => (s.spec as { baseModel?: string } | undefined)?.baseModel === bm.metadata?.name)
      .map((s) => joinKey(s.metadata?.namespace, s.metadata!.name!));
    return {
      name: 'adapterset',
      for: AdapterSetKind,
      owns: [JobKind, AdapterKind],
      watches: [{ kind: BaseModelKind, map: byBaseModel }],
      workers: 2,
      reconcile: (req, log, signal) => reconcileAdapterSet(deps, req.namespace, req.name, log, signal),
    };
  };
}
