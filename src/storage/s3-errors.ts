// Classifies S3 and network errors: which are worth retrying, and a short code for metrics and logs.

const TRANSIENT_CODES = new Set([
  'RequestTimeout', 'RequestTimeoutException', 'InternalError', 'ServiceUnavailable', 'SlowDown',
  'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'TimeoutError',
  'RequestTimeTooSkewed', 'PriorRequestNotComplete', 'BandwidthLimitExceeded', 'IncompleteBody',
]);

const TRANSIENT_NET = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENOTFOUND', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'ECANCELED',
]);

interface MaybeS3Error {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
}

// The error's code: the S3 error code when the server sent one, else the network error code, else
// the error's name. Never includes the message (which may echo request details).
export function s3ErrorCode(err: unknown): string {
  const e = (err ?? {}) as MaybeS3Error;
  const code = e.Code ?? (typeof e.code === 'string' ? e.code : undefined) ?? e.name;
  if (code && code !== 'Error') return code;
  const status = e.$metadata?.httpStatusCode;
  if (status) return `HTTP${status}`;
  if (e.cause) return s3ErrorCode(e.cause);
  return 'Unknown';
}

export function httpStatusOf(err: unknown): number | undefined {
  return (err as MaybeS3Error | undefined)?.$metadata?.httpStatusCode;
}

// True for failures that a later attempt may not see: the network, throttling, 5xx, timeouts,
// a body cut short.
export function isTransientS3Error(err: unknown): boolean {
  const e = (err ?? {}) as MaybeS3Error;
  if (e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  const code = s3ErrorCode(err);
  if (TRANSIENT_CODES.has(code) || TRANSIENT_NET.has(code)) return true;
  if (e.$retryable) return true;
  if (typeof e.message === 'string' && /socket hang up|premature close|aborted|ECONNRESET|ECONNREFUSED|terminated/i.test(e.message)) return true;
  if (e.cause && e.cause !== err) return isTransientS3Error(e.cause);
  return false;
}
