// Turns storage errors into the agent's failure reasons.
import { SourceEmptyError } from '../storage/download.js';
import { UnsafeKeyError } from '../storage/rel-path.js';
import { isTransientS3Error, s3ErrorCode } from '../storage/s3-errors.js';
import { S3UriError } from '../storage/s3-uri.js';
import { AgentFailure } from './types.js';

const NOT_FOUND = new Set(['NoSuchBucket', 'NoSuchKey', 'NotFound']);
const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled']);

export function toAgentFailure(err: unknown, what: string): AgentFailure {
  if (err instanceof AgentFailure) return err;
  if (err instanceof S3UriError || err instanceof UnsafeKeyError) return new AgentFailure('InvalidSource', err.message, err);
  if (err instanceof SourceEmptyError) return new AgentFailure('SourceEmpty', err.message, err);
  const code = s3ErrorCode(err);
  const detail = (err as Error)?.message ?? String(err);
  if (NOT_FOUND.has(code)) return new AgentFailure('SourceNotFound', `${what}: ${code}: ${detail}`, err);
  if (DENIED.has(code)) return new AgentFailure('AccessDenied', `${what}: ${code}: check the S3 credentials Secret and the bucket policy`, err);
  if (isTransientS3Error(err) || code === 'PreconditionFailed' || (err as { $metadata?: unknown })?.$metadata) {
    return new AgentFailure('S3Error', `${what}: ${code}: ${detail}`, err);
  }
  return new AgentFailure('DiskError', `${what}: ${detail}`, err);
}
