import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFailure } from '../../src/agent/types.js';
import { validateAdapterFolder } from '../../src/agent/validate/adapter.js';
import { HeaderParser, INLINE_HEADER_MAX } from '../../src/agent/validate/header-parser.js';
import { checkPeftConfig } from '../../src/agent/validate/peft-config.js';
import { safetensorsReason } from '../../src/agent/validate/safetensors.js';
import { parseHeader } from '../../src/merge/safetensors/header.js';
import {
  bitFlipHeader, duplicateTensorName, oversizedHeaderLength, overlappingOffsets, readFixture, withConfig, withConfigOfSize, withLargeHeader, type AdapterFiles,
} from './fixtures.js';

let work: string;
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'graft-validate-')); });
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

const limits: { maxRank: number; maxBytes: number; baseModel: string; maxHeaderBytes?: number } = { maxRank: 16, maxBytes: 64 * 1024 * 1024, baseModel: 'gpt2' };

async function check(files: AdapterFiles, l: Partial<typeof limits> = {}) {
  const dir = await mkdtemp(join(work, 'a-'));
  for (const [p, b] of Object.entries(files)) await writeFile(join(dir, p), b);
  return validateAdapterFolder(dir, Object.entries(files).map(([path, b]) => ({ path, size: b.length })), { ...limits, ...l });
}

async function reason(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AgentFailure);
  return (err as AgentFailure).reason;
}

describe('validateAdapterFolder on real PEFT adapters', () => {
  it.each(['gpt2-causal-tigrinya', 'gpt2-seqcls-c_attn'])('accepts %s', async (name) => {
    const facts = await check(await readFixture(name));
    expect(facts.rank).toBe(8);
    expect(facts.baseModel).toBe('gpt2');
  });

  it('refuses each broken safetensors rule with its own reason', async () => {
    const good = await readFixture('gpt2-causal-tigrinya');
    const st = good['adapter_model.safetensors']!;
    const variants: Array<[Buffer, string]> = [
      [bitFlipHeader(st), 'SafetensorsHeaderInvalid'],
      [oversizedHeaderLength(st), 'SafetensorsHeaderTooLarge'],
      [overlappingOffsets(st), 'SafetensorsOffsets'],
      [duplicateTensorName(st), 'SafetensorsDuplicateTensor'],
      [st.subarray(0, st.length - 1), 'SafetensorsSizeMismatch'],
    ];
    for (const [bytes, want] of variants) expect(await reason(check({ ...good, 'adapter_model.safetensors': bytes }))).toBe(want);
  });

  it('refuses ranks, variants, base models, sizes and missing files', async () => {
    const good = await readFixture('gpt2-causal-tigrinya');
    expect(await reason(check(good, { maxRank: 4 }))).toBe('RankTooHigh');
    expect(await reason(check(withConfig(good, { r: 32 })))).toBe('RankTooHigh');
    expect(await reason(check(withConfig(good, { rank_pattern: { c_proj: 64 } })))).toBe('RankTooHigh');
    expect(await reason(check(withConfig(good, { use_dora: true })))).toBe('UnsupportedVariant');
    expect(await reason(check(withConfig(good, { lora_bias: true })))).toBe('UnsupportedVariant');
    expect(await reason(check(withConfig(good, { peft_type: 'IA3' })))).toBe('InvalidAdapter');
    expect(await reason(check(await readFixture('distilbert-imdb')))).toBe('BaseModelMismatch');
    expect((await check(await readFixture('distilbert-imdb'), { baseModel: undefined })).baseModel).toBe('distilbert-base-uncased');
    expect(await reason(check(good, { maxBytes: 1000 }))).toBe('TooLarge');
    expect(await reason(check({ 'adapter_model.safetensors': good['adapter_model.safetensors']! }))).toBe('InvalidAdapter');
    expect(await reason(check({ 'adapter_config.json': good['adapter_config.json']! }))).toBe('InvalidAdapter');
  });
});

describe('checkPeftConfig', () => {
  it('reads the highest rank of r and rank_pattern', () => {
    expect(checkPeftConfig('{"peft_type":"LORA","r":4,"rank_pattern":{"q":12}}').rank).toBe(12);
    expect(checkPeftConfig('{"peft_type":"LORA"}').rank).toBe(8);
  });
  it('names the field that is wrong', () => {
    expect(() => checkPeftConfig('{"peft_type":"LORA","r":"x"}')).toThrow(/field "r"/);
    expect(() => checkPeftConfig('{}')).toThrow(/peft_type/);
    expect(() => checkPeftConfig('nope')).toThrow(/not valid JSON/);
  });
});

describe('safetensorsReason', () => {
  it('falls back to SafetensorsHeaderInvalid', () => {
    expect(safetensorsReason('x: header is not valid JSON')).toBe('SafetensorsHeaderInvalid');
  });
});

