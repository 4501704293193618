// sha256 of a file whose parts are written in parallel and out of order. Bytes that arrive at the
// hash frontier are hashed straight from memory; bytes written ahead of it are read back (from the
// page cache) once everything before them is on disk. Memory stays bounded by one read buffer.
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Part } from './parts.js';

const READ_BUFFER = 1 << 20;

export class OrderedHasher {
  private readonly hash: Hash = createHash('sha256');
  private next = 0; // bytes hashed so far = offset of the hash frontier
  private cur = 0; // index of the part holding `next`
  private readonly written: number[]; // contiguous bytes written from each part's start
  private catchingUp: Promise<void> | null = null;
  private buf: Buffer | null = null;
  private failure: unknown = null;

  constructor(private readonly fh: FileHandle, private readonly parts: readonly Part[], readonly size: number) {
    this.written = parts.map(() => 0);
  }

  // Before writing `chunks` at `pos`: hash them now when they sit exactly at the frontier.
  hashIfNext(pos: number, chunks: readonly Buffer[], length: number): boolean {
    if (this.catchingUp || pos !== this.next) return false;
    for (const c of chunks) this.hash.update(c);
    this.next += length;
    return true;
  }

  // After a write: part `index` now has `bytes` contiguous bytes on disk.
  markWritten(index: number, bytes: number): void {
    this.written[index] = bytes;
    this.kick();
  }

  private frontierLimit(): number {
    while (this.cur < this.parts.length && this.next > this.parts[this.cur]!.end) this.cur++;
    let i = this.cur;
    while (i < this.parts.length && this.written[i] === this.parts[i]!.end - this.parts[i]!.start + 1) i++;
    return i === this.parts.length ? this.size : this.parts[i]!.start + this.written[i]!;
  }

  private kick(): void {
    if (this.catchingUp || this.failure || this.next >= this.frontierLimit()) return;
    this.catchingUp = this.catchUp()
      .catch((err: unknown) => { this.failure = err; })
      .finally(() => { this.catchingUp = null; });
  }

  private async catchUp(): Promise<void> {
    this.buf ??= Buffer.allocUnsafe(READ_BUFFER);
    for (let limit = this.frontierLimit(); this.next < limit; limit = this.frontierLimit()) {
      const want = Math.min(this.buf.length, limit - this.next);
      const { bytesRead } = await this.fh.read(this.buf, 0, want, this.next);
      if (bytesRead <= 0) throw new Error(`short read at ${this.next} while hashing`);
      this.hash.update(this.buf.subarray(0, bytesRead));
      this.next += bytesRead;
    }
  }

  // Once every part is written: the hex sha256 of the whole file.
  async digest(): Promise<string> {
    for (;;) {
      if (this.catchingUp) await this.catchingUp;
      if (this.failure) throw this.failure;
      if (this.next >= this.size) break;
      if (this.frontierLimit() <= this.next) throw new Error(`hash frontier stuck at ${this.next} of ${this.size}: a part is incomplete`);
      this.kick();
    }
    this.buf = null;
    return this.hash.digest('hex');
  }
}
