// sha256 of a file whose parts are written in parallel and out of order. It tracks how many bytes
// from the start of the file are on disk (the written prefix) and hands that to the hash worker,
// which reads them back from the page cache in order. Memory stays bounded by the worker's one
// read buffer, whatever the order the parts arrive in.
import type { HashJob } from './hash-worker.js';
import type { Part } from './parts.js';

// The worker is told about new bytes in steps of at least this much (and at the end): fewer
// messages, reads of a useful size.
const NOTIFY_STEP = 4 * 1024 * 1024;

export class OrderedHasher {
  private cur = 0; // index of the first part not yet completely written
  private prefix = 0; // bytes written contiguously from offset 0
  private told = 0; // prefix last given to the worker
  private readonly written: number[]; // contiguous bytes written from each part's start

  constructor(private readonly job: HashJob, private readonly parts: readonly Part[], readonly size: number) {
    this.written = parts.map(() => 0);
  }

  // After a write: part `index` now has `bytes` contiguous bytes on disk.
  markWritten(index: number, bytes: number): void {
    this.written[index] = bytes;
    if (index !== this.cur) return; // the prefix ends inside an earlier part
    while (this.cur < this.parts.length && this.written[this.cur] === partLength(this.parts[this.cur]!)) this.cur++;
    this.prefix = this.cur === this.parts.length ? this.size : this.parts[this.cur]!.start + this.written[this.cur]!;
    if (this.prefix - this.told >= NOTIFY_STEP || this.prefix === this.size) {
      this.told = this.prefix;
      this.job.advance(this.prefix);
    }
  }

  // Once every part is written: the hex sha256 of the whole file.
  async digest(): Promise<string> {
    if (this.prefix < this.size) {
      this.job.drop();
      throw new Error(`hash frontier stuck at ${this.prefix} of ${this.size}: a part is incomplete`);
    }
    this.job.advance(this.size);
    return await this.job.result();
  }

  // The download failed: the worker stops reading this file.
  abandon(): void {
    this.job.drop();
  }
}

function partLength(p: Part): number {
  return p.end - p.start + 1;
}