describe('bounded validation of hostile files', () => {
  it('refuses a header above the cap before reading it, naming the limit', async () => {
    const good = await readFixture('gpt2-causal-tigrinya');
    const big = withLargeHeader(good['adapter_model.safetensors']!, 300_000);
    const err = await check({ ...good, 'adapter_model.safetensors': big }, { maxHeaderBytes: 256 * 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentFailure);
    expect((err as AgentFailure).reason).toBe('SafetensorsHeaderTooLarge');
    expect((err as AgentFailure).message).toMatch(/the header is 300000 bytes, above the agent's limit of 262144 bytes \(GRAFT_AGENT_MAX_HEADER_BYTES\)/);
  });

  it('parses a valid header just below the cap off the event loop, in bounded memory', async () => {
    const good = await readFixture('gpt2-causal-tigrinya');
    const files = { ...good, 'adapter_model.safetensors': withLargeHeader(good['adapter_model.safetensors']!, 2 * 1024 * 1024 - 64) };
    const dir = await mkdtemp(join(work, 'big-'));
    for (const [p, b] of Object.entries(files)) await writeFile(join(dir, p), b);
    const listing = Object.entries(files).map(([path, b]) => ({ path, size: b.length }));
    await validateAdapterFolder(dir, listing, limits); // warm: the worker is started once per agent
    // The same parse on the main thread, for comparison: what the agent did before.
    const text = files['adapter_model.safetensors'].subarray(8, 8 + Number(files['adapter_model.safetensors'].readBigUInt64LE(0)));
    const i0 = performance.now();
    parseHeader(text, files['adapter_model.safetensors'].length, 'x');
    const inlineMs = performance.now() - i0;

    const h = monitorEventLoopDelay({ resolution: 5 });
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
    h.enable();
    const t0 = performance.now();
    const facts = await validateAdapterFolder(dir, listing, limits);
    const ms = performance.now() - t0;
    h.disable();
    clearInterval(sample);
    expect(facts.rank).toBe(8);
    const maxDelayMs = h.max / 1e6;
    console.log(`2 MiB header (the default cap): checked in ${ms.toFixed(0)} ms in the worker (inline parse: ${inlineMs.toFixed(0)} ms); main-thread event-loop delay max ${maxDelayMs.toFixed(1)} ms; RSS +${((peak - rss0) / 1e6).toFixed(1)} MB`);
    expect(maxDelayMs).toBeLessThan(Math.max(50, inlineMs / 2));
    expect(peak - rss0).toBeLessThan(100e6);
  });

  it('refuses adapter_config.json above the cap (ConfigTooLarge), from the listing and from the disk', async () => {
    const good = await readFixture('gpt2-causal-tigrinya');
    const files = withConfigOfSize(good, 1024 * 1024 + 1);
    expect(await reason(check(files))).toBe('ConfigTooLarge');
    const err = await check(files).catch((e: unknown) => e as AgentFailure);
    expect((err as AgentFailure).message).toMatch(/1048577 bytes, above the agent's limit of 1048576 bytes \(GRAFT_AGENT_MAX_CONFIG_BYTES\)/);
    // A listing that under-reports the size is caught when the file is read.
    const dir = await mkdtemp(join(work, 'cfg-'));
    for (const [p, b] of Object.entries(files)) await writeFile(join(dir, p), b);
    const lying = Object.entries(files).map(([path, b]) => ({ path, size: path === 'adapter_config.json' ? 100 : b.length }));
    expect(await reason(validateAdapterFolder(dir, lying, limits))).toBe('ConfigTooLarge');
    expect(await check(withConfigOfSize(good, 1024 * 1024))).toMatchObject({ rank: 8 });
  });
});

describe('HeaderParser: small headers on the main thread, large ones in the worker', () => {
  async function file(bytes: Buffer): Promise<string> {
    const dir = await mkdtemp(join(work, 'hp-'));
    await writeFile(join(dir, 'adapter_model.safetensors'), bytes);
    return join(dir, 'adapter_model.safetensors');
  }
  const outcome = (p: Promise<unknown>) => p.then((s) => s, (e: unknown) => (e instanceof AgentFailure ? e.reason : e));

  it('checks an adapter\'s header of a few kB without starting the worker, and a larger one in it', async () => {
    const good = (await readFixture('gpt2-causal-tigrinya'))['adapter_model.safetensors']!;
    expect(Number(good.readBigUInt64LE(0))).toBeLessThanOrEqual(INLINE_HEADER_MAX);
    const parser = new HeaderParser(2 * 1024 * 1024);
    expect(await parser.parse(await file(good), 'x')).toMatchObject({ rank: 8 });
    expect(parser.workerRunning).toBe(false);
    expect(await parser.parse(await file(withLargeHeader(good, INLINE_HEADER_MAX + 1024)), 'x')).toMatchObject({ rank: 8 });
    expect(parser.workerRunning).toBe(true);
    await parser.close();
  });

  it('gives the same summary or reason on both paths, for each broken rule', async () => {
    const st = (await readFixture('gpt2-causal-tigrinya'))['adapter_model.safetensors']!;
    const inline = new HeaderParser(2 * 1024 * 1024);
    const worker = new HeaderParser(2 * 1024 * 1024, 0);
    const variants: Array<[Buffer, string | undefined]> = [
      [st, undefined],
      [bitFlipHeader(st), 'SafetensorsHeaderInvalid'],
      [oversizedHeaderLength(st), 'SafetensorsHeaderTooLarge'],
      [overlappingOffsets(st), 'SafetensorsOffsets'],
      [duplicateTensorName(st), 'SafetensorsDuplicateTensor'],
      [st.subarray(0, st.length - 1), 'SafetensorsSizeMismatch'],
      [st.subarray(0, 5), 'SafetensorsHeaderInvalid'],
    ];
    for (const [bytes, want] of variants) {
      const path = await file(bytes);
      const a = await outcome(inline.parse(path, 'adapter_model.safetensors'));
      const b = await outcome(worker.parse(path, 'adapter_model.safetensors'));
      expect(a).toEqual(b);
      if (want) expect(a).toBe(want);
    }
    expect(inline.workerRunning).toBe(false);
    await worker.close();
  });
});
