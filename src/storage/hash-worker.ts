// sha256 of files off the main thread: a worker thread, shared by every download of the process,
// reads each file back as its prefix lands on disk and hashes it. The main thread only sends
// "bytes 0..n are written" notes, so its time goes to the network and the writes.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { HASH_WORKER_SOURCE } from './hash-worker-source.js';

// A started worker with no file to hash is stopped after this long, giving its memory back.
const IDLE_MS = 10_000;

interface Pending { resolve: (hex: string) => void; reject: (err: Error) => void }
type Reply = { id: number; hex: string } | { id: number; error: string; code?: string };

export class HashWorkerError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'HashWorkerError';
  }
}

// One file being hashed. `advance` may be called often; the worker reads what it is told is there.
export interface HashJob {
  advance(writtenPrefix: number): void;
  // Resolves once the worker has hashed all `size` bytes (advance(size) must have been called).
  result(): Promise<string>;
  // Stops hashing and closes the worker's descriptor; result() then never settles.
  drop(): void;
}

// What downloads hash with: one worker, or a pool of them.
export interface FileHasher {
  start(path: string, size: number): HashJob;
}

export class HashWorker implements FileHasher {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private idle: NodeJS.Timeout | null = null;

  // Files being hashed.
  get load(): number {
    return this.pending.size;
  }

  start(path: string, size: number): HashJob {
    const w = this.ensure();
    const id = this.nextId++;
    let settled: Promise<string> | null = null;
    const result = new Promise<string>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    result.catch(() => undefined); // observed through result(); never an unhandled rejection
    this.retain();
    w.postMessage({ op: 'open', id, path, size });
    let sent = 0;
    return {
      advance: (n) => {
        if (n <= sent) return;
        sent = n;
        this.worker?.postMessage({ op: 'upto', id, n });
      },
      result: () => (settled ??= result),
      drop: () => {
        if (!this.pending.delete(id)) return;
        this.worker?.postMessage({ op: 'drop', id });
        this.release();
      },
    };
  }

  // Stops the worker now; pending files fail.
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    this.failAll(new HashWorkerError('the hash worker was closed'));
    if (w) await w.terminate();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(HASH_WORKER_SOURCE, { eval: true, name: 'graft-sha256' });
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.release();
      if ('hex' in m) p.resolve(m.hex);
      else p.reject(new HashWorkerError(`hashing the downloaded file failed: ${m.error}`, m.code));
    });
    const lost = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.failAll(new HashWorkerError(`the hash worker stopped: ${err.message}`));
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`exit code ${code}`)));
    this.worker = w;
    return w;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }

  // The worker keeps the process alive only while it has files to hash.
  private retain(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    this.worker?.ref();
  }

  private release(): void {
    if (this.pending.size > 0 || !this.worker) return;
    this.worker.unref();
    const w = this.worker;
    this.idle = setTimeout(() => {
      if (this.worker === w && this.pending.size === 0) {
        this.worker = null;
        void w.terminate();
      }
    }, IDLE_MS).unref();
  }
}

// Several workers, each file on the one with the fewest files: one sha256 runs at about 1.5 GB/s
// on one core, so files downloaded together (base-model shards) need more than one thread to keep
// up with a fast network. A worker is started only when a file needs it.
export class HashPool implements FileHasher {
  private readonly workers: HashWorker[];

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new Error(`HashPool: size ${size} must be a positive integer`);
    this.workers = Array.from({ length: size }, () => new HashWorker());
  }

  // Files being hashed, per worker.
  get loads(): number[] {
    return this.workers.map((w) => w.load);
  }

  start(path: string, size: number): HashJob {
    let best = this.workers[0]!;
    for (const w of this.workers) if (w.load < best.load) best = w;
    return best.start(path, size);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

let shared: HashPool | undefined;

// The process-wide pool that downloads use unless given their own: one worker per core beyond the
// first (which the main thread's network and disk work needs), at least one, at most four.
export function sharedHasher(): FileHasher {
  return (shared ??= new HashPool(Math.min(4, Math.max(1, availableParallelism() - 1))));
}
