// A small pool of worker threads, one module per message, so that modules merge on every core.
// With size 0 the tasks run on the calling thread (same code, no threads).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { processTask, transferable, type TaskMessage, type TaskReply } from './task.js';

type Pending = { resolve: (r: TaskReply) => void; reject: (e: Error) => void };

// Built code runs worker.js directly; from TypeScript sources (tsx, vitest) the worker first
// registers tsx's loader, since Node 20 workers do not inherit it.
function startWorker(): Worker {
  const self = import.meta.url;
  if (self.endsWith('.js')) return new Worker(new URL('./worker.js', self));
  const api = createRequire(self).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs');
  const entry = new URL('./worker.ts', self).href;
  const code = `import(${JSON.stringify(pathToFileURL(api).href)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { eval: true });
}

export class MergePool {
  private readonly workers: { w: Worker; busy: Map<number, Pending> }[] = [];
  private next = 0;
  private closed = false;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const w = startWorker();
      const slot = { w, busy: new Map<number, Pending>() };
      w.on('message', (reply: TaskReply) => {
        const p = slot.busy.get(reply.id);
        slot.busy.delete(reply.id);
        p?.resolve(reply);
      });
      const fail = (err: Error) => {
        for (const p of slot.busy.values()) p.reject(err);
        slot.busy.clear();
      };
      w.on('error', fail);
      w.on('exit', (code) => { if (!this.closed) fail(new Error(`merge worker exited with code ${code}`)); });
      this.workers.push(slot);
    }
  }

  // Sends to the worker with the fewest tasks in hand. The message's buffers are transferred.
  run(msg: TaskMessage): Promise<TaskReply> {
    if (this.closed) return Promise.reject(new Error('merge pool is closed'));
    if (this.size === 0) return Promise.resolve().then(() => processTask(msg));
    let slot = this.workers[this.next++ % this.size];
    for (const s of this.workers) if (s.busy.size < slot.busy.size) slot = s;
    return new Promise<TaskReply>((resolve, reject) => {
      slot.busy.set(msg.id, { resolve, reject });
      slot.w.postMessage(msg, transferable(msg.factors.flatMap((f) => [f.a, f.b])));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((s) => s.w.terminate()));
  }
}
