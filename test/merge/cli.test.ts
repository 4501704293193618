import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/merge.js';
import { CliError } from '../../src/cli/errors.js';
import { DISTILBERT, GPT2_CAUSAL, GPT2_SEQCLS } from './fixtures.js';

const tmp = await mkdtemp(join(tmpdir(), 'graft-merge-cli-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));
afterEach(() => { vi.restoreAllMocks(); });

function capture() {
  const out: string[] = [], err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => { out.push(String(s)); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err.push(String(s)); return true; });
  return { out, err };
}

async function usageError(argv: string[]): Promise<CliError> {
  capture();
  const e = await run(argv).then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(CliError);
  expect((e as CliError).exitCode).toBe(2);
  return e as CliError;
}

describe('graft merge', () => {
  it('prints a JSON summary and plain progress lines off a terminal', async () => {
    const io = capture();
    const out = join(tmp, 'json');
    const code = await run(['--method', 'svd', '--rank', '8', '--weights', '0.7, 0.3', '--drop-extra-tensors', '--workers', '0', '--json', '--out', out, GPT2_SEQCLS, GPT2_CAUSAL]);
    expect(code).toBe(0);
    const summary = JSON.parse(io.out.join(''));
    expect(summary).toMatchObject({ method: 'svd', rank: 8, modules: 36, weights: [0.7, 0.3], extrasDropped: ['base_model.model.score.weight'] });
    expect(typeof summary.truncationError.relative).toBe('number');
    expect(typeof summary.seconds).toBe('number');
    expect(io.err.join('')).toMatch(/^merge: \d+\/36 modules/m);
    expect(io.err.join('')).toContain('merge: 36/36 modules');
    expect(JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8')).r).toBe(8);
  });

  it('exits 2 with the reason for bad input', async () => {
    const out = join(tmp, 'bad');
    expect((await usageError(['--method', 'svd', '--out', out, GPT2_SEQCLS, DISTILBERT])).message).toMatch(/different base models/);
    expect((await usageError(['--method', 'mean', '--out', out, GPT2_SEQCLS])).message).toMatch(/--method: "mean" is not one of/);
    expect((await usageError(['--method', 'svd', GPT2_SEQCLS])).message).toMatch(/--out is required/);
    expect((await usageError(['--method', 'svd', '--out', out])).message).toMatch(/no inputs/);
    expect((await usageError(['--rank', 'x', '--out', out, GPT2_SEQCLS])).message).toMatch(/--rank: "x" is not an integer/);
    expect((await usageError(['--weights', '1,a', '--out', out, GPT2_SEQCLS, GPT2_CAUSAL])).message).toMatch(/--weights value 2/);
    expect((await usageError(['--bogus', '--out', out, GPT2_SEQCLS])).message).toMatch(/bogus/);
    expect((await usageError(['--method', 'svd', '--out', out, GPT2_SEQCLS, GPT2_CAUSAL])).message).toMatch(/--drop-extra-tensors/);
    await expect(readFile(join(out, 'adapter_config.json'))).rejects.toThrow(/ENOENT/);
  });
});
