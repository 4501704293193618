import type { AgentAdapter, AdapterInfo, AgentView } from '../../src/controllers/adapter/model.js';
import type { ObserveContext } from '../../src/controllers/adapter/status.js';

// Plain data for the Adapter controller's unit tests. Agent entries have the shape the agent
// answers with (src/contracts/agent-api.ts AdapterStatus).
export const info = (name: string, source = `s3://b/${name}/`, extra: Partial<AdapterInfo> = {}): AdapterInfo =>
  ({ key: `ns/${name}`, servedName: name, source, replicas: 2, priority: 0, deleting: false, ...extra });
export const entry = (name: string, state: AgentAdapter['state'], source = `s3://b/${name}/`, extra: Partial<AgentAdapter> = {}): AgentAdapter =>
  ({ name, source, state, digest: 'sha256:' + 'a'.repeat(64), bytes: 10, rank: 8, progress: { bytesDone: 10, bytesTotal: 10 }, attempts: 0, updatedAt: '2026-11-27T09:00:00.000Z', ...extra });
export const view = (pod: string, ...entries: AgentAdapter[]): AgentView => ({ pod, reachable: true, adapters: new Map(entries.map((e) => [e.name, e])) });
export const down = (pod: string): AgentView => ({ pod, reachable: false, error: 'connect ECONNREFUSED', code: 'network' });
export const views = (...vs: AgentView[]) => new Map(vs.map((v) => [v.pod, v]));
export const ctx = (ready: string[], extra: Partial<ObserveContext> = {}): ObserveContext =>
  ({ readyPods: new Set(ready), waitingForPods: false, baseModelReplicas: ready.length, ...extra });
