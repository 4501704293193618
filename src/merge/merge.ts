// The merge engine end to end: open the inputs, plan, merge module by module on worker threads while
// reading ahead, write the result in place as it arrives, then commit the output atomically.
import { availableParallelism } from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { SequentialDigest, sha256Hex } from './digest.js';
import { openOutput, openStore } from './locations.js';
import { AdapterError, parsePeftConfig, type PeftConfig } from './peft/config.js';
import { describeAdapter, type AdapterLayout } from './peft/adapter.js';
import { MergeInputError, planMerge, type MergeOptions, type MergePlan } from './plan.js';
import { MergePool } from './pool.js';
import { decodeFloats, encodeFloats, type FloatDtype } from './safetensors/dtype.js';
import { SafetensorsError, type SafetensorsHeader } from './safetensors/header.js';
import { readHeader } from './safetensors/reader.js';
import type { ByteSource } from './safetensors/source.js';
import { SafetensorsFileWriter } from './safetensors/writer.js';
import { CONFIG_FILE, StoreError, WEIGHTS_FILE, type AdapterStore } from './store.js';
import type { TaskMessage } from './task.js';

export interface MergeRequest extends MergeOptions {
  inputs: string[];
  out: string;
  force?: boolean;
  workers?: number; // worker threads; 0 merges on the calling thread
  signal?: AbortSignal;
  s3?: S3Client; // for s3:// locations; default: a client from the environment
}

export interface MergeProgress {
  done: number;
  total: number;
  module: string;
  bytesRead: number;
}

export interface MergeSummary {
  method: string;
  kernel: string;
  rank: number;
  approximate: boolean;
  out: string;
  outputDtype: FloatDtype;
  modules: number;
  tensors: number;
  extrasAveraged: string[];
  extrasDropped: string[];
  weights: number[];
  params: Record<string, unknown>;
  // √(Σ‖ΔW − B'A'‖²) over all modules, absolute and relative to √(Σ‖ΔW‖²); the worst module's ratio;
  // norm: √(Σ‖ΔW‖²) itself, where the kernel computes it (all but cat, which is exact).
  truncationError: { absolute: number; relative: number; worstModule: number; norm?: number };
  inputs: { source: string; configSha256: string; safetensorsSha256: string }[];
  inputBytes: number;
  seconds: number;
}

// Errors that mean the input (files, flags, destination) is wrong, not the engine.
export function isInputError(err: unknown): boolean {
  return err instanceof MergeInputError || err instanceof AdapterError || err instanceof SafetensorsError || err instanceof StoreError;
}

interface LoadedInput {
  store: AdapterStore;
  where: string;
  configText: string;
  config: PeftConfig;
  source: ByteSource;
  header: SafetensorsHeader;
  layout: AdapterLayout;
  digest: SequentialDigest;
}

async function loadInput(store: AdapterStore): Promise<LoadedInput> {
  const configText = await store.readText(CONFIG_FILE);
  const config = parsePeftConfig(configText, store.where);
  const source = await store.open(WEIGHTS_FILE);
  try {
    const header = await readHeader(source);
    const layout = describeAdapter(config, header, store.where);
    return { store, where: store.where, configText, config, source, header, layout, digest: new SequentialDigest(source) };
  } catch (err) {
    await source.close();
    throw err;
  }
}

const ZERO_DIGEST = '0'.repeat(64);

function mergeMetadata(plan: MergePlan, inputs: readonly LoadedInput[], digests: readonly string[]): Record<string, string> {
  return {
    format: 'pt',
    'graft.merge': JSON.stringify({
      method: plan.method,
      kernel: plan.kernel,
      rank: plan.rank,
      approximate: plan.approximate,
      weights: plan.weights,
      params: plan.recordedParams,
      dropped: plan.dropped,
      inputs: inputs.map((inp, i) => ({ source: inp.where, config_sha256: sha256Hex(inp.configText), safetensors_sha256: digests[i] })),
    }),
  };
}

