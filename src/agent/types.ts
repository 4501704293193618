// What the agent reports for each adapter, and the reasons a step can fail.

import type { FailureReason } from '../contracts/agent-api.js';

export { ADAPTER_STATES, FAILURE_REASONS, isPermanent, PERMANENT_REASONS, TRANSIENT_REASONS } from '../contracts/agent-api.js';
export type { AdapterState, AdapterStatus, FailureReason } from '../contracts/agent-api.js';

export class AgentFailure extends Error {
  constructor(readonly reason: FailureReason, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AgentFailure';
  }
}

export interface AdapterSpec {
  source: string; // s3://bucket/prefix/
  digest?: string; // sha256:<hex>, when the operator knows it
}
