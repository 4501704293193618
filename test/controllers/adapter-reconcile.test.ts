import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { PutAdapterBody } from '../../src/contracts/agent-api.js';
import type { AgentApi, AgentTarget } from '../../src/controllers/adapter/agent-client.js';
import { AgentCallError } from '../../src/controllers/adapter/errors.js';
import { ControllerMemory } from '../../src/controllers/adapter/memory.js';
import { AdapterMetrics } from '../../src/controllers/adapter/metrics.js';
import type { AgentAdapter } from '../../src/controllers/adapter/model.js';
import type { AdapterReader, AdapterWriter, StatusStore } from '../../src/controllers/adapter/ports.js';
import { reconcileAdapters, UNLOAD_FINALIZER, type AdapterDeps } from '../../src/controllers/adapter/reconcile.js';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import type { KubeObject } from '../../src/runtime/object.js';
import { silentLogger } from '../../src/util/log.js';

// Whole passes of the Adapter reconcile against fakes of its narrow interfaces: caches as arrays,
// a writer and a status store that record what they are sent, and agents that answer as the real
// one does (PUT of a new spec starts over; a source with "bad" in it fails validation for good).

type Obj = KubeObject & { spec?: any; status?: any };
const NS = 'ns';

class FakeAgents implements AgentApi {
  readonly held = new Map<string, Map<string, AgentAdapter>>();
  readonly calls: string[] = [];
  readonly down = new Set<string>();
  // Slow: a PUT is answered Staging, as the real agent does, and stays so until finish().
  slow = false;
  tick = 0;
  finish() { for (const m of this.held.values()) for (const e of m.values()) if (e.state === 'Staging') e.state = 'Loaded'; }
  private at(pod: string) { if (!this.held.has(pod)) this.held.set(pod, new Map()); return this.held.get(pod)!; }
  private check(t: AgentTarget, op: string) {
    this.calls.push(`${op} ${t.pod}`);
    if (this.down.has(t.pod)) throw new AgentCallError('network', `${t.pod}: ECONNREFUSED`);
  }
  async list(t: AgentTarget) { this.check(t, 'list'); return new Map([...this.at(t.pod)].map(([k, v]) => [k, { ...v }])); }
  async put(t: AgentTarget, name: string, body: PutAdapterBody) {
    this.check(t, `put ${name}`);
    const m = this.at(t.pod);
    const e = m.get(name);
    if (e && e.source === body.source && e.expectedDigest === body.digest) return e;
    const bad = body.source.includes('bad');
    const next: AgentAdapter = {
      name, source: body.source, expectedDigest: body.digest, state: bad ? 'Failed' : this.slow ? 'Staging' : 'Loaded', progress: { bytesDone: 0, bytesTotal: 0 }, attempts: bad ? 1 : 0,
      updatedAt: new Date(Date.UTC(2026, 10, 27, 10, 0, ++this.tick)).toISOString(),
      ...(bad ? { error: { reason: 'SafetensorsHeaderTooLarge' as const, message: 'the header is 200 MB' } } : { digest: `sha256:${(body.source.length % 10).toString().repeat(64)}`, rank: 8, bytes: 100 }),
    };
    m.set(name, next);
    return next;
  }
  async delete(t: AgentTarget, name: string) { this.check(t, `delete ${name}`); this.at(t.pod).delete(name); }
}

