import type { ControllerFactory } from '../runtime/controller.js';
import { joinKey, type KubeObject } from '../runtime/object.js';
import { StatusWriter } from '../runtime/status-writer.js';
import { AgentClient } from './adapter/agent-client.js';
import { AdapterMetrics } from './adapter/metrics.js';
import { reconcileAdapters, type AdapterDeps } from './adapter/reconcile.js';
import { LABEL_BASEMODEL } from '../contracts/names.js';
import { AdapterKind, BaseModelKind, PodKind, SecretKind } from './kinds.js';

export type AdapterControllerOptions = {
  unloadTimeoutMs?: number;
  recheckMs?: number;
  pollMs?: number;
  agentTimeoutMs?: number;
};

export const DEFAULT_UNLOAD_TIMEOUT_MS = 120_000;

// The Adapter controller places the Adapters of each BaseModel on its ready pods and drives the
// pods' agents. Its work queue is keyed by BaseModel: an Adapter, a serving pod or the agent token
// changing all bring their base model back, and one pass settles all of its adapters together.
export function adapterController(opts: AdapterControllerOptions = {}): ControllerFactory {
  return (ctx) => {
    const metrics = new AdapterMetrics(ctx.registry);
    const deps: AdapterDeps = {
      client: ctx.client,
      adapters: ctx.cache(AdapterKind),
      basemodels: ctx.cache(BaseModelKind),
      pods: ctx.cache(PodKind),
      secrets: ctx.cache(SecretKind),
      events: ctx.events,
      clock: ctx.clock,
      agents: new AgentClient({ timeoutMs: opts.agentTimeoutMs ?? 5_000, onError: (code) => metrics.agentErrors.labels(code).inc() }),
      metrics,
      status: new StatusWriter(ctx.client),
      unloadTimeoutMs: opts.unloadTimeoutMs ?? DEFAULT_UNLOAD_TIMEOUT_MS,
      recheckMs: opts.recheckMs ?? 30_000,
      pollMs: opts.pollMs ?? 1_000,
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
        { kind: SecretKind, map: toBaseModel },
      ],
      workers: 2,
      reconcile: (req, log) => reconcileAdapters(deps, req.namespace, req.name, log),
    };
  };
}
