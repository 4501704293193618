// The reconcile against in-memory caches and a recording client: the per-namespace bound on merge
// Jobs across sets, and a finished Job's result recorded exactly once even while the cache still
// shows the old status. (The same loop against a real API server: test/integration/adapterset.test.ts.)
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AdapterSetMetrics } from '../../src/controllers/adapterset/metrics.js';
import { reconcileAdapterSet, type AdapterSetDeps } from '../../src/controllers/adapterset/reconcile.js';
import { encodeResult } from '../../src/controllers/adapterset/protocol.js';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import type { Cache } from '../../src/runtime/informer.js';
import type { KubeClient } from '../../src/runtime/kube-client.js';
import type { KubeObject } from '../../src/runtime/object.js';
import { StatusWriter } from '../../src/runtime/status-writer.js';
import { silentLogger } from '../../src/util/log.js';

type Obj = Record<string, any>;
function cache(objs: Obj[] = []): Cache<KubeObject> & { put(o: Obj): void } {
  const m = new Map<string, Obj>();
  const key = (ns: string | undefined, n: string) => `${ns}/${n}`;
  for (const o of objs) m.set(key(o.metadata.namespace, o.metadata.name), o);
  return {
    get: (ns, n) => m.get(key(ns, n)) as KubeObject | undefined,
    getByKey: (k) => m.get(k) as KubeObject | undefined,
    list: (ns) => [...m.values()].filter((o) => !ns || o.metadata.namespace === ns) as KubeObject[],
    hasSynced: () => true,
    put: (o) => m.set(key(o.metadata.namespace, o.metadata.name), o),
  };
}

function mergeInto(target: Obj, patch: Obj): Obj {
  const out: Obj = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && !Array.isArray(out[k]) ? mergeInto(out[k] ?? {}, v as Obj) : v;
  }
  return out;
}

function recordingClient(pods: Obj[] = []) {
  const calls: { verb: string; obj?: Obj }[] = [];
  const statuses = new Map<string, Obj>();
  let rv = 100;
  const client = {
    withSignal() { return client; },
    async create(_k: unknown, obj: Obj) { calls.push({ verb: 'create', obj }); return obj; },
    async apply(obj: Obj) { calls.push({ verb: 'apply', obj }); return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } }; },
    async resolve(_apiVersion: string, kind: string) { return { kind }; },
    // Status goes as a merge patch (RFC 7386) of what the writer last saw: recorded as the status it makes.
    async patch(k: { kind: string }, namespace: string, name: string, _type: string, body: Obj, opts: { subresource?: string }) {
      if (opts.subresource !== 'status') throw new Error('only status is patched here');
      const id = `${namespace}/${name}`;
      const status = mergeInto(statuses.get(id) ?? {}, body.status);
      statuses.set(id, status);
      const obj = { kind: k.kind, metadata: { name, namespace, resourceVersion: String(++rv) }, status };
      calls.push({ verb: 'status', obj });
      return obj;
    },
    async list() { return { items: pods }; },
    async delete() { calls.push({ verb: 'delete' }); return true; },
  };
  return { client: client as unknown as KubeClient, calls };
}

const bm = { apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'gpt2', namespace: 'ns' }, spec: { model: { source: { uri: 'gpt2' } }, adapters: { maxRank: 16 } } };
const setOf = (name: string, uid: string) => ({
  apiVersion: 'graft.dev/v1alpha1', kind: 'AdapterSet', metadata: { name, namespace: 'ns', uid, generation: 1, resourceVersion: '10' },
  spec: { baseModel: 'gpt2', output: { uri: 's3://bkt/out/' }, tasks: [{ name: 't1', source: { uri: 's3://bkt/t1/' } }] },
});

