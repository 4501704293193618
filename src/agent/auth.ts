// The bearer token of the /v1 API, read from a mounted Secret file (re-read when the file changes,
// so a rotated Secret takes effect) and compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

export class TokenFile {
  private token: Buffer | null = null;
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(readonly path: string, private readonly recheckMs = 5_000) {
    this.load();
    if (!this.token) throw new Error(`the token file ${path} is empty; mount the agent's token Secret there`);
  }

  private load(): void {
    const st = statSync(this.path);
    if (st.mtimeMs === this.mtimeMs && this.token) return;
    const text = readFileSync(this.path, 'utf8').trim();
    this.mtimeMs = st.mtimeMs;
    // Keep the previous token when the new file is empty (mid-rotation).
    if (text) this.token = Buffer.from(text, 'utf8');
  }

  // True when `header` is "Bearer <token>".
  check(header: string | undefined): boolean {
    const now = Date.now();
    if (now - this.checkedAt > this.recheckMs) {
      this.checkedAt = now;
      try { this.load(); } catch { /* a vanished file keeps the last token */ }
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    return m ? tokensEqual(Buffer.from(m[1]!, 'utf8'), this.token!) : false;
  }
}

// Constant time whatever the lengths: both sides are hashed to 32 bytes first.
export function tokensEqual(given: Buffer, expected: Buffer): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}
