import type { EventRecorder } from '../../src/runtime/events.js';
import type { Kind, KubeObject } from '../../src/runtime/object.js';
import { AppliedMemory } from '../../src/controllers/routing/applied.js';
import type { RoutingDeps } from '../../src/controllers/routing/reconcile.js';
import type { RoutingReader, RoutingWriter } from '../../src/controllers/routing/ports.js';

// A small in-memory world for routing's unit tests: the caches (objects by kind and name), and a
// writer that records every call and answers as the API server would (a resourceVersion per write).
export const NS = 'ns';
export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;

export function baseModel(name = 'llama', spec: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name, namespace: NS, uid: `uid-bm-${name}`, generation: 1 }, spec: { model: { source: { uri: 'gpt2' } }, ...spec } };
}

export function adapter(name: string, status: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter',
    metadata: { name, namespace: NS, uid: `uid-ad-${name}`, generation: 1, creationTimestamp: '2026-12-01T10:00:00Z' },
    spec: { baseModel: 'llama', source: { uri: `s3://bucket/${name}/` }, ...spec }, status,
  };
}

// A serving pod of BaseModel llama with its owner chain (ReplicaSet rs → Deployment llama → BaseModel).
export function pod(name: string, ip: string, opts: { ready?: boolean; deleting?: boolean; rsUid?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: NS, uid: `uid-pod-${name}`, labels: { 'graft.dev/basemodel': 'llama' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: opts.rsUid ?? 'uid-rs', controller: true }],
      ...(opts.deleting ? { deletionTimestamp: '2026-12-01T10:05:00Z' } : {}),
    },
    spec: { nodeName: 'node-1' },
    status: { podIP: ip, conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}

const rs: KubeObject = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs', namespace: NS, uid: 'uid-rs', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'llama', uid: 'uid-dep', controller: true }] } };
const dep: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'llama', namespace: NS, uid: 'uid-dep', ownerReferences: [{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'llama', uid: 'uid-bm-llama', controller: true }] } };

export const loaded = (pod: string, digest = DIGEST_A) => ({ pod, state: 'Loaded', digest });

export type Call = { op: 'get' | 'apply' | 'delete'; kind: string; name: string; body?: KubeObject };

export class World {
  readonly objects = new Map<string, KubeObject>(); // kind/name → object (the cache)
  readonly calls: Call[] = [];
  served = true;
  private rv = 100;
  // Objects the API server holds that the cache lacks (someone else's, not labelled as Graft's).
  readonly foreign = new Map<string, KubeObject>();
  readonly events: Array<{ type: string; reason: string; note: string; on: string }> = [];
  // What apply answers with an error, by kind (422 from the API server, say).
  applyError?: (body: KubeObject) => Error | undefined;

  constructor(...objs: KubeObject[]) {
    for (const o of [rs, dep, ...objs]) this.put(o);
  }

  put(o: KubeObject): void { this.objects.set(`${o.kind}/${o.metadata!.name}`, o); }
  remove(kind: string, name: string): void { this.objects.delete(`${kind}/${name}`); }
  get(kind: string, name: string): KubeObject | undefined { return this.objects.get(`${kind}/${name}`); }
  writes(): Call[] { return this.calls.filter((c) => c.op !== 'get'); }

  reader(): RoutingReader {
    const list = (kind: string) => [...this.objects.values()].filter((o) => o.kind === kind);
    return {
      adapter: (_ns, n) => this.get('Adapter', n),
      adapters: (_ns, bm) => list('Adapter').filter((a) => (a.spec as { baseModel?: string }).baseModel === bm),
      baseModel: (_ns, n) => this.get('BaseModel', n),
      pod: (_ns, n) => this.get('Pod', n),
      owners: () => ({ replicaSet: (n) => this.get('ReplicaSet', n), deployment: (n) => this.get('Deployment', n) }),
      service: (_ns, n) => this.get('Service', n),
      endpointSlice: (_ns, n) => this.get('EndpointSlice', n),
      routes: () => list('HTTPRoute'),
      routesServed: () => this.served,
    };
  }

  // The API server: apply stores the object with a new resourceVersion (and a uid), but the
  // cache sees it only when the test calls sync() (informer delivery is asynchronous).
  readonly server = new Map<string, KubeObject>();
  writer(): RoutingWriter {
    return {
      get: async (kind: Kind, _ns, name) => {
        this.calls.push({ op: 'get', kind: kind.kind, name });
        return this.foreign.get(`${kind.kind}/${name}`) ?? this.server.get(`${kind.kind}/${name}`);
      },
      apply: async (body) => {
        this.calls.push({ op: 'apply', kind: body.kind!, name: body.metadata!.name!, body });
        const err = this.applyError?.(body);
        if (err) throw err;
        const id = `${body.kind}/${body.metadata!.name}`;
        const prev = this.server.get(id);
        const obj = { ...structuredClone(body), metadata: { ...structuredClone(body.metadata), uid: prev?.metadata?.uid ?? `uid-${id}`, resourceVersion: String(++this.rv) } };
        this.server.set(id, obj);
        return obj;
      },
      delete: async (kind, _ns, name) => {
        this.calls.push({ op: 'delete', kind: kind.kind, name });
        const id = `${kind.kind}/${name}`;
        const had = this.server.delete(id) || this.objects.has(id);
        this.objects.delete(id);
        return had;
      },
    };
  }

  // The informers catch up with the API server.
  sync(): void {
    for (const [id, o] of this.server) this.objects.set(id, o);
  }

  recorder(): EventRecorder {
    return { event: (on, type, reason, _action, note) => { this.events.push({ type, reason, note, on: `${on.kind}/${on.metadata?.name}` }); } };
  }

  deps(): RoutingDeps {
    return { reader: this.reader(), writer: this.writer(), events: this.recorder(), memory: new AppliedMemory() };
  }
}