function world() {
  const clock = new FakeClock(Date.parse('2026-11-27T10:00:00Z'));
  const bm: Obj = { metadata: { name: 'gpt2', namespace: NS, uid: 'bm-uid', resourceVersion: '1' }, spec: { model: { source: { uri: 'gpt2' } }, replicas: 3, adapters: { maxPerPod: 8 }, security: { agentTLS: false } } };
  const dep: Obj = { metadata: { name: 'gpt2', namespace: NS, uid: 'dep-uid', ownerReferences: [{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'gpt2', uid: 'bm-uid', controller: true }] } };
  const rs: Obj = { metadata: { name: 'gpt2-x', namespace: NS, uid: 'rs-uid', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'gpt2', uid: 'dep-uid', controller: true }] } };
  const pod = (name: string, owned = true): Obj => ({
    metadata: { name, namespace: NS, uid: `${name}-uid`, resourceVersion: '1', labels: { 'graft.dev/basemodel': 'gpt2' }, ownerReferences: owned ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'gpt2-x', uid: 'rs-uid', controller: true }] : [] },
    status: { podIP: `127.0.1.${name.slice(1)}`, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-27T09:00:00Z' }] },
  });
  const state = { bm: bm as Obj | undefined, adapters: [] as Obj[], pods: [pod('p1'), pod('p2'), pod('p3')] };
  let rv = 10;
  const reader: AdapterReader = {
    baseModel: () => state.bm,
    adapters: () => state.adapters,
    pods: () => state.pods,
    owners: () => ({ replicaSet: (n) => (n === 'gpt2-x' ? rs : undefined), deployment: (n) => (n === 'gpt2' ? dep : undefined) }),
  };
  const writes: string[] = [];
  const replaceAdapter = (o: Obj) => { state.adapters = state.adapters.map((a) => (a.metadata!.name === o.metadata!.name ? o : a)); };
  const writer: AdapterWriter = {
    async addFinalizer(o, f, signal) {
      signal.throwIfAborted();
      writes.push(`finalizer+ ${o.metadata!.name}`);
      const u = { ...o, metadata: { ...o.metadata, finalizers: [...(o.metadata!.finalizers ?? []), f], resourceVersion: String(++rv) } };
      replaceAdapter(u);
      return u;
    },
    async removeFinalizer(o, f, signal) {
      signal.throwIfAborted();
      writes.push(`finalizer- ${o.metadata!.name}`);
      state.adapters = state.adapters.filter((a) => a.metadata!.name !== o.metadata!.name);
      return { ...o, metadata: { ...o.metadata, finalizers: (o.metadata!.finalizers ?? []).filter((x) => x !== f) } };
    },
  };
  const status: StatusStore = {
    current: (o) => (state.adapters.find((a) => a.metadata!.name === o.metadata!.name) ?? o).status as Record<string, unknown> | undefined,
    async write(o, s, signal) {
      signal.throwIfAborted();
      const cur = state.adapters.find((a) => a.metadata!.name === o.metadata!.name);
      if (JSON.stringify(cur?.status) === JSON.stringify(s)) return false;
      writes.push(`status ${o.metadata!.name}`);
      if (cur) replaceAdapter({ ...cur, status: s, metadata: { ...cur.metadata, resourceVersion: String(++rv) } });
      return true;
    },
    forget() {},
  };
  const events: string[] = [];
  const agents = new FakeAgents();
  const deps: AdapterDeps = {
    reader, writer, status, agents, clock,
    events: { event: (o, type, reason) => events.push(`${type} ${reason} ${o.metadata?.name}`) },
    metrics: new AdapterMetrics(new Registry()),
    memory: new ControllerMemory(),
    timing: { unloadTimeoutMs: 120_000, recheckMs: 2_000, pollMs: 1_000, inFlightPerPod: 16, statusIntervalMs: 2_000, notReadyGraceMs: 60_000, baseModelWaitMs: 300_000 },
  };
  const adapter = (name: string, spec: Record<string, unknown>, created = '2026-11-27T09:30:00Z'): Obj => ({
    apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter',
    metadata: { name, namespace: NS, uid: `${name}-uid`, generation: 1, resourceVersion: String(++rv), creationTimestamp: created },
    spec: { baseModel: 'gpt2', replicas: 2, ...spec },
  });
  const get = (name: string) => state.adapters.find((a) => a.metadata!.name === name)!;
  const cond = (name: string, type: string) => (get(name)?.status?.conditions ?? []).find((c: any) => c.type === type);
  const pass = async (signal = new AbortController().signal) => {
    const r = await reconcileAdapters(deps, NS, 'gpt2', silentLogger, signal);
    await clock.advance(r.requeueAfter ?? 0);
    return r;
  };
  return { clock, state, deps, agents, writes, events, adapter, get, cond, pass, pod };
}

