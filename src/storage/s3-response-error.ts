// An S3 error answer (status and XML body) as an error shaped like the SDK's: `name` and `Code`
// hold the S3 error code and `$metadata.httpStatusCode` the status, so s3ErrorCode,
// isTransientS3Error and the agent's failure reasons read it as they read the SDK's errors.

// The SDK's names for bodiless answers (HEAD-like or empty error bodies).
const BY_STATUS: Record<number, string> = {
  301: 'PermanentRedirect', 304: 'NotModified', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound',
  412: 'PreconditionFailed', 416: 'InvalidRange', 500: 'InternalError', 503: 'ServiceUnavailable',
};

export class S3ResponseError extends Error {
  readonly Code: string;
  readonly $metadata: { httpStatusCode: number; requestId?: string };
  readonly $fault: 'client' | 'server';

  constructor(status: number, code: string, message: string, requestId?: string) {
    super(message);
    this.name = code;
    this.Code = code;
    this.$metadata = { httpStatusCode: status, requestId };
    this.$fault = status >= 500 ? 'server' : 'client';
  }
}

function xmlText(body: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body);
  return m?.[1]?.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

export function s3ResponseError(status: number, body: string, requestId?: string): S3ResponseError {
  const code = xmlText(body, 'Code') ?? BY_STATUS[status] ?? `HTTP${status}`;
  const message = xmlText(body, 'Message') ?? `S3 answered ${status}`;
  return new S3ResponseError(status, code, message, requestId ?? xmlText(body, 'RequestId'));
}
