// Reusable write buffers for the ranged reader. Buffers of this size come from mmap, so a fresh
// one per request would cost page faults on every byte; kept ones cost nothing after the first use.

export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(readonly size: number, private readonly keep: number) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buf: Buffer): void {
    if (buf.length === this.size && this.free.length < this.keep) this.free.push(buf);
  }
}
