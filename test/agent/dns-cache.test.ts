import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { DnsCache } from '../../src/storage/dns-cache.js';

type Result = { err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number };

function lookup(cache: DnsCache, host: string, options: { all?: boolean; family?: number } = {}): Promise<Result> {
  return new Promise((resolve) => cache.lookup(host, options, (err, address, family) => resolve({ err, address, family })));
}

describe('DnsCache', () => {
  const addrs: LookupAddress[] = [{ address: '10.0.0.1', family: 4 }, { address: '10.0.0.2', family: 4 }, { address: 'fd00::3', family: 6 }];

  it('resolves once per TTL, shares a lookup in flight, and hands out the addresses in turn', async () => {
    let calls = 0;
    let now = 0;
    const cache = new DnsCache((_h, cb) => { calls++; setImmediate(() => cb(null, addrs)); }, 1000, () => now);
    const [a, b] = await Promise.all([lookup(cache, 's3.example'), lookup(cache, 's3.example')]);
    expect(calls).toBe(1);
    expect([a.address, b.address]).toEqual(['10.0.0.1', '10.0.0.2']);
    expect((await lookup(cache, 's3.example')).address).toBe('fd00::3');
    expect(((await lookup(cache, 's3.example', { all: true })).address as LookupAddress[]).map((x) => x.address)).toEqual(['10.0.0.1', '10.0.0.2', 'fd00::3']);
    expect(await lookup(cache, 's3.example', { family: 6 })).toMatchObject({ address: 'fd00::3', family: 6 });
    expect(calls).toBe(1);
    now = 1001;
    await lookup(cache, 's3.example');
    expect(calls).toBe(2);
  });

  it('does not keep failures', async () => {
    let calls = 0;
    const cache = new DnsCache((_h, cb) => {
      calls++;
      if (calls === 1) cb(Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' }), []);
      else cb(null, addrs);
    });
    expect((await lookup(cache, 'h')).err).toMatchObject({ code: 'EAI_AGAIN' });
    expect((await lookup(cache, 'h')).address).toBe('10.0.0.1');
    expect((await lookup(cache, 'h', { family: 6 })).address).toBe('fd00::3');
    expect(calls).toBe(2);
  });
});
