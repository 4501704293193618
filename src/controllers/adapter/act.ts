import type { Logger } from 'pino';
import { Limiter } from '../../util/limiter.js';
import { AGENT_CALLS_PER_POD, type AgentApi, type AgentTarget } from './agent-client.js';
import { isAgentCallError } from './errors.js';
import type { AgentView } from './model.js';
import type { AgentAction } from './plan.js';

// Failed agent calls are retried with a capped exponential backoff per pod, name and version, so
// a pod that keeps failing (or refusing) a call is not sent it on every pass. A call the agent
// refuses (a 4xx answer) is given up after `maxRefusals`; the status then says so with the
// agent's message, and a new version (a spec change) starts over.
export type CallBackoffOptions = { baseMs?: number; maxMs?: number; maxRefusals?: number };

type Entry = { failures: number; retryAt: number; message: string; refused: boolean; gaveUp: boolean };

export class CallBackoff {
  private readonly entries = new Map<string, Entry>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly maxRefusals: number;

  constructor(opts: CallBackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 1_000;
    this.maxMs = opts.maxMs ?? 5 * 60_000;
    this.maxRefusals = opts.maxRefusals ?? 3;
  }

  due(key: string, nowMs: number): boolean {
    const e = this.entries.get(key);
    return !e || (!e.gaveUp && nowMs >= e.retryAt);
  }

  failed(key: string, nowMs: number, message: string, refused: boolean): void {
    const e = this.entries.get(key) ?? { failures: 0, retryAt: 0, message, refused, gaveUp: false };
    e.failures++;
    e.message = message;
    e.refused = refused;
    e.retryAt = nowMs + Math.min(this.maxMs, this.baseMs * 2 ** (e.failures - 1));
    e.gaveUp = refused && e.failures >= this.maxRefusals;
    this.entries.set(key, e);
  }

  succeeded(key: string): void { this.entries.delete(key); }

  // The last failure of a call not yet succeeded: `refused` only once given up.
  error(key: string): { message: string; refused: boolean } | undefined {
    const e = this.entries.get(key);
    return e && { message: e.message, refused: e.gaveUp };
  }

  // The earliest retry among calls still tried.
  nextRetry(keys: Iterable<string>): number | undefined {
    let next: number | undefined;
    for (const k of keys) {
      const e = this.entries.get(k);
      if (e && !e.gaveUp) next = Math.min(next ?? Infinity, e.retryAt);
    }
    return next;
  }

  // Forgets calls whose key `keep` rejects (pods gone, versions replaced).
  retain(keep: (key: string) => boolean): void {
    for (const k of [...this.entries.keys()]) if (!keep(k)) this.entries.delete(k);
  }

  get size(): number { return this.entries.size; }
}

// The key of one call: the pod (by uid, so a new pod of the same name starts afresh), the name
// and, for a PUT, the version asked for.
export function callKey(podUid: string, act: AgentAction): string {
  return act.op === 'put' ? `${podUid}|put|${act.name}|${act.source}#${act.digest ?? ''}` : `${podUid}|delete|${act.name}`;
}

// Sends planned calls, each with the reconcile's signal: at most `perPod` at once to one pod (its
// connection pool's size) and `total` at once overall. A PUT's answer is the agent's entry for
// that name, and is folded into the pod's view, so the Adapter's report that follows says what the
// agent now does (Staging, or Loaded from its cache) rather than what it did before the call.
export class AgentCaller {
  // The key of every call planned (sent, skipped for backoff or failed): the backoff keeps these.
  readonly keys: string[] = [];
  private readonly all: Limiter;
  private readonly byPod = new Map<string, Limiter>();

  constructor(
    private readonly agents: AgentApi, private readonly targets: ReadonlyMap<string, AgentTarget & { uid: string }>,
    private readonly views: Map<string, AgentView>, private readonly backoff: CallBackoff,
    private readonly nowMs: number, private readonly signal: AbortSignal, private readonly log: Logger,
    // putWaitMs: how long an agent may hold a PUT's answer for the load to finish (?wait=), so
    // the report that follows says Loaded and the Adapter's status is written once, Ready.
    private readonly limits = { perPod: AGENT_CALLS_PER_POD, total: 64, putWaitMs: 0 },
  ) {
    this.all = new Limiter(limits.total);
  }

  // Every call of `actions` (the calls of one Adapter, say), in parallel.
  async run(actions: readonly AgentAction[]): Promise<void> {
    await Promise.all(actions.map((a) => this.call(a)));
  }

  private async call(a: AgentAction): Promise<void> {
    const t = this.targets.get(a.pod);
    if (!t) return;
    const key = callKey(t.uid, a);
    this.keys.push(key);
    if (!this.backoff.due(key, this.nowMs)) return;
    let pod = this.byPod.get(a.pod);
    if (!pod) { pod = new Limiter(this.limits.perPod); this.byPod.set(a.pod, pod); }
    await pod.run(() => this.all.run(() => this.send(a, t, key)));
  }

  private async send(a: AgentAction, t: AgentTarget, key: string): Promise<void> {
    const signal = this.signal;
    if (signal.aborted) return;
    try {
      if (a.op === 'put') {
        const answer = await this.agents.put(t, a.name, a.digest ? { source: a.source, digest: a.digest } : { source: a.source }, signal, this.limits.putWaitMs);
        const v = this.views.get(a.pod);
        if (v?.reachable && answer?.name === a.name) v.adapters.set(a.name, answer);
      } else await this.agents.delete(t, a.name, signal);
      this.backoff.succeeded(key);
    } catch (err) {
      if (signal.aborted) return;
      const refused = isAgentCallError(err) && err.refused;
      this.backoff.failed(key, this.nowMs, (err as Error).message, refused);
      this.log.warn({ err, pod: a.pod, adapter: a.name, op: a.op, code: isAgentCallError(err) ? err.code : undefined }, 'agent call failed');
    }
  }
}
