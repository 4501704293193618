// Worker thread entry: merges modules sent by the pool, one message at a time.
import { parentPort } from 'node:worker_threads';
import { processTask, transferable, type TaskMessage } from './task.js';

if (!parentPort) throw new Error('src/merge/worker.ts must run as a worker thread');
const port = parentPort;
port.on('message', (msg: TaskMessage) => {
  const reply = processTask(msg);
  port.postMessage(reply, reply.ok ? transferable([reply.a, reply.b]) : []);
});
