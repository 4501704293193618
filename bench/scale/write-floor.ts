// The write floor (bench-scale, issue "Scale" item 5): how long this API server takes for the
// writes the operator made while converging, sent by a plain client with nothing else to do. The
// same objects: each PATCH or PUT of the operator becomes a merge patch of an Adapter's status
// (a copy of a converged Adapter's status, so the same size; one condition's message numbered so
// every write really changes the object), each POST an events.k8s.io/v1 Event about an Adapter
// (what the operator creates while Adapters converge); at most 16 writes in flight, as the
// operator's calls. The operator is stopped first (it would react to the Adapters); the Adapters
// live in a namespace of their own. Their creates are the benchmark's own writes, which the API
// server also makes between the first create and the last Ready: they are timed too (`seconds`
// covers both), and `operatorSeconds` is the operator's writes alone. Without the creates, a floor
// made of fewer operator writes shrinks while the creates still bound the time to Ready from below,
// so the ratio would grow as the operator writes less.
import { rawRequest } from '../../src/sandbox/raw.js';
import { Limiter } from '../../src/util/limiter.js';
import type { Sandbox } from '../../test/support/sandbox.js';

type Obj = Record<string, any>;
const NS = 'write-floor';

export type WriteFloor = { seconds: number; operatorSeconds: number; writes: number; creates: number; byVerb: Record<string, number> };

export async function measureWriteFloor(sb: Sandbox, o: { byVerb: Record<string, number>; adapters: number; sampleStatus: Obj }): Promise<WriteFloor> {
  const kc = sb.cp.kubeConfig;
  const must = async (method: string, path: string, body: unknown, contentType?: string) => {
    const r = await rawRequest(kc, method, path, body, contentType);
    if (r.status !== 200 && r.status !== 201) throw new Error(`write floor: ${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    return r.body as Obj;
  };
  await sb.operator.stop();
  await must('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const lim = new Limiter(16);
  const limited = <T>(n: number, f: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, async (_, i) => {
    await lim.acquire();
    try { return await f(i); } finally { lim.release(); }
  }));
  const c0 = process.hrtime.bigint();
  const targets = await limited(o.adapters, (i) => must('POST', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters`, {
    apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name: `f-${i}` }, spec: { baseModel: 'gpt2', source: { uri: `s3://adapters/bench/a-${i}/` }, replicas: 2 },
  }));

  const createSeconds = Number(process.hrtime.bigint() - c0) / 1e9;
  const patches = (o.byVerb.PATCH ?? 0) + (o.byVerb.PUT ?? 0), posts = o.byVerb.POST ?? 0;
  const conditions = (o.sampleStatus.conditions ?? []) as Obj[];
  const t0 = process.hrtime.bigint();
  await Promise.all([
    limited(patches, (i) => {
      const status = { ...o.sampleStatus, conditions: conditions.map((c, k) => (k === 0 ? { ...c, message: `${c.message ?? ''} #${i}` } : c)) };
      return must('PATCH', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters/f-${i % o.adapters}/status`, { status }, 'application/merge-patch+json');
    }),
    limited(posts, (i) => {
      const a = targets[i % o.adapters]!;
      const now = new Date().toISOString().replace('Z', '000Z'); // MicroTime
      return must('POST', `/apis/events.k8s.io/v1/namespaces/${NS}/events`, {
        apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: `f-${i}.${Date.now().toString(16)}` },
        regarding: { apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', name: a.metadata.name, namespace: NS, uid: a.metadata.uid },
        eventTime: now, reportingController: 'graft.dev/operator', reportingInstance: 'write-floor',
        action: 'Load', reason: 'Loaded', note: `adapter ${a.metadata.name} loaded on a pod`, type: 'Normal',
      });
    }),
  ]);
  const operatorSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds: createSeconds + operatorSeconds, operatorSeconds, writes: patches + posts, creates: o.adapters, byVerb: { PATCH: patches, POST: posts } };
}
