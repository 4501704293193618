// Where bytes come from: a local file or (through an adapter) an S3 object, read by range.
import { open, type FileHandle } from 'node:fs/promises';

export interface ByteSource {
  readonly where: string; // for messages: a path or an s3:// URI
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export class FileSource implements ByteSource {
  private constructor(readonly where: string, readonly size: number, private readonly fh: FileHandle) {}

  static async open(path: string): Promise<FileSource> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error(`${path} is not a regular file`);
      return new FileSource(path, st.size, fh);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new Error(`${this.where}: read of ${length} bytes at ${offset} is outside the ${this.size}-byte file`);
    }
    // Never from Buffer's shared pool: callers may transfer the memory to a worker thread.
    const buf = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`${this.where}: file ended early (changed while reading?)`);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

// An in-memory source, for tests and for small objects already fetched whole.
export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(readonly where: string, private readonly bytes: Uint8Array) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new Error(`${this.where}: read outside the buffer`);
    return this.bytes.subarray(offset, offset + length);
  }
  async close(): Promise<void> {}
}
