import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashPool, HashWorker, HashWorkerError } from '../../src/storage/hash-worker.js';
import { OrderedHasher } from '../../src/storage/ordered-hasher.js';
import { planParts } from '../../src/storage/parts.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let dir: string;
let worker: HashWorker;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'graft-hash-'));
  worker = new HashWorker();
});
afterAll(async () => {
  await worker.close();
  await rm(dir, { recursive: true, force: true });
});

// Writes parts in a scrambled order, in small chunks, as parallel GETs would, and checks the hash.
describe('OrderedHasher', () => {
  it.each([
    ['in order', (n: number) => [...Array(n).keys()]],
    ['reversed', (n: number) => [...Array(n).keys()].reverse()],
    ['interleaved', (n: number) => [...Array(n).keys()].sort((a, b) => (a % 3) - (b % 3) || a - b)],
  ])('hashes parts written %s', async (name, order) => {
    const data = randomBytes(9 * 1024 * 1024 + 123); // several notify steps of the hasher
    const parts = planParts(data.length, 768 * 1024 + 7);
    const path = join(dir, name.replace(' ', '-'));
    const fh = await open(path, 'w');
    const h = new OrderedHasher(worker.start(path, data.length), parts, data.length);
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
        await fh.write(chunk, 0, chunk.length, pos);
        progress[i]! += chunk.length;
        h.markWritten(i, progress[i]!);
        if (Math.random() < 0.3) await new Promise((r) => setImmediate(r));
      }
    }
    await fh.close();
    expect(await h.digest()).toBe(sha(data));
  });

  it('hashes an empty file', async () => {
    const path = join(dir, 'empty');
    await writeFile(path, '');
    expect(await new OrderedHasher(worker.start(path, 0), planParts(0, 10), 0).digest()).toBe(sha(Buffer.alloc(0)));
  });

  it('reports an incomplete file instead of hanging', async () => {
    const path = join(dir, 'holes');
    const fh = await open(path, 'w');
    const h = new OrderedHasher(worker.start(path, 100), planParts(100, 50), 100);
    await fh.write(Buffer.alloc(50), 0, 50, 50);
    h.markWritten(1, 50);
    await expect(h.digest()).rejects.toThrow(/incomplete/);
    await fh.close();
  });
});

describe('HashWorker', () => {
  it('hashes many files at once, each only as far as it is told', async () => {
    const files = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const data = randomBytes(1024 * 1024 * (i + 1) + i);
      const path = join(dir, `many-${i}`);
      await writeFile(path, data);
      return { data, path };
    }));
    const jobs = files.map((f) => worker.start(f.path, f.data.length));
    // Told in steps; the result only comes once the whole file is announced.
    for (const [i, f] of files.entries()) jobs[i]!.advance(Math.floor(f.data.length / 2));
    for (const [i, f] of files.entries()) jobs[i]!.advance(f.data.length);
    expect(await Promise.all(jobs.map((j) => j.result()))).toEqual(files.map((f) => sha(f.data)));
  });

  it('hashes what is on disk, so a file shorter than announced fails instead of hashing zeros', async () => {
    const path = join(dir, 'short');
    await writeFile(path, Buffer.alloc(10, 1));
    const job = worker.start(path, 20);
    job.advance(20);
    await expect(job.result()).rejects.toThrow(/short read at 10/);
  });

  it('names the file error when the file cannot be opened', async () => {
    const job = worker.start(join(dir, 'no-such-file'), 5);
    job.advance(5);
    const err = await job.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HashWorkerError);
    expect(err).toMatchObject({ code: 'ENOENT' });
  });

  it('fails pending files when closed, and starts again afterwards', async () => {
    const own = new HashWorker();
    const path = join(dir, 'pending');
    await writeFile(path, 'abc');
    const job = own.start(path, 3); // never told the bytes are there
    await own.close();
    await expect(job.result()).rejects.toThrow(/closed/);
    const again = own.start(path, 3);
    again.advance(3);
    expect(await again.result()).toBe(sha(Buffer.from('abc')));
    await own.close();
  });
});

describe('HashPool', () => {
  it('spreads files over its workers and hashes each right', async () => {
    const pool = new HashPool(2);
    try {
      const files = await Promise.all(Array.from({ length: 4 }, async (_, i) => {
        const data = randomBytes(300_000 + i);
        const path = join(dir, `pool-${i}`);
        await writeFile(path, data);
        return { data, path };
      }));
      const jobs = files.map((f) => pool.start(f.path, f.data.length));
      expect(pool.loads).toEqual([2, 2]);
      for (const [i, f] of files.entries()) jobs[i]!.advance(f.data.length);
      expect(await Promise.all(jobs.map((j) => j.result()))).toEqual(files.map((f) => sha(f.data)));
      expect(pool.loads).toEqual([0, 0]);
    } finally {
      await pool.close();
    }
  });
});
