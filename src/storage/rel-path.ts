// Maps S3 keys under a prefix to relative paths that are safe to create on a local file system.
import { folderPrefix } from './s3-uri.js';

export class UnsafeKeyError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`object key ${JSON.stringify(key)} cannot be staged: ${reason}`);
    this.name = 'UnsafeKeyError';
  }
}

// Names Graft writes inside staged folders; an object of the same name would clash.
export const RESERVED_NAMES = new Set(['.graft-manifest.json']);

// The relative path of `key` under `prefix` (taken as a folder); null for folder markers ("a/").
export function relativePathOf(prefix: string, key: string): string | null {
  const base = folderPrefix(prefix);
  if (!key.startsWith(base)) throw new UnsafeKeyError(key, `it is not under the prefix "${base}"`);
  const rel = key.slice(base.length);
  if (rel === '' || rel.endsWith('/')) return null;
  checkRelativePath(rel, key);
  return rel;
}

export function checkRelativePath(rel: string, key = rel): void {
  if (rel.startsWith('/')) throw new UnsafeKeyError(key, 'it starts with "/"');
  if (rel.includes('\\')) throw new UnsafeKeyError(key, 'it holds a backslash');
  if (/[\u0000-\u001f\u007f]/.test(rel)) throw new UnsafeKeyError(key, 'it holds control characters');
  const segs = rel.split('/');
  for (const s of segs) {
    if (s === '') throw new UnsafeKeyError(key, 'it has an empty path segment ("//")');
    if (s === '.' || s === '..') throw new UnsafeKeyError(key, `it has a "${s}" segment`);
    if (Buffer.byteLength(s) > 255) throw new UnsafeKeyError(key, 'a path segment is longer than 255 bytes');
  }
  if (segs.length === 1 && RESERVED_NAMES.has(rel)) throw new UnsafeKeyError(key, `"${rel}" is reserved for Graft's own manifest`);
}
