import type { ControllerFactory } from '../runtime/controller.js';
import { joinKey, type KubeObject } from '../runtime/object.js';
import { controllerOf } from '../runtime/owner.js';
import { StatusWriter } from '../runtime/status-writer.js';
import type { KeyRing } from '../security/keys.js';
import { AgentClient } from './adapter/agent-client.js';
import { ControllerMemory } from './adapter/memory.js';
import { AdapterMetrics } from './adapter/metrics.js';
import { cacheReader, kubeWriter } from './adapter/ports.js';
import { reconcileAdapters, type AdapterDeps, type AdapterTiming } from './adapter/reconcile.js';
import { LABEL_BASEMODEL } from '../contracts/names.js';
import { AdapterKind, BaseModelKind, DeploymentKind, PodKind, ReplicaSetKind } from './kinds.js';

export type AdapterControllerOptions = Partial<AdapterTiming> & {
  // Derives each BaseModel's agent token and the TLS certificate its agents serve.
  keyRing: KeyRing;
  agentTimeoutMs?: number;
  // Failed agent calls: first retry after this, doubling up to callBackoffMaxMs.
  callBackoffMs?: number;
  callBackoffMaxMs?: number;
};

export const DEFAULT_TIMING: AdapterTiming = {
  unloadTimeoutMs: 120_000,
  recheckMs: 2_000,
  pollMs: 1_000,
  inFlightPerPod: 16,
  // A small adapter stages and loads within a second: its PUT answers Loaded and its first status
  // write is Ready. A slower one answers Staging after this and is followed by the next reads.
  putWaitMs: 2_000,
  statusIntervalMs: 2_000,
  notReadyGraceMs: 60_000,
  baseModelWaitMs: 5 * 60_000,
};
export const DEFAULT_UNLOAD_TIMEOUT_MS = DEFAULT_TIMING.unloadTimeoutMs;

// The Adapter controller places the Adapters of each BaseModel on its own ready pods and drives
// the pods' agents. Its work queue is keyed by BaseModel: an Adapter, a serving pod or its
// ReplicaSet changing all bring their base model back, and one pass settles all of its adapters
// together. It reads no Secret: the agent token and certificate come from the key ring.
export function adapterController(opts: AdapterControllerOptions): ControllerFactory {
  return (ctx) => {
    const metrics = new AdapterMetrics(ctx.registry);
    const timing: AdapterTiming = { ...DEFAULT_TIMING };
    for (const k of Object.keys(DEFAULT_TIMING) as (keyof AdapterTiming)[]) if (opts[k] !== undefined) timing[k] = opts[k]!;
    const deps: AdapterDeps = {
      reader: cacheReader({
        adapters: ctx.cache(AdapterKind), basemodels: ctx.cache(BaseModelKind), pods: ctx.cache(PodKind),
        replicaSets: ctx.cache(ReplicaSetKind), deployments: ctx.cache(DeploymentKind),
      }),
      writer: kubeWriter(ctx.client),
      status: new StatusWriter(ctx.client),
      events: ctx.events,
      clock: ctx.clock,
      agents: new AgentClient({ keyRing: opts.keyRing, checkLeadership: ctx.checkLeadership, timeoutMs: opts.agentTimeoutMs ?? 5_000, onError: (code) => metrics.agentErrors.labels(code).inc() }),
      metrics,
      memory: new ControllerMemory({ baseMs: opts.callBackoffMs, maxMs: opts.callBackoffMaxMs }),
      timing,
    };
    const toBaseModel = (o: KubeObject) => {
      const bm = o.metadata?.labels?.[LABEL_BASEMODEL];
      return bm ? [joinKey(o.metadata?.namespace, bm)] : [];
    };
    return {
      name: 'adapter',
      for: BaseModelKind,
      watches: [
        { kind: AdapterKind, map: (a) => [joinKey(a.metadata?.namespace, String((a as { spec?: { baseModel?: string } }).spec?.baseModel ?? ''))] },
        { kind: PodKind, map: toBaseModel },
        // A ReplicaSet arriving in the cache after its pods makes them the BaseModel's own.
        { kind: ReplicaSetKind, map: toBaseModel },
        { kind: DeploymentKind, map: (d) => { const c = controllerOf(d); return c?.kind === 'BaseModel' ? [joinKey(d.metadata?.namespace, c.name)] : []; } },
      ],
      workers: 2,
      reconcile: (req, log, signal) => reconcileAdapters(deps, req.namespace, req.name, log, signal),
    };
  };
}
