// One module's merge as a message: raw tensor bytes in, output-dtype bytes out. The same function
// runs inside worker threads and, when no worker is wanted, on the calling thread.
import { runKernel, type Kernel, type MethodParams } from './methods/index.js';
import type { Factors } from './methods/types.js';
import { decodeFloats, encodeFloats, type FloatDtype } from './safetensors/dtype.js';

export interface TaskMessage {
  id: number;
  kernel: Kernel;
  params: MethodParams;
  module: string;
  out: number;
  in: number;
  rank: number;
  outDtype: FloatDtype;
  factors: { input: number; r: number; c: number; a: Uint8Array; aDtype: FloatDtype; b: Uint8Array; bDtype: FloatDtype }[];
}

export type TaskReply =
  | { id: number; ok: true; a: Uint8Array; b: Uint8Array; norm2: number; error2: number }
  | { id: number; ok: false; error: string };

export function processTask(msg: TaskMessage): TaskReply {
  try {
    const factors: Factors[] = msg.factors.map((f) => ({
      input: f.input, r: f.r, c: f.c, A: decodeFloats(f.a, f.aDtype), B: decodeFloats(f.b, f.bDtype),
    }));
    const res = runKernel(msg.kernel, { module: msg.module, out: msg.out, in: msg.in, rank: msg.rank, factors }, msg.params);
    return { id: msg.id, ok: true, a: encodeFloats(res.A, msg.outDtype), b: encodeFloats(res.B, msg.outDtype), norm2: res.norm2, error2: res.error2 };
  } catch (err) {
    return { id: msg.id, ok: false, error: `module ${msg.module}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

// The ArrayBuffers a message may hand over without copying: only those it owns whole.
export function transferable(views: readonly Uint8Array[]): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const v of views) {
    const buf = v.buffer as ArrayBuffer;
    if (v.byteOffset === 0 && v.byteLength === buf.byteLength && !seen.has(buf)) seen.add(buf);
  }
  return [...seen];
}
