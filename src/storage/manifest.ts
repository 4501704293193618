// The digest of a staged folder: sha256 over a manifest of (relative path, size, sha256) lines,
// sorted by path. Documented in docs/agent.md; keep the two in step.
import { createHash } from 'node:crypto';

export interface ManifestEntry {
  path: string; // relative, '/' separators
  size: number;
  sha256: string; // lowercase hex
}

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

// Paths compare by their UTF-8 bytes, so the order does not depend on the language's string model.
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// One line per file: `<path>\t<size>\t<sha256>\n`, sorted by path.
export function formatManifest(entries: readonly ManifestEntry[]): string {
  const sorted = [...entries].sort((a, b) => comparePaths(a.path, b.path));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.path === sorted[i - 1]!.path) throw new Error(`manifest: the path "${sorted[i]!.path}" appears twice`);
  }
  return sorted.map((e) => {
    if (/[\t\n\r]/.test(e.path)) throw new Error(`manifest: the path ${JSON.stringify(e.path)} holds a tab or newline`);
    if (!/^[0-9a-f]{64}$/.test(e.sha256)) throw new Error(`manifest: "${e.path}" has no valid sha256`);
    return `${e.path}\t${e.size}\t${e.sha256}\n`;
  }).join('');
}

export function manifestDigest(entries: readonly ManifestEntry[]): string {
  return `sha256:${createHash('sha256').update(formatManifest(entries), 'utf8').digest('hex')}`;
}

export function digestHex(digest: string): string {
  if (!DIGEST_PATTERN.test(digest)) throw new Error(`digest "${digest}" is not of the form sha256:<64 lowercase hex digits>`);
  return digest.slice('sha256:'.length);
}
