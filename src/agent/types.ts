// What the agent reports for each adapter, and the reasons a step can fail.

export const ADAPTER_STATES = ['Staging', 'Staged', 'Loading', 'Loaded', 'Unloading', 'Failed'] as const;
export type AdapterState = (typeof ADAPTER_STATES)[number];

// Every reason a Failed adapter can carry. The first group depends only on the bytes (retrying
// cannot help); the rest may pass on a later attempt.
export const PERMANENT_REASONS = [
  'DigestMismatch', 'InvalidSource', 'SourceEmpty', 'SourceNotFound', 'AccessDenied', 'TooLarge',
  'InvalidAdapter', 'UnsupportedVariant', 'RankTooHigh', 'BaseModelMismatch',
  'SafetensorsHeaderTooLarge', 'SafetensorsHeaderInvalid', 'SafetensorsOffsets', 'SafetensorsSizeMismatch',
  'SafetensorsDuplicateTensor', 'EngineRejected',
] as const;
export const TRANSIENT_REASONS = ['S3Error', 'DiskBudgetExceeded', 'DiskError', 'EngineUnavailable'] as const;
export type FailureReason = (typeof PERMANENT_REASONS)[number] | (typeof TRANSIENT_REASONS)[number];

export function isPermanent(reason: FailureReason): boolean {
  return (PERMANENT_REASONS as readonly string[]).includes(reason);
}

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

export interface AdapterStatus {
  name: string;
  source: string;
  expectedDigest?: string;
  state: AdapterState;
  digest?: string; // of the staged bytes
  bytes?: number;
  rank?: number;
  path?: string; // the folder the engine loads
  progress: { bytesDone: number; bytesTotal: number };
  error?: { reason: FailureReason; message: string };
  attempts: number;
  updatedAt: string;
}