function depsFor(sets: Obj[], opts: { jobs?: Obj[]; pods?: Obj[]; max?: number } = {}) {
  const { client, calls } = recordingClient(opts.pods);
  const jobs = cache(opts.jobs);
  const deps: AdapterSetDeps = {
    client, sets: cache(sets), basemodels: cache([bm]), adapters: cache(), jobs,
    events: { event() {} }, clock: new FakeClock(), status: new StatusWriter(client), metrics: new AdapterSetMetrics(new Registry()),
    image: 'graft:test', maxJobsPerNamespace: opts.max ?? 4, retryFailedAfterMs: 60_000, slots: new Map(), created: new Map(),
  };
  return { deps, calls, jobs };
}
const signal = new AbortController().signal;
const lastStatus = (calls: { verb: string; obj?: Obj }[], name: string) => calls.filter((c) => c.verb === 'status' && c.obj?.kind === 'AdapterSet' && c.obj.metadata.name === name).pop()?.obj?.status;

describe('AdapterSet reconcile', () => {
  it('starts at most maxJobsPerNamespace merge Jobs in a namespace, across sets reconciled at once', async () => {
    const sets = [setOf('a', 'ua'), setOf('b', 'ub'), setOf('c', 'uc')];
    const { deps, calls } = depsFor(sets, { max: 2 });
    const results = await Promise.all(sets.map((s) => reconcileAdapterSet(deps, 'ns', s.metadata.name, silentLogger, signal)));
    const created = calls.filter((c) => c.verb === 'create').map((c) => c.obj!.metadata.name);
    expect(created).toEqual(['a-step-0', 'b-step-0']);
    expect(lastStatus(calls, 'c').conditions.find((x: Obj) => x.type === 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForMergeSlot' });
    expect(results[2]).toEqual({ requeueAfter: 10_000 });
  });

  it('records a finished Job\'s result once, serves the version, and does not start the Job again', async () => {
    const set = setOf('a', 'ua');
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'a-step-0', namespace: 'ns', uid: 'j1', labels: { 'graft.dev/adapterset': 'a' }, annotations: { 'graft.dev/task': 't1' },
      ownerReferences: [{ uid: 'ua', controller: true, kind: 'AdapterSet', name: 'a', apiVersion: 'graft.dev/v1alpha1' }] }, status: { conditions: [{ type: 'Complete', status: 'True' }] } };
    const digest = `sha256:${'a'.repeat(64)}`;
    const message = encodeResult({ v: 1, task: 't1', action: 'NewModule', module: 'm0', taskDigest: digest, base: 'gpt2', version: { uri: 's3://bkt/out/m0/k/', digest, rank: 8 }, method: 'ema', truncationError: 0, reason: 'first' });
    const pod = { metadata: { name: 'a-step-0-x', creationTimestamp: '2025-01-01T00:00:00Z' }, status: { phase: 'Succeeded', containerStatuses: [{ name: 'merge', state: { terminated: { exitCode: 0, message } } }] } };
    const { deps, calls } = depsFor([set], { jobs: [job], pods: [pod] });
    await reconcileAdapterSet(deps, 'ns', 'a', silentLogger, signal);
    // The cache still holds the set without status: the status writer's memory keeps the decision.
    await reconcileAdapterSet(deps, 'ns', 'a', silentLogger, signal);
    const st = lastStatus(calls, 'a');
    expect(st.decisions.map((d: Obj) => [d.task, d.action, d.digest, d.job])).toEqual([['t1', 'NewModule', digest, 'a-step-0']]);
    expect(st.modules[0]).toMatchObject({ name: 'm0', adapter: 'a-m0', digest, uri: 's3://bkt/out/m0/k/' });
    const child = calls.find((c) => c.verb === 'apply' && c.obj?.kind === 'Adapter')!.obj!;
    expect(child.spec).toEqual({ baseModel: 'gpt2', source: { uri: 's3://bkt/out/m0/k/', digest }, replicas: 1, priority: 0 });
    expect(calls.filter((c) => c.verb === 'create')).toEqual([]);
    expect((await deps.metrics.decisions.get()).values.find((v) => v.labels.action === 'NewModule')?.value).toBe(1);
  });
});