describe('reconcileAdapters', () => {
  it('places on the BaseModel\'s own pods only: a labelled pod of no ReplicaSet gets no call, no token (item 12)', async () => {
    const w = world();
    w.state.pods.push(w.pod('p9', false));
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' }, replicas: 'All' }));
    for (let i = 0; i < 3; i++) await w.pass();
    expect(w.agents.calls.filter((c) => c.endsWith('p9'))).toEqual([]);
    expect(w.get('a').status.placements.map((p: any) => p.pod)).toEqual(['p1', 'p2', 'p3']);
    expect(w.cond('a', 'Ready')).toMatchObject({ status: 'True', reason: 'Loaded' });
  });

  it('halts a roll at the failed version and resumes on a revert, with one pod serving throughout (item 10)', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/v1/' }, replicas: 3 }));
    for (let i = 0; i < 3; i++) await w.pass();
    expect(w.get('a').status.readyReplicas).toBe(3);
    const serving = () => [...w.agents.held.values()].filter((m) => m.get('a')?.state === 'Loaded').length;
    const bump = (uri: string) => { const a = w.get('a'); w.state.adapters = [{ ...a, spec: { ...a.spec, source: { uri } }, metadata: { ...a.metadata, generation: a.metadata!.generation! + 1, resourceVersion: `${a.metadata!.resourceVersion}0` } }]; };
    bump('s3://bkt/a/bad/');
    let min = Infinity;
    for (let i = 0; i < 6; i++) { await w.pass(); min = Math.min(min, serving()); }
    // One pod tried the bad version; the other two still serve v1.
    expect(w.agents.calls.filter((c) => c.startsWith('put a'))).toHaveLength(3 + 1);
    expect(serving()).toBe(2);
    expect(w.cond('a', 'Stalled')).toMatchObject({ status: 'True', reason: 'SafetensorsHeaderTooLarge' });
    expect(w.cond('a', 'Stalled').message).toContain('the roll is halted: 2 of 3 pods still serve the previous version');
    bump('s3://bkt/a/v1/');
    for (let i = 0; i < 4; i++) { await w.pass(); min = Math.min(min, serving()); }
    expect(w.cond('a', 'Ready')).toMatchObject({ status: 'True' });
    expect(serving()).toBe(3);
    expect(min).toBeGreaterThanOrEqual(2);
  });

  it('tells a finished roll to a new version with RolledOut', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/v1/' } }));
    for (let i = 0; i < 3; i++) await w.pass();
    const a = w.get('a');
    w.state.adapters = [{ ...a, spec: { ...a.spec, source: { uri: 's3://bkt/a/v22/' } }, metadata: { ...a.metadata, generation: 2, resourceVersion: '99' } }];
    for (let i = 0; i < 5; i++) await w.pass();
    expect(w.events).toEqual(['Normal Loaded a', 'Normal RolledOut a']);
  });

  it('removes the finalizer of a deleted Adapter that lost a served-name conflict (item 11)', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('b', { source: { uri: 's3://bkt/b/' }, servedName: 'x' }, '2026-11-27T09:00:00Z'));
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' }, servedName: 'x' }));
    for (let i = 0; i < 3; i++) await w.pass();
    expect(w.cond('a', 'Stalled')).toMatchObject({ reason: 'ServedNameConflict' });
    const a = w.get('a');
    w.state.adapters = w.state.adapters.map((o) => (o === a ? { ...a, metadata: { ...a.metadata, resourceVersion: '98', deletionTimestamp: '2026-11-27T10:00:05Z' } } : o));
    await w.pass();
    expect(w.state.adapters.map((o) => o.metadata!.name)).toEqual(['b']);
    expect([...w.agents.held.values()].filter((m) => m.get('x')?.source === 's3://bkt/b/')).toHaveLength(2);
  });

  it('unloads a deleted Adapter from the pods of a deleted BaseModel before removing its finalizer (item 11)', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }));
    for (let i = 0; i < 3; i++) await w.pass();
    w.state.bm = undefined; // deleted; garbage collection has not reached the pods yet
    const a = w.get('a');
    w.state.adapters = [{ ...a, metadata: { ...a.metadata, deletionTimestamp: '2026-11-27T10:00:05Z' } }];
    await w.pass();
    expect(w.writes.at(-1)).not.toBe('finalizer- a');
    expect(w.agents.calls.filter((c) => c.startsWith('delete a'))).toHaveLength(2);
    await w.pass();
    expect(w.writes.at(-1)).toBe('finalizer- a');
    // Nothing is kept for it once it is gone.
    const mem = w.deps.memory.of('ns/gpt2');
    expect(mem.ready.has('a-uid')).toBe(false);
    expect(mem.statusWrittenAt.has('a-uid')).toBe(false);
  });

  it('waits for a BaseModel applied together with its Adapters, with Normal events only (item 16)', async () => {
    const w = world();
    const bm = w.state.bm;
    w.state.bm = undefined;
    w.state.pods = [];
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }, '2026-11-27T10:00:00Z'));
    await w.pass();
    expect(w.cond('a', 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForBaseModel' });
    w.state.bm = bm; // the BaseModel arrives; its pods not yet
    await w.pass();
    expect(w.cond('a', 'Reconciling')).toMatchObject({ status: 'True', reason: 'WaitingForPods' });
    w.state.pods = [w.pod('p1'), w.pod('p2'), w.pod('p3')];
    for (let i = 0; i < 3; i++) await w.pass();
    expect(w.cond('a', 'Ready')).toMatchObject({ status: 'True' });
    expect(w.events).toEqual(['Normal WaitingForBaseModel a', 'Normal WaitingForPods a', 'Normal Loaded a']);
    expect((w.get('a').status.conditions as any[]).filter((c) => c.type === 'Stalled').map((c) => c.status)).toEqual(['False']);
  });

  it('stalls an Adapter whose BaseModel stays missing past the wait', async () => {
    const w = world();
    w.state.bm = undefined;
    w.state.pods = [];
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }, '2026-11-27T10:00:00Z'));
    const r = await reconcileAdapters(w.deps, NS, 'gpt2', silentLogger, new AbortController().signal);
    expect(r.requeueAfter).toBe(2_000);
    await w.clock.advance(300_000);
    await w.pass();
    expect(w.cond('a', 'Stalled')).toMatchObject({ status: 'True', reason: 'BaseModelNotFound' });
  });

  it('refuses a source outside allowedSources and never sends it to an agent (item 7)', async () => {
    const w = world();
    w.state.bm!.spec.adapters.allowedSources = ['s3://team/'];
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }));
    await w.pass();
    expect(w.cond('a', 'Stalled')).toMatchObject({ status: 'True', reason: 'SourceNotAllowed' });
    expect(w.agents.calls.filter((c) => c.startsWith('put'))).toEqual([]);
  });

  it('keeps a briefly unreachable pod\'s placements and moves them after the grace period (item 12)', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }));
    for (let i = 0; i < 3; i++) await w.pass();
    const placed = w.get('a').status.placements.map((p: any) => p.pod);
    w.agents.down.add(placed[0]);
    for (let i = 0; i < 10; i++) await w.pass();
    expect(w.get('a').status.placements.map((p: any) => p.pod)).toEqual(placed);
    await w.clock.advance(60_000);
    for (let i = 0; i < 3; i++) await w.pass();
    const moved = w.get('a').status.placements.filter((p: any) => p.state === 'Loaded').map((p: any) => p.pod);
    expect(moved).not.toContain(placed[0]);
    expect(moved).toHaveLength(2);
  });

  it('rechecks a settled BaseModel cheaply: the agents are read, nothing else is done', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }));
    for (let i = 0; i < 4; i++) await w.pass();
    const writes = w.writes.length, calls = w.agents.calls.length;
    for (let i = 0; i < 5; i++) expect((await w.pass()).requeueAfter).toBe(2_000);
    expect(w.writes.length).toBe(writes);
    expect(w.agents.calls.slice(calls).every((c) => c.startsWith('list'))).toBe(true);
    // An agent that reloaded (engine restart) is noticed at the next recheck.
    const pod = [...w.agents.held.entries()].find(([, m]) => m.has('a'))![0];
    w.agents.held.get(pod)!.get('a')!.updatedAt = '2026-11-27T10:05:00.000Z';
    await w.pass();
    expect(w.get('a').status.placements.find((p: any) => p.pod === pod).since).toBe('2026-11-27T10:05:00Z');
  });

  it('writes nothing and calls no agent once the signal has aborted (item 14)', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }));
    const ac = new AbortController();
    ac.abort(new Error('leadership lost'));
    await expect(reconcileAdapters(w.deps, NS, 'gpt2', silentLogger, ac.signal)).rejects.toThrow(/leadership lost/);
    expect(w.writes).toEqual([]);
    expect(w.agents.calls.filter((c) => !c.startsWith('list'))).toEqual([]);
    // Aborted mid-pass (after the agents were read): no PUT, no status.
    const mid = new AbortController();
    const list = w.agents.list.bind(w.agents);
    w.agents.list = async (t) => { const r = await list(t); mid.abort(new Error('leadership lost')); return r; };
    await expect(reconcileAdapters(w.deps, NS, 'gpt2', silentLogger, mid.signal)).rejects.toThrow();
    expect(w.writes.filter((x) => x.startsWith('status'))).toEqual([]);
    expect(w.agents.calls.filter((c) => c.startsWith('put'))).toEqual([]);
    expect(w.get('a').metadata!.finalizers).toEqual([UNLOAD_FINALIZER]);
  });

  it('retries a failing PUT with backoff instead of on every pass (item 15)', async () => {
    const w = world();
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' }, replicas: 1 }));
    const put = w.agents.put.bind(w.agents);
    w.agents.put = async (t) => { w.agents.calls.push(`put a ${t.pod}`); throw new AgentCallError('http_500', 'HTTP 500: internal error'); };
    for (let i = 0; i < 40; i++) await w.pass(); // about 40 s of passes
    const puts = w.agents.calls.filter((c) => c.startsWith('put')).length;
    expect(puts).toBeGreaterThanOrEqual(4);
    expect(puts).toBeLessThanOrEqual(7);
    expect(w.cond('a', 'Reconciling')).toMatchObject({ status: 'True', reason: 'AgentUnavailable' });
    w.agents.put = put;
    await w.clock.advance(60_000); // the backoff has reached 32 s
    for (let i = 0; i < 3; i++) await w.pass();
    expect(w.cond('a', 'Ready')).toMatchObject({ status: 'True' });
  });

  it('sends a burst of Adapters in windows per pod, and writes each status as its own calls return (issue 13)', async () => {
    const w = world();
    w.state.bm!.spec.adapters.maxPerPod = 100;
    w.deps.timing.inFlightPerPod = 4;
    w.agents.slow = true;
    for (let i = 0; i < 20; i++) w.state.adapters.push(w.adapter(`a${String(i).padStart(2, '0')}`, { source: { uri: `s3://bkt/a${i}/` } }));
    const puts = () => w.agents.calls.filter((c) => c.startsWith('put'));
    const perPod = () => { const n = new Map<string, number>(); for (const c of puts()) { const pod = c.split(' ')[2]!; n.set(pod, (n.get(pod) ?? 0) + 1); } return n; };
    await w.pass();
    expect([...perPod().values()]).toEqual([4, 4, 4]);
    // The status of an Adapter sent this pass already tells what its agents answered.
    const sent = w.state.adapters.filter((a) => (a.status?.placements ?? []).some((p: any) => p.state === 'Staging'));
    expect(sent.length).toBeGreaterThan(0);
    expect(w.state.adapters.filter((a) => a.status?.placements?.length).length).toBe(20); // all placed
    // Nothing finished: the window is full, nothing more is sent.
    await w.pass();
    expect(puts().length).toBe(12);
    w.agents.finish();
    await w.pass();
    expect([...perPod().values()]).toEqual([8, 8, 8]);
    for (let i = 0; i < 10; i++) { w.agents.finish(); await w.pass(); }
    expect(puts().length).toBe(40); // each placement sent once
    expect(w.state.adapters.every((a) => a.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'))).toBe(true);
  });

  it('writes a status that only moves along (one copy of two loaded) no more than every 2 s; Ready at once (issue 13)', async () => {
    const w = world();
    w.agents.slow = true;
    w.state.adapters.push(w.adapter('a', { source: { uri: 's3://bkt/a/' } }));
    await w.pass(); // finalizer, PUTs to two pods, status: staging on both
    const statusWrites = () => w.writes.filter((x) => x === 'status a').length;
    expect(statusWrites()).toBe(1);
    const [first, second] = [...w.agents.held.entries()].filter(([, m]) => m.has('a')).map(([pod]) => pod);
    w.agents.held.get(first!)!.get('a')!.state = 'Loaded';
    await w.pass(); // 1 s later: loaded on 1 of 2, same reason: deferred
    expect(statusWrites()).toBe(1);
    w.agents.held.get(second!)!.get('a')!.state = 'Loaded';
    await w.pass();
    expect(statusWrites()).toBe(2);
    expect(w.cond('a', 'Ready')).toMatchObject({ status: 'True' });
    // Left alone, a deferred status is written by a later pass.
    const w2 = world();
    w2.agents.slow = true;
    w2.state.adapters.push(w2.adapter('b', { source: { uri: 's3://bkt/b/' } }));
    await w2.pass();
    const pod = [...w2.agents.held.entries()].find(([, m]) => m.has('b'))![0];
    w2.agents.held.get(pod)!.get('b')!.state = 'Loaded';
    for (let i = 0; i < 3; i++) await w2.pass();
    expect(w2.get('b').status.placements.find((p: any) => p.pod === pod).state).toBe('Loaded');
  });
});