export async function runMerge(req: MergeRequest, onProgress?: (p: MergeProgress) => void): Promise<MergeSummary> {
  const started = performance.now();
  const stores = req.inputs.map((loc, i) => openStore(loc, `input ${i + 1}`, req.s3));
  const loaded: LoadedInput[] = [];
  try {
    for (const s of stores) loaded.push(await loadInput(s));
    const plan = planMerge(loaded, req);
    const target = openOutput(req.out, req.force ?? false, req.s3);
    const dir = await target.prepare();
    let writer: SafetensorsFileWriter | undefined;
    const workers = req.workers ?? Math.min(availableParallelism(), plan.modules.length);
    const pool = new MergePool(workers);
    try {
      writer = await SafetensorsFileWriter.create(join(dir, WEIGHTS_FILE), plan.tensors, mergeMetadata(plan, loaded, loaded.map(() => ZERO_DIGEST)));
      const stats = await mergeModules(plan, loaded, pool, writer, req.signal, onProgress);
      await writeExtras(plan, loaded, writer);
      const digests: string[] = [];
      for (const inp of loaded) digests.push(await inp.digest.digest());
      await writer.rewriteMetadata(mergeMetadata(plan, loaded, digests));
      await writer.finish();
      writer = undefined;
      await writeFile(join(dir, CONFIG_FILE), `${JSON.stringify(plan.config, null, 2)}\n`);
      await target.commit();
      const norm = Math.sqrt(stats.norm2), err = Math.sqrt(stats.error2);
      return {
        method: plan.method, kernel: plan.kernel, rank: plan.rank, approximate: plan.approximate, out: target.where,
        outputDtype: plan.outputDtype, modules: plan.modules.length, tensors: plan.tensors.length,
        extrasAveraged: plan.extras.map((e) => e.name), extrasDropped: plan.dropped,
        weights: plan.weights, params: plan.recordedParams,
        truncationError: { absolute: err, relative: norm > 0 ? err / norm : 0, worstModule: stats.worst, ...(plan.kernel !== 'cat' ? { norm } : {}) },
        inputs: loaded.map((inp, i) => ({ source: inp.where, configSha256: sha256Hex(inp.configText), safetensorsSha256: digests[i] })),
        inputBytes: loaded.reduce((s, inp) => s + inp.source.size, 0),
        seconds: (performance.now() - started) / 1000,
      };
    } catch (err) {
      await writer?.abort();
      await target.abort();
      throw err;
    } finally {
      await pool.close();
    }
  } finally {
    await Promise.all(loaded.map((l) => l.source.close().catch(() => {})));
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
  }
}

async function mergeModules(
  plan: MergePlan, inputs: readonly LoadedInput[], pool: MergePool, writer: SafetensorsFileWriter,
  signal: AbortSignal | undefined, onProgress?: (p: MergeProgress) => void,
): Promise<{ norm2: number; error2: number; worst: number }> {
  // Each module's sums, summed in module order at the end: workers finish in any order, and float
  // addition in finishing order would make the recorded error differ in its last digit between runs.
  const norm2s: number[] = [], error2s: number[] = [];
  let done = 0, bytesRead = 0;
  let failure: unknown;
  const inflight = new Set<Promise<void>>();
  const limit = Math.max(2, pool.size * 2);
  let id = 0;
  for (const m of plan.modules) {
    if (failure) break;
    signal?.throwIfAborted();
    while (inflight.size >= limit) await Promise.race(inflight);
    if (failure) break;
    // Each input's reads stay in file order (A before B), so the running digests need no re-reads.
    const factors = await Promise.all(m.parts.map(async (p) => {
      const inp = inputs[p.input];
      const read = async (t: typeof p.lora.a) => {
        const at = inp.header.dataStart + t.begin;
        const bytes = await inp.source.read(at, t.end - t.begin);
        await inp.digest.feed(at, bytes);
        bytesRead += bytes.byteLength;
        return bytes;
      };
      const first = p.lora.a.begin < p.lora.b.begin ? p.lora.a : p.lora.b;
      const second = first === p.lora.a ? p.lora.b : p.lora.a;
      const x = await read(first);
      const y = await read(second);
      const [a, b] = first === p.lora.a ? [x, y] : [y, x];
      return { input: p.input, r: p.lora.rank, c: p.c, a, aDtype: p.lora.a.dtype as FloatDtype, b, bDtype: p.lora.b.dtype as FloatDtype };
    }));
    const msg: TaskMessage = {
      id: id++, kernel: plan.kernel, params: plan.params, module: m.module, out: m.out, in: m.in, rank: plan.rank,
      outDtype: plan.outputDtype, factors,
    };
    const index = msg.id;
    const job = pool.run(msg).then(async (reply) => {
      if (!reply.ok) throw new Error(reply.error);
      await writer.write(m.aName, reply.a);
      await writer.write(m.bName, reply.b);
      norm2s[index] = reply.norm2;
      error2s[index] = reply.error2;
      onProgress?.({ done: ++done, total: plan.modules.length, module: m.module, bytesRead });
    }).catch((err: unknown) => { failure ??= err; }).finally(() => { inflight.delete(job); });
    inflight.add(job);
  }
  await Promise.all(inflight);
  if (failure) throw failure;
  let norm2 = 0, error2 = 0, worst = 0;
  for (let i = 0; i < norm2s.length; i++) {
    const n2 = norm2s[i]!, e2 = error2s[i]!;
    if (Number.isFinite(n2)) {
      norm2 += n2;
      if (n2 > 0) worst = Math.max(worst, Math.sqrt(e2 / n2));
    }
    error2 += e2;
  }
  return { norm2, error2, worst };
}

// Whole saved tensors (modules_to_save): the weighted average Σ wᵢ·Tᵢ / Σ wᵢ.
async function writeExtras(plan: MergePlan, inputs: readonly LoadedInput[], writer: SafetensorsFileWriter): Promise<void> {
  for (const e of plan.extras) {
    let acc: Float64Array | undefined;
    for (const p of e.parts) {
      const inp = inputs[p.input];
      const at = inp.header.dataStart + p.tensor.begin;
      const bytes = await inp.source.read(at, p.tensor.end - p.tensor.begin);
      await inp.digest.feed(at, bytes);
      const v = decodeFloats(bytes, p.tensor.dtype as FloatDtype);
      acc ??= new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) acc[i] += p.weight * v[i];
    }
    await writer.write(e.name, encodeFloats(acc!, e.dtype as FloatDtype));
  }
}
