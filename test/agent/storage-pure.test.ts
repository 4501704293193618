import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/util/limiter.js';
import { comparePaths, digestHex, formatManifest, manifestDigest } from '../../src/storage/manifest.js';
import { planParts } from '../../src/storage/parts.js';
import { checkRelativePath, relativePathOf, UnsafeKeyError } from '../../src/storage/rel-path.js';
import { backoffDelay, withRetry } from '../../src/storage/retry.js';

describe('planParts', () => {
  it('covers the object with contiguous inclusive ranges', () => {
    expect(planParts(10, 4)).toEqual([{ index: 0, start: 0, end: 3 }, { index: 1, start: 4, end: 7 }, { index: 2, start: 8, end: 9 }]);
    expect(planParts(8, 4).map((p) => [p.start, p.end])).toEqual([[0, 3], [4, 7]]);
    expect(planParts(0, 4)).toEqual([]);
    expect(() => planParts(5, 0)).toThrow(/positive/);
  });
});

describe('manifest digest', () => {
  const a = { path: 'adapter_model.safetensors', size: 10, sha256: 'a'.repeat(64) };
  const b = { path: 'adapter_config.json', size: 3, sha256: 'b'.repeat(64) };

  it('is sha256 over sorted "path\\tsize\\tsha256\\n" lines', () => {
    const text = `adapter_config.json\t3\t${'b'.repeat(64)}\nadapter_model.safetensors\t10\t${'a'.repeat(64)}\n`;
    expect(formatManifest([a, b])).toBe(text);
    expect(manifestDigest([a, b])).toBe(`sha256:${createHash('sha256').update(text).digest('hex')}`);
    expect(manifestDigest([b, a])).toBe(manifestDigest([a, b]));
  });

  it('changes with any field', () => {
    const d = manifestDigest([a, b]);
    expect(manifestDigest([{ ...a, size: 11 }, b])).not.toBe(d);
    expect(manifestDigest([{ ...a, sha256: 'c'.repeat(64) }, b])).not.toBe(d);
    expect(manifestDigest([{ ...a, path: 'x/adapter_model.safetensors' }, b])).not.toBe(d);
  });

  it('sorts by UTF-8 bytes', () => {
    expect(comparePaths('B', 'a')).toBeLessThan(0);
    expect(comparePaths('\uffff', '\u{10000}')).toBeLessThan(0); // code units would say the opposite
  });

  it('refuses duplicates and bad digests', () => {
    expect(() => formatManifest([a, a])).toThrow(/twice/);
    expect(digestHex(`sha256:${'0'.repeat(64)}`)).toBe('0'.repeat(64));
    expect(() => digestHex('md5:abc')).toThrow(/sha256:<64/);
  });
});

describe('relative paths', () => {
  it('maps keys under the prefix and skips folder markers', () => {
    expect(relativePathOf('a/b', 'a/b/c.json')).toBe('c.json');
    expect(relativePathOf('a/b/', 'a/b/x/y.bin')).toBe('x/y.bin');
    expect(relativePathOf('a/', 'a/dir/')).toBeNull();
  });

  it.each([['../etc/passwd'], ['a/../../x'], ['./a'], ['a//b'], ['/abs'], ['a\\b'], ['a\u0000b'], ['.graft-manifest.json']])('refuses %j', (rel) => {
    expect(() => checkRelativePath(rel)).toThrow(UnsafeKeyError);
  });

  it('refuses keys outside the prefix', () => {
    expect(() => relativePathOf('a/', 'b/c')).toThrow(/not under the prefix/);
  });
});

describe('backoff and retry', () => {
  const policy = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 };
  it('grows exponentially with jitter and a cap', () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
  });

  it('retries transient errors up to maxAttempts, never permanent ones', async () => {
    let calls = 0;
    const fast = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
    await expect(withRetry(async () => { calls++; throw new Error('t'); }, { policy: fast, isTransient: () => true })).rejects.toThrow('t');
    expect(calls).toBe(3);
    calls = 0;
    await expect(withRetry(async () => { calls++; throw new Error('p'); }, { policy: fast, isTransient: () => false })).rejects.toThrow('p');
    expect(calls).toBe(1);
    calls = 0;
    expect(await withRetry(async () => { if (++calls < 2) throw new Error('t'); return 7; }, { policy: fast, isTransient: () => true })).toBe(7);
  });
});

describe('Limiter', () => {
  it('never runs more than its limit and serves waiters in order', async () => {
    const lim = new Limiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3, 4, 5].map((i) => lim.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    })));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(lim.inUse).toBe(0);
  });

  it('drops an aborted waiter', async () => {
    const lim = new Limiter(1);
    await lim.acquire();
    const ac = new AbortController();
    const waiting = lim.acquire(ac.signal);
    ac.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    lim.release();
    expect(lim.inUse).toBe(0);
  });
});
