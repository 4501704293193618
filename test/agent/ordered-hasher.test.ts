import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OrderedHasher } from '../../src/storage/ordered-hasher.js';
import { planParts } from '../../src/storage/parts.js';

// Writes parts in a scrambled order, in small chunks, as parallel GETs would, and checks the hash.
describe('OrderedHasher', () => {
  it.each([
    ['in order', (n: number) => [...Array(n).keys()]],
    ['reversed', (n: number) => [...Array(n).keys()].reverse()],
    ['interleaved', (n: number) => [...Array(n).keys()].sort((a, b) => (a % 3) - (b % 3) || a - b)],
  ])('hashes parts written %s', async (_, order) => {
    const dir = await mkdtemp(join(tmpdir(), 'graft-hash-'));
    try {
      const data = randomBytes(3 * 1024 * 1024 + 123);
      const parts = planParts(data.length, 256 * 1024 + 7);
      const fh = await open(join(dir, 'f'), 'w+');
      const h = new OrderedHasher(fh, parts, data.length);
      const progress = parts.map(() => 0);
      // Round-robin over the parts in the given order, 40 KiB at a time.
      const ids = order(parts.length);
      let left = true;
      while (left) {
        left = false;
        for (const i of ids) {
          const p = parts[i]!;
          const len = p.end - p.start + 1;
          if (progress[i]! >= len) continue;
          left = true;
          const pos = p.start + progress[i]!;
          const chunk = data.subarray(pos, Math.min(pos + 40 * 1024, p.end + 1));
          h.hashIfNext(pos, [chunk], chunk.length);
          await fh.write(chunk, 0, chunk.length, pos);
          progress[i]! += chunk.length;
          h.markWritten(i, progress[i]!);
          if (Math.random() < 0.3) await new Promise((r) => setImmediate(r));
        }
      }
      expect(await h.digest()).toBe(createHash('sha256').update(data).digest('hex'));
      await fh.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports an incomplete file instead of hanging', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'graft-hash-'));
    const fh = await open(join(dir, 'f'), 'w+');
    const parts = planParts(100, 50);
    const h = new OrderedHasher(fh, parts, 100);
    await fh.write(Buffer.alloc(50), 0, 50, 50);
    h.markWritten(1, 50);
    await expect(h.digest()).rejects.toThrow(/incomplete/);
    await fh.close();
    await rm(dir, { recursive: true, force: true });
  });
});
