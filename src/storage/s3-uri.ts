// s3://bucket/prefix/ locations: parsing with errors that name the field and the fix, and formatting.

export interface S3Location {
  bucket: string;
  // The key prefix, without a leading slash; '' for the whole bucket. Kept as written (a trailing
  // slash, when present, stays) so that `s3://b/p/` and `s3://b/p` can be told apart by callers.
  prefix: string;
}

export class S3UriError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'S3UriError';
  }
}

// Bucket naming rules of S3 (general purpose buckets), minus the legacy upper-case forms.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseS3Uri(uri: string, field = 'source'): S3Location {
  if (typeof uri !== 'string' || uri.length === 0) throw new S3UriError(field, 'is empty; write it as s3://bucket/prefix/');
  if (!uri.startsWith('s3://')) throw new S3UriError(field, `"${clip(uri)}" is not an s3:// URI; write it as s3://bucket/prefix/`);
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (!bucket) throw new S3UriError(field, `"${clip(uri)}" has no bucket; write it as s3://bucket/prefix/`);
  if (!BUCKET.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
    throw new S3UriError(field, `bucket "${clip(bucket)}" is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-', starting and ending with a letter or digit)`);
  }
  if (/[\u0000-\u001f\u007f]/.test(prefix)) throw new S3UriError(field, 'the prefix holds control characters');
  if (prefix.startsWith('/')) throw new S3UriError(field, `"${clip(uri)}" has an empty path segment after the bucket; write s3://${bucket}/${prefix.replace(/^\/+/, '')}`);
  // "." and ".." segments mean nothing to S3 but everything to a local file system: refuse them so a
  // key can never climb out of the folder it is staged into.
  if (prefix.split('/').some((seg) => seg === '.' || seg === '..')) throw new S3UriError(field, `the prefix "${clip(prefix)}" holds a "." or ".." segment`);
  if (Buffer.byteLength(prefix) > 1024) throw new S3UriError(field, 'the prefix is longer than 1024 bytes, the S3 key limit');
  return { bucket, prefix };
}

export function formatS3Uri(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.prefix}`;
}

// The prefix as a folder: '' stays '', anything else ends with exactly one slash.
export function folderPrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

// The key of `rel` (a relative path with '/' separators) under `prefix` taken as a folder.
export function joinKey(prefix: string, rel: string): string {
  return `${folderPrefix(prefix)}${rel.replace(/^\/+/, '')}`;
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
