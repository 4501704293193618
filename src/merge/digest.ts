// sha256 of an input file computed from the reads the merge makes anyway: bytes fed in file order
// are hashed as they come, gaps (tensors the merge skips) are read and hashed, and bytes behind the
// hashed point are ignored. Callers feed one read at a time per file.
import { createHash, type Hash } from 'node:crypto';
import type { ByteSource } from './safetensors/source.js';

const CHUNK = 8 << 20;

export class SequentialDigest {
  private readonly hash: Hash = createHash('sha256');
  private upTo = 0;

  constructor(private readonly src: ByteSource) {}

  // Offer bytes read at `offset`; hashed before this resolves, so the caller may then hand the
  // buffer away.
  async feed(offset: number, bytes: Uint8Array): Promise<void> {
    const end = offset + bytes.byteLength;
    if (end <= this.upTo) return;
    if (offset > this.upTo) await this.fill(offset);
    this.hash.update(bytes.subarray(this.upTo - offset));
    this.upTo = end;
  }

  private async fill(to: number): Promise<void> {
    while (this.upTo < to) {
      const n = Math.min(CHUNK, to - this.upTo);
      this.hash.update(await this.src.read(this.upTo, n));
      this.upTo += n;
    }
  }

  async digest(): Promise<string> {
    await this.fill(this.src.size);
    return this.hash.digest('hex');
  }
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
