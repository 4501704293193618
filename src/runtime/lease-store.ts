import type { KubeClient } from './kube-client.js';
import { LeaseKind, type KubeObject } from './object.js';

// Where leader election keeps its record: a coordination.k8s.io/v1 Lease. Every write carries the
// resourceVersion last read, so two candidates racing for the lease cannot both win: the API
// server answers the loser 409 Conflict.

export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

export interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
}

export interface LeaseStore {
  /** The lease, or undefined when it does not exist yet. */
  get(signal?: AbortSignal): Promise<StoredLease | undefined>;
  /** Creates the lease; fails when it already exists. */
  create(record: LeaseRecord, signal?: AbortSignal): Promise<StoredLease>;
  /** Replaces the lease if it is still at `resourceVersion`; fails otherwise. */
  update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<StoredLease>;
  /** A description for logs, e.g. "namespace/name". */
  readonly description: string;
}

interface LeaseObject extends KubeObject {
  spec?: Partial<LeaseRecord>;
}

export class KubeLeaseStore implements LeaseStore {
  readonly description: string;

  constructor(private readonly client: KubeClient, readonly namespace: string, readonly name: string) {
    this.description = `${namespace}/${name}`;
  }

  async get(signal?: AbortSignal): Promise<StoredLease | undefined> {
    const lease = await this.client.get<LeaseObject>(LeaseKind, this.namespace, this.name, signal);
    return lease ? fromObject(lease) : undefined;
  }

  async create(record: LeaseRecord, signal?: AbortSignal): Promise<StoredLease> {
    const created = await this.client.create<LeaseObject>(LeaseKind, { metadata: { name: this.name, namespace: this.namespace }, spec: toSpec(record) }, signal);
    return fromObject(created);
  }

  async update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<StoredLease> {
    const updated = await this.client.replace<LeaseObject>(LeaseKind, { metadata: { name: this.name, namespace: this.namespace, resourceVersion }, spec: toSpec(record) }, { signal });
    return fromObject(updated);
  }
}

function toSpec(r: LeaseRecord): Partial<LeaseRecord> {
  const spec: Partial<LeaseRecord> = { leaseDurationSeconds: r.leaseDurationSeconds, leaseTransitions: r.leaseTransitions };
  // An empty holder is written as absent, as client-go does when it releases a lease.
  if (r.holderIdentity) spec.holderIdentity = r.holderIdentity;
  if (r.acquireTime) spec.acquireTime = r.acquireTime;
  if (r.renewTime) spec.renewTime = r.renewTime;
  return spec;
}

function fromObject(o: LeaseObject): StoredLease {
  const s = o.spec ?? {};
  return {
    record: {
      holderIdentity: s.holderIdentity ?? '',
      leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
      acquireTime: s.acquireTime,
      renewTime: s.renewTime,
      leaseTransitions: s.leaseTransitions ?? 0,
    },
    resourceVersion: o.metadata?.resourceVersion ?? '',
  };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}
