// Writing a safetensors file in the reference layout. The layout is fixed up front, so tensors may
// be written in any order (positional writes), as merge results arrive from worker threads.
import { open, type FileHandle } from 'node:fs/promises';
import { planLayout, type Layout, type TensorSpec } from './layout.js';

export class SafetensorsFileWriter {
  private readonly pending: Set<string>;

  private constructor(readonly path: string, readonly layout: Layout, private readonly fh: FileHandle) {
    this.pending = new Set(layout.order.map((t) => t.name));
  }

  static async create(path: string, specs: readonly TensorSpec[], metadata?: Record<string, string>): Promise<SafetensorsFileWriter> {
    const layout = planLayout(specs, metadata);
    const fh = await open(path, 'wx');
    try {
      await fh.write(layout.prefix, 0, layout.prefix.length, 0);
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new SafetensorsFileWriter(path, layout, fh);
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    const at = this.layout.offsets.get(name);
    if (!at) throw new Error(`${this.path}: no tensor "${name}" in the planned layout`);
    if (!this.pending.has(name)) throw new Error(`${this.path}: tensor "${name}" was already written`);
    if (bytes.byteLength !== at.end - at.begin) throw new Error(`${this.path}: tensor "${name}" has ${bytes.byteLength} bytes, layout says ${at.end - at.begin}`);
    let done = 0;
    while (done < bytes.byteLength) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.byteLength - done, at.begin + done);
      done += bytesWritten;
    }
    this.pending.delete(name);
  }

  // Replaces the header's metadata with values known only at the end (digests). The new header must
  // have exactly the old length, so the data offsets stay valid.
  async rewriteMetadata(metadata: Record<string, string>): Promise<void> {
    const next = planLayout(this.layout.order, metadata);
    if (next.prefix.length !== this.layout.prefix.length) throw new Error(`${this.path}: rewritten header is ${next.prefix.length} bytes, was ${this.layout.prefix.length}`);
    await this.fh.write(next.prefix, 0, next.prefix.length, 0);
  }

  // Fails unless every tensor was written; flushes to disk.
  async finish(): Promise<void> {
    if (this.pending.size > 0) throw new Error(`${this.path}: ${this.pending.size} tensors were never written (first: ${[...this.pending][0]})`);
    await this.fh.sync();
    await this.fh.close();
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => {});
  }
}

// A whole file in memory (small files, tests).
export function serializeSafetensors(tensors: readonly (TensorSpec & { bytes: Uint8Array })[], metadata?: Record<string, string>): Uint8Array {
  const layout = planLayout(tensors, metadata);
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.prefix, 0);
  for (const t of tensors) {
    const at = layout.offsets.get(t.name)!;
    if (t.bytes.byteLength !== at.end - at.begin) throw new Error(`tensor "${t.name}" has ${t.bytes.byteLength} bytes, its shape needs ${at.end - at.begin}`);
    out.set(t.bytes, at.begin);
  }
  return out;
}
