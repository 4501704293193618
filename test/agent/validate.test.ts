import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFailure } from '../../src/agent/types.js';
import { validateAdapterFolder } from '../../src/agent/validate/adapter.js';
import { checkPeftConfig } from '../../src/agent/validate/peft-config.js';
import { safetensorsReason } from '../../src/agent/validate/safetensors.js';
import {
  bitFlipHeader, duplicateTensorName, oversizedHeaderLength, overlappingOffsets, readFixture, withConfig, type AdapterFiles,
} from './fixtures.js';

let work: string;
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'graft-validate-')); });
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

const limits = { maxRank: 16, maxBytes: 64 * 1024 * 1024, baseModel: 'gpt2' };

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
