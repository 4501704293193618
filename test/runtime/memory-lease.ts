import type { LeaseRecord, LeaseStore, StoredLease } from '../../src/runtime/lease-store.js';

// An in-memory Lease with the API server's optimistic concurrency: writes at a stale
// resourceVersion fail. `down` makes every call from one identity fail (a partitioned replica).
export class MemoryLease {
  lease: StoredLease | undefined;
  private rv = 0;
  readonly down = new Set<string>();

  storeFor(identity: string): LeaseStore {
    const check = () => { if (this.down.has(identity)) throw new Error(`${identity}: connection refused`); };
    return {
      description: 'test/lease',
      get: async () => { check(); return this.lease && structuredClone(this.lease); },
      create: async (record: LeaseRecord) => {
        check();
        if (this.lease) throw Object.assign(new Error('already exists'), { code: 409 });
        this.lease = { record: { ...record }, resourceVersion: String(++this.rv) };
        return structuredClone(this.lease);
      },
      update: async (record: LeaseRecord, resourceVersion: string) => {
        check();
        if (!this.lease || this.lease.resourceVersion !== resourceVersion) throw Object.assign(new Error('conflict'), { code: 409 });
        this.lease = { record: { ...record }, resourceVersion: String(++this.rv) };
        return structuredClone(this.lease);
      },
    };
  }
}
