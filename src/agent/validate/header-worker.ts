// Runs in a worker thread (header-parser.ts starts it): reads and checks one safetensors header at
// a time, so a large header never blocks the agent's event loop, and its memory is bounded by the
// worker's heap limit.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { parseHeader, parseHeaderLength, SafetensorsError } from '../../merge/safetensors/header.js';
import { summarizeTensors } from './tensors.js';

export interface HeaderJob { id: number; path: string; label: string; maxHeaderBytes: number }
export type HeaderReply =
  | { id: number; summary: ReturnType<typeof summarizeTensors>; headerBytes: number }
  | { id: number; kind: 'too-large'; headerBytes: number; message: string }
  | { id: number; kind: 'safetensors' | 'io'; message: string; code?: string };

function check(job: HeaderJob): HeaderReply {
  const fd = openSync(job.path, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    readSync(fd, prefix, 0, Math.min(8, size), 0);
    const n = parseHeaderLength(prefix, size, job.label);
    if (n > job.maxHeaderBytes) {
      return { id: job.id, kind: 'too-large', headerBytes: n, message: `${job.label}: the header is ${n} bytes, above the agent's limit of ${job.maxHeaderBytes} bytes` };
    }
    const header = Buffer.alloc(n);
    const got = readSync(fd, header, 0, n, 8);
    if (got !== n) throw new SafetensorsError(job.label, `short read of the header (${got} of ${n} bytes)`);
    const parsed = parseHeader(header, size, job.label);
    return { id: job.id, summary: summarizeTensors(parsed.tensors), headerBytes: n };
  } finally {
    closeSync(fd);
  }
}

parentPort?.on('message', (job: HeaderJob) => {
  let reply: HeaderReply;
  try {
    reply = check(job);
  } catch (err) {
    const e = err as Error & { code?: string };
    reply = { id: job.id, kind: err instanceof SafetensorsError ? 'safetensors' : 'io', message: e.message, code: typeof e.code === 'string' ? e.code : undefined };
  }
  parentPort!.postMessage(reply);
});
