import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMerge, type MergeRequest } from '../../src/merge/merge.js';
import { METHODS } from '../../src/merge/methods/index.js';
import { readHeader, readTensorF32 } from '../../src/merge/safetensors/reader.js';
import { FileSource } from '../../src/merge/safetensors/source.js';
import { fromRowMajor, maxAbs, maxAbsDiff, mul, type Dense } from './dense-reference.js';
import { DISTILBERT, GPT2_CAUSAL, GPT2_SEQCLS } from './fixtures.js';
import { writeAdapter } from './synthetic.js';

const tmp = await mkdtemp(join(tmpdir(), 'graft-merge-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));
let n = 0;
const outDir = () => join(tmp, `out-${n++}`);

async function openOut(dir: string) {
  const src = await FileSource.open(join(dir, 'adapter_model.safetensors'));
  const header = await readHeader(src);
  const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
  return { src, header, config };
}

async function moduleProduct(dir: string, module: string): Promise<Dense> {
  const src = await FileSource.open(join(dir, 'adapter_model.safetensors'));
  const h = await readHeader(src);
  const a = h.byName.get(`base_model.model.${module}.lora_A.weight`)!, b = h.byName.get(`base_model.model.${module}.lora_B.weight`)!;
  const A = await readTensorF32(src, h, a.name), B = await readTensorF32(src, h, b.name);
  await src.close();
  return mul(fromRowMajor(B, b.shape[0], b.shape[1]), fromRowMajor(A, a.shape[0], a.shape[1]));
}

function scaled(d: Dense, c: number): Dense {
  return { ...d, d: d.d.map((x) => x * c) };
}
function add(a: Dense, b: Dense): Dense {
  return { ...a, d: a.d.map((x, i) => x + b.d[i]) };
}

const C_ATTN = 'transformer.h.0.attn.c_attn';
const MLP = 'transformer.h.3.mlp.c_proj';
const gpt2 = (req: Partial<MergeRequest>): MergeRequest => ({ method: 'svd', inputs: [GPT2_SEQCLS, GPT2_CAUSAL], out: outDir(), dropExtraTensors: true, workers: 0, ...req });

describe('real adapters: the gpt2 pair', () => {
  // seqcls: r 8, alpha 8 (scale 1), c_attn only; causal: r 8, alpha 32 (scale 4), c_attn + c_proj.
  // ties and dare work on dense deltas (seconds per module here): they get both cores and time.
  it.each(METHODS.map((m) => [m]))('merges with %s and the output parses back with the expected shapes', { timeout: 180_000 }, async (method) => {
    const rank = method === 'cat' || (method === 'ema') ? undefined : 8;
    const dense = method === 'ties' || method === 'dare';
    const req = gpt2({ method, rank, weights: [0.6, 0.4], ...(dense ? { density: 0.5, workers: 2 } : {}) });
    const summary = await runMerge(req);
    const want = method === 'cat' || method === 'ema' ? 16 : 8;
    expect(summary.rank).toBe(want);
    expect(summary.modules).toBe(36);
    expect(summary.extrasDropped).toEqual(['base_model.model.score.weight']);
    expect(summary.approximate).toBe(method === 'linear');
    const { src, header, config } = await openOut(req.out);
    await src.close();
    expect(config).toMatchObject({ peft_type: 'LORA', r: want, lora_alpha: want, use_rslora: false, base_model_name_or_path: 'gpt2', target_modules: ['c_attn', 'c_proj'], fan_in_fan_out: true });
    expect(header.tensors).toHaveLength(72);
    for (const t of header.tensors) {
      expect(t.dtype).toBe('F32');
      if (t.name.endsWith('lora_A.weight')) expect(t.shape[0]).toBe(want);
      else expect(t.shape[1]).toBe(want);
    }
    expect(header.byName.get(`base_model.model.${C_ATTN}.lora_B.weight`)!.shape).toEqual([2304, want]);
    expect(header.byName.get(`base_model.model.${MLP}.lora_A.weight`)!.shape).toEqual([want, 3072]);
    const meta = JSON.parse(header.metadata['graft.merge']);
    expect(meta.method).toBe(method);
    expect(meta.inputs).toHaveLength(2);
    expect(await readdir(tmp)).not.toContainEqual(expect.stringContaining('graft-tmp'));
  });

  it('cat is exact, including modules only one input has', async () => {
    const req = gpt2({ method: 'cat', weights: [0.6, 0.4] });
    await runMerge(req);
    const seq = await moduleProduct(GPT2_SEQCLS, C_ATTN), cau = await moduleProduct(GPT2_CAUSAL, C_ATTN);
    const want = add(scaled(seq, 0.6 * 1), scaled(cau, 0.4 * 4));
    const got = await moduleProduct(req.out, C_ATTN);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5 * maxAbs(want));
    const mlp = await moduleProduct(req.out, MLP);
    const mlpWant = scaled(await moduleProduct(GPT2_CAUSAL, MLP), 0.4 * 4);
    expect(maxAbsDiff(mlp, mlpWant)).toBeLessThan(1e-5 * maxAbs(mlpWant));
  });

  it('svd at the full rank equals cat; at rank 8 reports the truncation error', async () => {
    const full = gpt2({ method: 'svd', rank: 16 });
    const s16 = await runMerge(full);
    const cat = gpt2({ method: 'cat' });
    await runMerge(cat);
    const a = await moduleProduct(full.out, C_ATTN), b = await moduleProduct(cat.out, C_ATTN);
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5 * maxAbs(b));
    expect(s16.truncationError.relative).toBeLessThan(1e-6);
    const s8 = await runMerge(gpt2({ method: 'svd', rank: 8 }));
    expect(s8.truncationError.relative).toBeGreaterThan(1e-3);
    expect(s8.truncationError.relative).toBeLessThan(1);
    // ‖ΔW‖ of the exact weighted sum, whatever the rank kept; cat (exact) measures none.
    expect(s8.truncationError.norm).toBeGreaterThan(0);
    expect(s8.truncationError.norm!).toBeCloseTo(s16.truncationError.norm!, 6);
    expect(s8.truncationError.absolute / s8.truncationError.norm!).toBeCloseTo(s8.truncationError.relative, 12);
    expect((await runMerge(gpt2({ method: 'cat' }))).truncationError.norm).toBeUndefined();
  });

  it('worker threads give the same bytes and the same recorded error, to the last bit, as the calling thread, and metadata records the digests', async () => {
    const inline = gpt2({ method: 'svd', rank: 8, workers: 0 });
    const threaded = gpt2({ method: 'svd', rank: 8, workers: 2 });
    const s = await runMerge(inline);
    const t = await runMerge(threaded);
    // Workers finish modules in any order; the sums must not depend on it.
    expect(t.truncationError).toStrictEqual(s.truncationError);
    const x = await readFile(join(inline.out, 'adapter_model.safetensors'));
    const y = await readFile(join(threaded.out, 'adapter_model.safetensors'));
    expect(Buffer.compare(x, y)).toBe(0);
    const digest = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');
    const want = [await digest(join(GPT2_SEQCLS, 'adapter_model.safetensors')), await digest(join(GPT2_CAUSAL, 'adapter_model.safetensors'))];
    expect(s.inputs.map((i) => i.safetensorsSha256)).toEqual(want);
    const { src, header } = await openOut(inline.out);
    await src.close();
    expect(JSON.parse(header.metadata['graft.merge']).inputs.map((i: { safetensors_sha256: string }) => i.safetensors_sha256)).toEqual(want);
  });

  it('refuses the saved score head present in only one input unless told to drop it', async () => {
    await expect(runMerge(gpt2({ dropExtraTensors: false }))).rejects.toThrow(/tensor "base_model.model.score.weight" .*only some inputs.*--drop-extra-tensors/);
  });
});

