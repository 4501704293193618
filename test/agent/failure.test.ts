// Every error met while staging or loading gets a reason that says what it is; nothing unknown
// passes for a disk error any more.
import { describe, expect, it } from 'vitest';
import { EngineRejectedError, EngineUnavailableError, EngineUnreachableError } from '../../src/agent/engines/types.js';
import { toAgentFailure } from '../../src/agent/failure.js';
import { AgentFailure, isPermanent } from '../../src/agent/types.js';
import { SourceEmptyError, TooManyObjectsError } from '../../src/storage/download.js';
import { HashWorkerError } from '../../src/storage/hash-worker.js';
import { UnsafeKeyError } from '../../src/storage/rel-path.js';
import { s3ResponseError } from '../../src/storage/s3-response-error.js';
import { S3UriError } from '../../src/storage/s3-uri.js';

const sys = (code: string, syscall = 'write') => Object.assign(new Error(`${code}: something, ${syscall} '/cache/x'`), { code, syscall, errno: -1 });

describe('toAgentFailure', () => {
  it.each([
    [sys('ENOSPC'), 'DiskError'],
    [sys('EIO', 'read'), 'DiskError'],
    [sys('EROFS', 'open'), 'DiskError'],
    [sys('EDQUOT'), 'DiskError'],
    [sys('EMFILE', 'open'), 'DiskError'],
    [new HashWorkerError('EIO: i/o error, read', 'EIO'), 'DiskError'],
    [sys('ECONNRESET', 'read'), 'S3Error'],
    [sys('ECONNREFUSED', 'connect'), 'S3Error'],
    [s3ResponseError(404, '<Error><Code>NoSuchBucket</Code><Message>no</Message></Error>'), 'SourceNotFound'],
    [s3ResponseError(403, '<Error><Code>AccessDenied</Code><Message>no</Message></Error>'), 'AccessDenied'],
    [s3ResponseError(403, ''), 'AccessDenied'],
    [s3ResponseError(503, '<Error><Code>SlowDown</Code></Error>'), 'S3Error'],
    [s3ResponseError(412, ''), 'S3Error'],
    [new TooManyObjectsError('s3://b/p/', 1000), 'TooManyObjects'],
    [new SourceEmptyError('s3://b/p/'), 'SourceEmpty'],
    [new S3UriError('source', 'bad'), 'InvalidSource'],
    [new UnsafeKeyError('a/../b', 'it has a ".." segment'), 'InvalidSource'],
    [new EngineRejectedError(400, 'vLLM refused to load'), 'EngineRejected'],
    [new EngineUnavailableError('vLLM failed (HTTP 500)'), 'EngineUnavailable'],
    [new EngineUnreachableError('cannot be reached'), 'EngineUnavailable'],
    [new TypeError("Cannot read properties of undefined (reading 'x')"), 'Internal'],
    [new RangeError('Invalid array length'), 'Internal'],
    [new Error('something nobody foresaw'), 'Internal'],
    [Object.assign(new Error('has a code but is no system call'), { code: 'ENOSPC' }), 'Internal'],
    ['a string thrown', 'Internal'],
  ] as Array<[unknown, string]>)('%s → %s', (err, reason) => {
    const f = toAgentFailure(err, 'staging');
    expect(f).toBeInstanceOf(AgentFailure);
    expect(f.reason).toBe(reason);
    expect(f.message.length).toBeGreaterThan(5);
  });

  it('names the errno and the path for disk errors, the limit for listings, and keeps the cause', () => {
    const err = sys('ENOSPC');
    const f = toAgentFailure(err, 'downloading s3://b/a/');
    expect(f.message).toMatch(/downloading s3:\/\/b\/a\/: the cache volume failed \(ENOSPC\).*\/cache\/x/);
    expect(f.cause).toBe(err);
    expect(toAgentFailure(new TooManyObjectsError('s3://b/p/', 1000), 'listing').message).toMatch(/more than 1000 objects under s3:\/\/b\/p\/.*GRAFT_AGENT_MAX_OBJECTS/);
  });

  it('keeps Internal and the disk and S3 reasons transient, the limits permanent', () => {
    for (const r of ['Internal', 'DiskError', 'S3Error', 'EngineUnavailable']) expect(isPermanent(r)).toBe(false);
    for (const r of ['RetriesExhausted', 'TooManyObjects', 'ConfigTooLarge', 'SafetensorsHeaderTooLarge', 'SourceNotAllowed']) expect(isPermanent(r)).toBe(true);
  });
});
