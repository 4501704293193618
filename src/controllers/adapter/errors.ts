// The Adapter controller's errors, each with a code: the code goes to logs and to the
// graft_agent_call_errors_total metric, the message to the Adapter's status.

export type AgentErrorCode =
  | 'timeout' // no answer within the agent timeout
  | 'aborted' // the reconcile's signal aborted (leadership lost, shutdown)
  | 'tls' // the agent's certificate is not the one this BaseModel's key ring issued
  | 'network' // refused, reset, unreachable (the OS code is in `cause`)
  | 'bad_answer' // an answer that does not match the agent API's schema, or too large
  | `http_${number}`; // the agent answered with this HTTP status

export class AgentCallError extends Error {
  constructor(readonly code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentCallError';
  }

  // The agent refused the request itself (4xx other than auth): sending it again cannot help.
  get refused(): boolean {
    const m = /^http_(\d+)$/.exec(this.code);
    return !!m && Number(m[1]) >= 400 && Number(m[1]) < 500 && m[1] !== '401' && m[1] !== '408' && m[1] !== '429';
  }
}

export function isAgentCallError(err: unknown): err is AgentCallError {
  return err instanceof AgentCallError;
}
