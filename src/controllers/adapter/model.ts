import type { AdapterStatus as AgentAdapter } from '../../contracts/agent-api.js';

// What the Adapter controller works with: the adapters of one BaseModel as plain data, the pods
// that may host them, and what each pod's agent reports. The pure steps (spec.ts, pods.ts,
// placement.ts, plan.ts, status.ts, report.ts) take these; reconcile.ts and the I/O steps
// (observe.ts, act.ts, write.ts) move them between the caches, the agents and the API server.

export type { AgentAdapter };

export type AdapterInfo = {
  key: string; // namespace/name of the Adapter object
  servedName: string; // the name the engine serves it under (and the agent's name for it)
  source: string;
  digest?: string;
  replicas: number | 'All';
  priority: number;
  sizeBytes?: number;
  deleting: boolean;
};

// A pod of the BaseModel (its own: pod → ReplicaSet → Deployment → BaseModel), with the address its
// agent listens on. `ready` pods take new placements; a pod in its grace period (NotReady or its
// agent unreachable for less than the grace time) keeps the placements it has and takes no new
// ones, so an engine restart reshuffles nothing.
export type ServingPod = {
  name: string;
  uid: string;
  address: string;
  ready: boolean;
  // Since when it has not been ready (or its agent unreachable), when it is not.
  notReadySince?: number;
};

export type AgentView =
  | { pod: string; reachable: true; adapters: Map<string, AgentAdapter> }
  | { pod: string; reachable: false; error: string; code: string };

// The agent's entry is for the version the Adapter asks for now.
export function isCurrent(a: Pick<AdapterInfo, 'source' | 'digest'>, e: AgentAdapter): boolean {
  return e.source === a.source && (e.expectedDigest ?? undefined) === (a.digest ?? undefined);
}

// Everything a version is known by, for keys of per-version memory (call backoff).
export const versionKey = (a: Pick<AdapterInfo, 'source' | 'digest'>) => `${a.source}#${a.digest ?? ''}`;