describe('refusals', () => {
  it('refuses gpt2 + distilbert with a clear message', async () => {
    const out = outDir();
    await expect(runMerge({ method: 'svd', inputs: [GPT2_SEQCLS, DISTILBERT], out })).rejects.toThrow(/different base models: gpt2 .*distilbert-base-uncased/);
    await expect(readdir(out)).rejects.toThrow();
  });

  for (const [field, value, message] of [['use_dora', true, /DoRA/], ['lora_bias', true, /lora_bias/], ['peft_type', 'IA3', /only LORA/]] as const) {
    it(`refuses ${field}: ${value}`, async () => {
      const dir = join(tmp, `cfg-${field}`);
      await cp(GPT2_CAUSAL, dir, { recursive: true });
      const cfg = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, [field]: value }));
      await expect(runMerge({ method: 'cat', inputs: [GPT2_CAUSAL, dir], out: outDir() })).rejects.toThrow(message);
    });
  }

  it('refuses a module whose shapes differ between inputs', async () => {
    const a = join(tmp, 'shape-a'), b = join(tmp, 'shape-b');
    await writeAdapter(a, { r: 2, lora_alpha: 2 }, [{ name: 'layers.0.q_proj', out: 8, in: 6, r: 2 }]);
    await writeAdapter(b, { r: 2, lora_alpha: 2 }, [{ name: 'layers.0.q_proj', out: 8, in: 7, r: 2 }]);
    await expect(runMerge({ method: 'svd', inputs: [a, b], out: outDir() })).rejects.toThrow(/module layers.0.q_proj has shape 8×6 .* but 8×7/);
  });

  it('refuses a rank that disagrees with the config', async () => {
    const a = join(tmp, 'rank-bad');
    await writeAdapter(a, { r: 4, lora_alpha: 4 }, [{ name: 'layers.0.q_proj', out: 8, in: 6, r: 2 }]);
    await expect(runMerge({ method: 'cat', inputs: [a], out: outDir() })).rejects.toThrow(/rank 2 in its tensors but 4 in adapter_config.json/);
  });

  it('refuses wrong weights and options', async () => {
    await expect(runMerge(gpt2({ weights: [1] }))).rejects.toThrow(/one weight per input/);
    await expect(runMerge(gpt2({ method: 'cat', rank: 4 }))).rejects.toThrow(/cat is exact and needs rank 16/);
    await expect(runMerge(gpt2({ method: 'svd', density: 0.5 }))).rejects.toThrow(/only to ties and dare/);
    await expect(runMerge(gpt2({ inputs: [GPT2_SEQCLS, join(tmp, 'nowhere')] }))).rejects.toThrow(/no adapter_config.json there/);
  });
});

