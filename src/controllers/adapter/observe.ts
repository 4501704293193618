import { Limiter } from '../../util/limiter.js';
import type { AgentApi, AgentTarget } from './agent-client.js';
import { isAgentCallError } from './errors.js';
import type { AgentView } from './model.js';

// Reads what every pod's agent holds (GET /v1/adapters), at most `concurrency` at once. A pod
// whose agent does not answer, answers with an error, or answers something that is not the agent
// API is unreachable for this pass; the pass goes on with the others.
export async function observeAgents(agents: AgentApi, targets: readonly AgentTarget[], signal: AbortSignal, concurrency = 16): Promise<Map<string, AgentView>> {
  const limiter = new Limiter(concurrency);
  const views = new Map<string, AgentView>();
  await Promise.all(targets.map((t) => limiter.run(async () => {
    try {
      views.set(t.pod, { pod: t.pod, reachable: true, adapters: await agents.list(t, signal) });
    } catch (err) {
      views.set(t.pod, { pod: t.pod, reachable: false, error: (err as Error).message, code: isAgentCallError(err) ? err.code : 'network' });
    }
  }, signal)));
  return views;
}
