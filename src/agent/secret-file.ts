// A secret mounted as a file (a Kubernetes Secret volume): read at start, then re-read when its
// modification time changes (looked at most every `recheckMs`), so a rotated Secret takes effect
// without a restart. An empty or vanished file mid-rotation keeps the last value.
import { readFileSync, statSync } from 'node:fs';

export class SecretFile {
  private value: string | null = null;
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(readonly path: string, readonly what: string, private readonly recheckMs = 5_000) {
    this.load();
    if (!this.value) throw new Error(`the ${what} file ${path} is empty; mount the Secret there`);
  }

  private load(): void {
    const st = statSync(this.path);
    if (st.mtimeMs === this.mtimeMs && this.value) return;
    const text = readFileSync(this.path, 'utf8').trim();
    this.mtimeMs = st.mtimeMs;
    if (text) this.value = text;
  }

  get(): string {
    const now = Date.now();
    if (now - this.checkedAt >= this.recheckMs) {
      this.checkedAt = now;
      try { this.load(); } catch { /* a vanished file keeps the last value */ }
    }
    return this.value!;
  }
}