describe('scales, patterns and whole tensors', () => {
  it('applies rslora and rank/alpha patterns per module', async () => {
    const a = join(tmp, 'pat-a'), b = join(tmp, 'pat-b');
    const mods = [{ name: 'model.layers.0.self_attn.q_proj', out: 10, in: 6, r: 4 }, { name: 'model.layers.0.mlp.up_proj', out: 12, in: 6, r: 2 }];
    // a: rslora, r 4, alpha 8 → q: 8/√4 = 4; up has rank_pattern 2 and alpha_pattern 6 → 6/√2.
    await writeAdapter(a, { r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { up_proj: 2 }, alpha_pattern: { 'mlp.up_proj': 6 } }, mods, { seed: 3 });
    // b: plain, r 4, alpha 2 → q: 0.5; up: rank_pattern 2 → 2/2 = 1.
    await writeAdapter(b, { r: 4, lora_alpha: 2, rank_pattern: { '.*up_proj': 2 } }, mods, { seed: 4 });
    const out = outDir();
    await runMerge({ method: 'cat', inputs: [a, b], out, weights: [2, 3], workers: 0 });
    for (const [m, sa, sb] of [[mods[0].name, 4, 0.5], [mods[1].name, 6 / Math.sqrt(2), 1]] as const) {
      const want = add(scaled(await moduleProduct(a, m), 2 * sa), scaled(await moduleProduct(b, m), 3 * sb));
      const got = await moduleProduct(out, m);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5 * maxAbs(want));
    }
    const cfg = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ r: 8, lora_alpha: 8, use_rslora: false, rank_pattern: {}, alpha_pattern: {} });
  });

  it('averages whole saved tensors by weight when every input has them', async () => {
    const a = join(tmp, 'head-a'), b = join(tmp, 'head-b');
    const mods = [{ name: 'layers.0.q_proj', out: 4, in: 4, r: 2 }];
    await writeAdapter(a, { r: 2, lora_alpha: 2, modules_to_save: ['score'] }, mods, { extras: [{ name: 'base_model.model.score.weight', shape: [2, 2], values: [1, 2, 3, 4] }] });
    await writeAdapter(b, { r: 2, lora_alpha: 2, modules_to_save: ['score'] }, mods, { extras: [{ name: 'base_model.model.score.weight', shape: [2, 2], values: [5, 6, 7, 8] }] });
    const out = outDir();
    const s = await runMerge({ method: 'svd', rank: 2, inputs: [a, b], out, weights: [1, 3] });
    expect(s.extrasAveraged).toEqual(['base_model.model.score.weight']);
    const src = await FileSource.open(join(out, 'adapter_model.safetensors'));
    const h = await readHeader(src);
    expect(Array.from(await readTensorF32(src, h, 'base_model.model.score.weight'))).toEqual([4, 5, 6, 7]);
    await src.close();
    expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).modules_to_save).toEqual(['score']);
  });

  it('keeps F16 and BF16 inputs in their dtype, rounding once', async () => {
    const a = join(tmp, 'bf-a'), b = join(tmp, 'bf-b');
    const mods = [{ name: 'layers.0.q_proj', out: 8, in: 8, r: 2 }];
    await writeAdapter(a, { r: 2, lora_alpha: 2 }, mods, { dtype: 'BF16', seed: 5 });
    await writeAdapter(b, { r: 2, lora_alpha: 2 }, mods, { dtype: 'BF16', seed: 6 });
    const out = outDir();
    const s = await runMerge({ method: 'cat', inputs: [a, b], out });
    expect(s.outputDtype).toBe('BF16');
    const got = await moduleProduct(out, mods[0].name);
    const want = add(await moduleProduct(a, mods[0].name), await moduleProduct(b, mods[0].name));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-12); // weights 1: cat copies bf16 values exactly
    const f16 = outDir();
    expect((await runMerge({ method: 'svd', rank: 4, inputs: [a, b], out: f16, dtype: 'F16' })).outputDtype).toBe('F16');
    expect(maxAbsDiff(await moduleProduct(f16, mods[0].name), want)).toBeLessThan(2e-3 * maxAbs(want));
  });
});

