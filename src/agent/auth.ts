// The bearer token of the agent API, read from the mounted token Secret (re-read when it changes)
// and compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { SecretFile } from './secret-file.js';

export class TokenFile {
  private readonly file: SecretFile;

  constructor(readonly path: string, recheckMs = 5_000) {
    this.file = new SecretFile(path, 'token', recheckMs);
  }

  // True when `header` is "Bearer <token>" (the scheme in any case, one token, nothing else).
  check(header: string | undefined): boolean {
    const m = /^Bearer +([!-~]+) *$/i.exec(header ?? '');
    return m ? tokensEqual(Buffer.from(m[1]!, 'utf8'), Buffer.from(this.file.get(), 'utf8')) : false;
  }
}

// Constant time whatever the lengths: both sides are hashed to 32 bytes first.
export function tokensEqual(given: Buffer, expected: Buffer): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}
