// writeBody, the SDK path's body-to-file writer: batches, offsets, and what it keeps on a cut.
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BodyTooLongError, writeBody } from '../../src/storage/body-writer.js';

let dir: string;
let fh: FileHandle;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'graft-bw-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });
beforeEach(async () => { fh = await open(join(dir, 'f'), 'w+'); });
afterEach(async () => { await fh.close(); });

// A body that yields `data` in 1–70,000-byte chunks, then fails with `cut` if given.
function body(data: Buffer, cut?: Error): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= data.length) {
        if (cut) this.destroy(cut);
        else this.push(null);
        return;
      }
      const n = Math.min(data.length - off, 1 + Math.floor(Math.random() * 70_000));
      this.push(data.subarray(off, off + n));
      off += n;
    },
  });
}

describe('writeBody', () => {
  it('writes every byte at the offset, in batches', async () => {
    const data = randomBytes(1_000_000);
    const writes: number[] = [];
    const n = await writeBody(body(data), { fd: fh.fd, start: 500, limit: 500 + data.length, batch: 128 * 1024, onWritten: (b) => writes.push(b) });
    expect(n).toBe(data.length);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(writes.length).toBeLessThan(20); // gathered, not one write per chunk
    expect((await readFile(join(dir, 'f'))).subarray(500).equals(data)).toBe(true);
  });

  // With a batch larger than the body nothing pauses, so every byte has come out of the stream
  // when the cut arrives (bytes a paused stream still buffers are dropped with it; the retry
  // then resumes from what was written).
  it('writes what arrived before a cut, then rejects with the cut', async () => {
    const data = randomBytes(300_000);
    let written = 0;
    const cut = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await expect(writeBody(body(data, cut), { fd: fh.fd, start: 0, limit: 1_000_000, batch: 1024 * 1024, onWritten: (b) => { written += b; } })).rejects.toBe(cut);
    expect(written).toBe(data.length);
    expect((await readFile(join(dir, 'f'))).equals(data)).toBe(true);
  });

  it('refuses a body longer than the range', async () => {
    await expect(writeBody(body(randomBytes(5000)), { fd: fh.fd, start: 0, limit: 4000, batch: 1024, onWritten: () => undefined })).rejects.toBeInstanceOf(BodyTooLongError);
  });
});