describe('atomic output', () => {
  it('a merge that fails halfway leaves no output and no temporary folder', async () => {
    const out = outDir();
    let calls = 0;
    await expect(runMerge(gpt2({ out, workers: 2 }), (p) => { if (++calls === 5) throw new Error(`injected failure at ${p.module}`); })).rejects.toThrow(/injected failure/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
    expect((await readdir(tmp)).filter((f) => f.includes('graft-tmp'))).toEqual([]);
  });

  it('an input that breaks while being read leaves no output', async () => {
    const dir = join(tmp, 'breaks');
    await cp(GPT2_CAUSAL, dir, { recursive: true });
    const out = outDir();
    const file = join(dir, 'adapter_model.safetensors');
    const run = runMerge({ method: 'svd', rank: 8, inputs: [GPT2_CAUSAL, dir], out, workers: 0 }, (p) => {
      if (p.done === 3) void writeFile(file, (Buffer.alloc(0)));
    });
    await expect(run).rejects.toThrow(/ended early|outside/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
    expect((await readdir(tmp)).filter((f) => f.includes('graft-tmp'))).toEqual([]);
  });

  it('refuses to overwrite an existing output unless forced', async () => {
    const out = outDir();
    await runMerge(gpt2({ out }));
    await expect(runMerge(gpt2({ out }))).rejects.toThrow(/already exists/);
    const s = await runMerge(gpt2({ out, force: true, method: 'cat' }));
    expect(s.rank).toBe(16);
    expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).r).toBe(16);
  });
});

