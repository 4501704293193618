// Every error the agent meets while staging or loading, as a failure reason. Known causes get
// their own reason; disk errors are recognised by errno; what is left is a bug or something
// nobody foresaw, reported as Internal (with its stack in the log), never passed off as a disk
// error. Transient reasons are retried with backoff a bounded number of times (the manager turns
// the last one into RetriesExhausted).
import { BodyTooLongError } from '../storage/body-writer.js';
import { DirectGetUnsupportedError, RangeMismatchError } from '../storage/direct-get.js';
import { SourceEmptyError, TooManyObjectsError } from '../storage/download.js';
import { BodyEndedEarlyError } from '../storage/file-download.js';
import { HashWorkerError } from '../storage/hash-worker.js';
import { HttpProtocolError } from '../storage/http-head.js';
import { UnsafeKeyError } from '../storage/rel-path.js';
import { isTransientS3Error, s3ErrorCode } from '../storage/s3-errors.js';
import { S3UriError } from '../storage/s3-uri.js';
import { EngineRejectedError, EngineUnavailableError } from './engines/types.js';
import { AgentFailure } from './types.js';

const NOT_FOUND = new Set(['NoSuchBucket', 'NoSuchKey', 'NotFound']);
const DENIED = new Set(['AccessDenied', 'Forbidden', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled']);

// errno codes of the local file system: the cache volume is full, read-only, broken or out of
// descriptors, or something else holds the path.
export const DISK_ERRNOS = new Set([
  'ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EMFILE', 'ENFILE', 'EACCES', 'EPERM', 'ENOENT', 'ENOTDIR', 'EISDIR',
  'EEXIST', 'ENOTEMPTY', 'EBUSY', 'EXDEV', 'ENAMETOOLONG', 'ELOOP', 'EFBIG', 'ESTALE', 'ETXTBSY', 'ENOMEM',
]);

// The errno of a file system call (it has a syscall), else undefined.
function diskErrno(err: unknown): string | undefined {
  const e = err as { code?: unknown; syscall?: unknown; errno?: unknown } | null;
  if (!e || typeof e.code !== 'string' || !DISK_ERRNOS.has(e.code)) return undefined;
  return typeof e.syscall === 'string' || typeof e.errno === 'number' || err instanceof HashWorkerError ? e.code : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function toAgentFailure(err: unknown, what: string): AgentFailure {
  if (err instanceof AgentFailure) return err;
  if (err instanceof S3UriError || err instanceof UnsafeKeyError) return new AgentFailure('InvalidSource', err.message, err);
  if (err instanceof SourceEmptyError) return new AgentFailure('SourceEmpty', err.message, err);
  if (err instanceof TooManyObjectsError) {
    return new AgentFailure('TooManyObjects', `${err.message}, the agent's limit (GRAFT_AGENT_MAX_OBJECTS); an adapter is a few files: point the source at the adapter's own folder`, err);
  }
  if (err instanceof EngineRejectedError) return new AgentFailure('EngineRejected', err.message, err);
  if (err instanceof EngineUnavailableError) return new AgentFailure('EngineUnavailable', err.message, err);

  const errno = diskErrno(err);
  if (errno) return new AgentFailure('DiskError', `${what}: the cache volume failed (${errno}): ${messageOf(err)}`, err);

  // Anything the S3 server answered, and every way the connection to it can fail.
  const s3 = err as { $metadata?: unknown; $fault?: unknown } | null;
  const code = s3ErrorCode(err);
  const fromS3 = !!s3 && (s3.$metadata !== undefined || s3.$fault !== undefined);
  if (fromS3 && NOT_FOUND.has(code)) return new AgentFailure('SourceNotFound', `${what}: ${code}: ${messageOf(err)}`, err);
  if (fromS3 && DENIED.has(code)) return new AgentFailure('AccessDenied', `${what}: ${code}: check the S3 credentials Secret and the bucket policy`, err);
  if (fromS3 || isTransientS3Error(err) || err instanceof RangeMismatchError || err instanceof HttpProtocolError
    || err instanceof BodyEndedEarlyError || err instanceof BodyTooLongError || err instanceof DirectGetUnsupportedError) {
    return new AgentFailure('S3Error', `${what}: ${code}: ${messageOf(err)}`, err);
  }
  return new AgentFailure('Internal', `${what}: internal error (${err instanceof Error ? err.name : typeof err}): ${messageOf(err)}`, err);
}
