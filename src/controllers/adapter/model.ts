import type { AdapterStatus as AgentAdapter } from '../../agent/types.js';

// What the Adapter controller works with: the adapters of one BaseModel as plain data, and what
// each pod's agent reports. Pure code (plan.ts, status.ts) takes these; reconcile.ts does the I/O.

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

export type AgentView =
  | { pod: string; reachable: true; adapters: Map<string, AgentAdapter> }
  | { pod: string; reachable: false; error: string };

// The agent's entry is for the version the Adapter asks for now.
export function isCurrent(a: AdapterInfo, e: AgentAdapter): boolean {
  return e.source === a.source && (e.expectedDigest ?? undefined) === (a.digest ?? undefined);
}
