// A short-lived cache of host lookups for the direct reader, which opens one connection per part:
// without it every part would cost a lookup (several queries under Kubernetes' ndots:5). The
// addresses a name resolves to are used in turn, so connections still spread over them.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';

const TTL_MS = 10_000;

interface Entry { addresses: LookupAddress[]; next: number; expires: number }

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Array<(err: NodeJS.ErrnoException | null, e?: Entry) => void>>();

  constructor(
    private readonly resolve: (host: string, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void
      = (host, cb) => dnsLookup(host, { all: true }, cb),
    private readonly ttlMs = TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  // The `lookup` option of net.connect and tls.connect. Each call starts at the next address.
  readonly lookup = (host: string, options: { all?: boolean; family?: number | string }, cb: LookupCallback): void => {
    this.get(host, (err, e) => {
      if (err || !e) return cb(err ?? new Error(`no address for ${host}`), '', undefined);
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
      const usable = family === 4 || family === 6 ? e.addresses.filter((a) => a.family === family) : e.addresses;
      if (usable.length === 0) return cb(Object.assign(new Error(`no IPv${family} address for ${host}`), { code: 'ENOTFOUND' }), '', undefined);
      const first = e.next++ % usable.length;
      const rotated = [...usable.slice(first), ...usable.slice(0, first)];
      if (options.all) return cb(null, rotated);
      cb(null, rotated[0]!.address, rotated[0]!.family);
    });
  };

  private get(host: string, cb: (err: NodeJS.ErrnoException | null, e?: Entry) => void): void {
    const hit = this.entries.get(host);
    if (hit && hit.expires > this.now()) return cb(null, hit);
    const waiting = this.pending.get(host);
    if (waiting) {
      waiting.push(cb);
      return;
    }
    this.pending.set(host, [cb]);
    this.resolve(host, (err, addresses) => {
      const all = this.pending.get(host) ?? [];
      this.pending.delete(host);
      if (err || addresses.length === 0) {
        this.entries.delete(host);
        const e = err ?? Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
        for (const w of all) w(e);
        return;
      }
      const entry = { addresses, next: 0, expires: this.now() + this.ttlMs };
      this.entries.set(host, entry);
      for (const w of all) w(null, entry);
    });
  }
}
