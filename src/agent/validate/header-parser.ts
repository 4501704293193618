// Safetensors headers are checked off the main thread: one worker thread, one header at a time,
// so the agent's event loop keeps serving while a large header is parsed. Memory is bounded by
// the header cap (checked on the 8-byte length before anything is allocated): parsing takes about
// ten times the header's size. No V8 heap limit is set on the worker: when one large allocation
// crosses such a limit, V8 aborts the whole process, not just the worker (seen on Node 20), which
// is worse than the memory it would save. The worker stops after a few idle seconds.
// A header of a few kB (most adapters') is read and parsed on the main thread instead: that takes
// microseconds, less than the worker's messages, and the worker need not be started for it.
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseHeader, parseHeaderLength, SafetensorsError } from '../../merge/safetensors/header.js';
import { AgentFailure } from '../types.js';
import type { HeaderJob, HeaderReply } from './header-worker.js';
import { headerTooLarge, safetensorsReason } from './safetensors.js';
import { summarizeTensors, type TensorSummary } from './tensors.js';

const IDLE_MS = 5_000;
// Headers up to this size are parsed on the main thread.
export const INLINE_HEADER_MAX = 64 * 1024;

function workerSource(): string {
  const self = fileURLToPath(import.meta.url);
  const url = new URL(`./header-worker${extname(self)}`, import.meta.url).href;
  // Under tsx or vitest the worker is TypeScript: register tsx's loader in the worker first.
  return extname(self) === '.ts'
    ? `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`
    : `import(${JSON.stringify(url)});`;
}

export class HeaderParser {
  private worker: Worker | null = null;
  private nextId = 1;
  private current: { id: number; label: string; resolve: (r: HeaderReply) => void; reject: (e: unknown) => void } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private idle: NodeJS.Timeout | null = null;

  // `inlineMax`: headers up to this size are parsed on the main thread (0: every one in the worker).
  constructor(readonly maxHeaderBytes: number, private readonly inlineMax = INLINE_HEADER_MAX) {}

  get workerRunning(): boolean { return this.worker !== null; }

  // The tensor summary of `path`, or an AgentFailure with the broken rule's reason.
  async parse(path: string, label: string): Promise<TensorSummary> {
    return (await this.inline(path, label)) ?? this.inWorker(path, label);
  }

  // The same checks as the worker's, in the same order, for a header of at most INLINE_HEADER_MAX
  // bytes; undefined for a larger one (the worker's).
  private async inline(path: string, label: string): Promise<TensorSummary | undefined> {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const prefix = Buffer.alloc(8);
      await fh.read(prefix, 0, Math.min(8, size), 0);
      let n: number;
      try {
        n = parseHeaderLength(prefix, size, label);
      } catch (err) {
        throw err instanceof SafetensorsError ? new AgentFailure(safetensorsReason(err.message), err.message) : err;
      }
      if (n > this.maxHeaderBytes) throw headerTooLarge(label, n, this.maxHeaderBytes);
      if (n > this.inlineMax) return undefined;
      const header = Buffer.alloc(n);
      const { bytesRead } = await fh.read(header, 0, n, 8);
      try {
        if (bytesRead !== n) throw new SafetensorsError(label, `short read of the header (${bytesRead} of ${n} bytes)`);
        return summarizeTensors(parseHeader(header, size, label).tensors);
      } catch (err) {
        throw err instanceof SafetensorsError ? new AgentFailure(safetensorsReason(err.message), err.message) : err;
      }
    } finally {
      await fh.close();
    }
  }

  private inWorker(path: string, label: string): Promise<TensorSummary> {
    const run = this.queue.then(() => this.one(path, label));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  private async one(path: string, label: string): Promise<TensorSummary> {
    if (this.idle) clearTimeout(this.idle);
    const w = this.ensure();
    const id = this.nextId++;
    const reply = await new Promise<HeaderReply>((resolve, reject) => {
      this.current = { id, label, resolve, reject };
      w.postMessage({ id, path, label, maxHeaderBytes: this.maxHeaderBytes } satisfies HeaderJob);
    }).finally(() => {
      this.current = null;
      this.idle = setTimeout(() => void this.close(), IDLE_MS);
      this.idle.unref();
    });
    if ('summary' in reply) return reply.summary;
    if (reply.kind === 'too-large') throw headerTooLarge(label, reply.headerBytes, this.maxHeaderBytes);
    if (reply.kind === 'safetensors') throw new AgentFailure(safetensorsReason(reply.message), reply.message);
    throw Object.assign(new Error(reply.message), { code: reply.code, syscall: 'read' });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(workerSource(), { eval: true });
    w.unref();
    w.on('message', (r: HeaderReply) => { if (this.current?.id === r.id) this.current.resolve(r); });
    const gone = (err: unknown) => {
      if (this.worker === w) this.worker = null;
      this.current?.reject(err ?? new Error('the header worker stopped'));
    };
    w.on('error', gone);
    w.on('exit', () => gone(undefined));
    this.worker = w;
    return w;
  }
}
