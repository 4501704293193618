import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstIssue, PutAdapterBody } from '../../src/contracts/agent-api.js';
import { TokenFile, tokensEqual } from '../../src/agent/auth.js';
import { parseBytes, parseDuration, resolveConfig } from '../../src/agent/config.js';
import { pickEvictions } from '../../src/agent/lru.js';
import { dns1123LabelProblem } from '../../src/agent/names.js';

describe('pickEvictions', () => {
  const e = (key: string, bytes: number, lastUsed: number, prot = false) => ({ key, bytes, lastUsed, protected: prot });
  it('evicts nothing within budget', () => {
    expect(pickEvictions([e('a', 10, 1)], 10, 5, 100)).toEqual([]);
  });
  it('evicts least recently used first, just enough', () => {
    expect(pickEvictions([e('new', 40, 3), e('old', 40, 1), e('mid', 40, 2)], 120, 30, 120)).toEqual(['old']);
    expect(pickEvictions([e('new', 40, 3), e('old', 40, 1), e('mid', 40, 2)], 120, 50, 120)).toEqual(['old', 'mid']);
  });
  it('never evicts protected entries, and gives up when room cannot be made', () => {
    expect(pickEvictions([e('old', 40, 1, true), e('mid', 40, 2)], 80, 30, 80)).toEqual(['mid']);
    expect(pickEvictions([e('old', 40, 1, true), e('mid', 40, 2)], 80, 50, 80)).toBeNull();
  });
});

describe('token comparison', () => {
  it('accepts only the exact token', () => {
    expect(tokensEqual(Buffer.from('secret'), Buffer.from('secret'))).toBe(true);
    expect(tokensEqual(Buffer.from('secreT'), Buffer.from('secret'))).toBe(false);
    expect(tokensEqual(Buffer.from('secret-longer'), Buffer.from('secret'))).toBe(false);
    expect(tokensEqual(Buffer.from(''), Buffer.from('secret'))).toBe(false);
  });

  it('reads the mounted file and checks Bearer headers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'graft-tok-'));
    const f = join(dir, 'token');
    await writeFile(f, 'tok-123\n');
    const t = new TokenFile(f, 0);
    expect(t.check('Bearer tok-123')).toBe(true);
    expect(t.check('bearer tok-123')).toBe(true);
    expect(t.check('Bearer tok-1234')).toBe(false);
    expect(t.check('Basic tok-123')).toBe(false);
    expect(t.check(undefined)).toBe(false);
    await writeFile(f, '');
    expect(() => new TokenFile(f)).toThrow(/empty/);
    await rm(dir, { recursive: true });
  });
});

describe('names', () => {
  it('accepts DNS-1123 labels only', () => {
    expect(dns1123LabelProblem('my-adapter-1')).toBeNull();
    for (const bad of ['../x', 'A', '-a', 'a-', 'a.b', 'a/b', '', 'x'.repeat(64), 'a_b']) expect(dns1123LabelProblem(bad)).not.toBeNull();
  });
});

describe('PUT body', () => {
  it('accepts a source and an optional digest', () => {
    expect(PutAdapterBody.parse({ source: 's3://bucket/a/' })).toEqual({ source: 's3://bucket/a/' });
  });
  it('names the field on refusal, and refuses credentials', () => {
    const bad = (b: unknown) => { const r = PutAdapterBody.safeParse(b); expect(r.success).toBe(false); return firstIssue(r.error!); };
    expect(bad({})).toMatchObject({ field: 'source' });
    expect(bad({ source: 'http://x/y' })).toMatchObject({ field: 'source', message: expect.stringMatching(/s3:\/\//) });
    expect(bad({ source: 's3://bucket/a/', digest: 'abc' })).toMatchObject({ field: 'digest' });
    expect(bad({ source: 's3://bucket/a/', secretAccessKey: 'x' })).toMatchObject({ field: 'secretAccessKey', message: expect.stringMatching(/never from requests/) });
  });
});

describe('config', () => {
  it('parses sizes and durations', () => {
    expect(parseBytes('16Mi')).toBe(16 * 1024 * 1024);
    expect(parseBytes('1G')).toBe(1e9);
    expect(parseBytes('123')).toBe(123);
    expect(() => parseBytes('lots')).toThrow(/not a size/);
    expect(parseDuration('3s')).toBe(3000);
    expect(parseDuration('250ms')).toBe(250);
  });
  it('takes flags over environment, and names both on errors', () => {
    const c = resolveConfig({ 'token-file': '/t', 'max-lora-rank': '32' }, { GRAFT_AGENT_MAX_LORA_RANK: '8', GRAFT_AGENT_ENGINE: 'sglang', GRAFT_S3_PART_SIZE: '8Mi' });
    expect(c).toMatchObject({ tokenFile: '/t', maxLoraRank: 32, engine: 'sglang', partSize: 8 * 1024 * 1024, port: 8095 });
    expect(() => resolveConfig({}, {})).toThrow(/--token-file \(or GRAFT_AGENT_TOKEN_FILE\)/);
    expect(() => resolveConfig({ 'token-file': '/t', engine: 'tgi' }, {})).toThrow(/--engine/);
    expect(() => resolveConfig({ 'token-file': '/t', 'part-size': '1k' }, {})).toThrow(/--part-size.*64Ki/);
  });
});
