import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Controller, ControllerContext } from '../../src/runtime/controller.js';
import { FakeClock, settle } from '../../src/runtime/fake-clock.js';
import type { InformerOptions } from '../../src/runtime/informer.js';
import { Manager, type ManagerOptions } from '../../src/runtime/manager.js';
import { kind, type KubeObject } from '../../src/runtime/object.js';
import { FakeInformer } from './fake-informer.js';
import { MemoryLease } from './memory-lease.js';

// The Manager with its informers and Lease in memory (no API server is reached: the kubeconfig
// points at a closed port and nothing here sends a request), on a fake clock.
const CM = kind('v1', 'ConfigMap', 'configmaps');
const SECRET = kind('v1', 'Secret', 'secrets');
const NODE = kind('v1', 'Node', 'nodes', false);
const cm = (namespace: string, name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace, name } });

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'u', token: 'none' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

function manager(opts: Partial<ManagerOptions> = {}) {
  const clock = new FakeClock();
  const informers: FakeInformer[] = [];
  const mgr = new Manager({
    kubeConfig: kubeConfig(), clock, identity: 'me', resyncMs: 0, gracefulShutdownMs: 1_000,
    newInformer: (o: InformerOptions) => { const f = new FakeInformer(o); informers.push(f); return f; },
    ...opts,
  });
  const informerOf = (k: typeof CM, ns: string | undefined) => informers.find((f) => f.kind === k && f.namespace === ns)!;
  return { clock, mgr, informers, informerOf };
}

describe('Manager: a list of namespaces', () => {
  it('runs one informer per kind per namespace with the cache selector, merged behind the cache a controller reads', async () => {
    let ctx: ControllerContext | undefined;
    const seen: string[] = [];
    const { mgr, informers, informerOf, clock } = manager({
      namespaces: ['team-a', 'team-b'],
      cacheSelectors: [{ kind: SECRET, labelSelector: 'app.kubernetes.io/managed-by=graft' }],
    });
    mgr.add((c) => {
      ctx = c;
      c.cache(NODE);
      return { name: 'test', for: CM, owns: [SECRET], reconcile: async (req) => { seen.push(req.key); } } satisfies Controller;
    });
    expect(informers.map((f) => `${f.kind.plural} ${f.namespace ?? '(all)'} ${f.labelSelector ?? ''}`.trim()).sort()).toEqual([
      'configmaps team-a', 'configmaps team-b', 'nodes (all)',
      'secrets team-a app.kubernetes.io/managed-by=graft', 'secrets team-b app.kubernetes.io/managed-by=graft',
    ]);
    expect(ctx!.namespaces).toEqual(['team-a', 'team-b']);

    informerOf(CM, 'team-a').put(cm('team-a', 'x'));
    informerOf(CM, 'team-b').put(cm('team-b', 'y'));
    const cache = ctx!.cache(CM);
    expect(cache.list().map((o) => o.metadata?.name).sort()).toEqual(['x', 'y']);
    expect(cache.get('team-b', 'y')).toBeDefined();
    expect(cache.get('team-a', 'y')).toBeUndefined();

    await mgr.start(); // no leader election: the controllers start once the caches have synced
    await clock.advance(10);
    expect(mgr.readiness()).toEqual({ ready: true, reason: '' });
    expect(seen.sort()).toEqual(['team-a/x', 'team-b/y']); // every namespace's objects are queued at the start

    informerOf(CM, 'team-b').put(cm('team-b', 'z'));
    await clock.advance(10);
    expect(seen).toContain('team-b/z');
    await mgr.stop();
    expect(informers.every((f) => f.stopped)).toBe(true);
  });

  it('watches all namespaces with one informer per kind when no namespace is given', () => {
    let ctx: ControllerContext | undefined;
    const { mgr, informers } = manager({ namespaces: [] });
    mgr.add((c) => { ctx = c; return { name: 'test', for: CM, reconcile: async () => {} }; });
    expect(informers.map((f) => f.namespace)).toEqual([undefined]);
    expect(ctx!.namespaces).toBeUndefined();
  });

  it('is not ready until the informer of every namespace has synced', async () => {
    const informers: FakeInformer[] = [];
    const { mgr, clock } = manager({
      namespaces: ['team-a', 'team-b'],
      newInformer: (o) => { const f = new FakeInformer(o, true); informers.push(f); return f; },
    });
    mgr.add(() => ({ name: 'test', for: CM, reconcile: async () => {} }));
    const started = mgr.start();
    await clock.advance(10);
    informers[0]!.sync();
    await clock.advance(10);
    expect(mgr.readiness()).toEqual({ ready: false, reason: 'informer caches not synced' });
    informers[1]!.sync();
    await started;
    await clock.advance(10);
    expect(mgr.readiness().ready).toBe(true);
    await mgr.stop();
  });
});

describe('Manager: leadership terms', () => {
  // A reconcile that does not stop when its signal aborts (a slow write already sent) keeps the
  // lost term alive; after a quick re-election the new term must not run beside it.
  it('starts a new term only after every runner of the lost term has halted', async () => {
    const mem = new MemoryLease();
    const { mgr, clock, informerOf } = manager({
      leaderElection: { enabled: true, namespace: 'ops', id: 'graft-operator' },
      leaseStore: mem.storeFor('me'),
    });
    const log: string[] = [];
    let running = 0, maxRunning = 0, calls = 0;
    let finishFirst!: () => void;
    const firstMayFinish = new Promise<void>((r) => { finishFirst = r; });
    let firstSignal: AbortSignal | undefined;
    mgr.add(() => ({
      name: 'test', for: CM,
      reconcile: async (req, _log, signal) => {
        const n = ++calls;
        running++;
        maxRunning = Math.max(maxRunning, running);
        log.push(`start ${n} ${req.key}`);
        if (n === 1) { firstSignal = signal; await firstMayFinish; } // ignores the signal
        log.push(`end ${n}`);
        running--;
      },
    }));
    informerOf(CM, undefined).put(cm('ns', 'x'));
    await mgr.start();
    await clock.advance(100);
    expect(mgr.isLeader()).toBe(true);
    expect(log).toEqual(['start 1 ns/x']);

    // Partitioned from the API server: renewals fail, and the term ends at the renew deadline.
    mem.down.add('me');
    await clock.advance(11_000);
    expect(mgr.isLeader()).toBe(false);
    expect(firstSignal?.aborted).toBe(true);

    // Back again: it wins the lease at once (it still holds it) and leads a new term …
    mem.down.delete('me');
    await clock.advance(5_000);
    expect(mgr.isLeader()).toBe(true);
    expect(mem.lease?.record.holderIdentity).toBe('me');
    // … but runs no controller while the lost term's reconcile is still in progress, however long.
    informerOf(CM, undefined).put(cm('ns', 'x')); // an event meanwhile is not lost either
    await clock.advance(120_000);
    expect(log).toEqual(['start 1 ns/x']);
    expect(mgr.readiness()).toEqual({ ready: false, reason: 'controllers not running' });

    finishFirst();
    await clock.advance(100);
    expect(log).toEqual(['start 1 ns/x', 'end 1', 'start 2 ns/x', 'end 2']);
    expect(maxRunning).toBe(1);
    expect(mgr.readiness().ready).toBe(true);
    await mgr.stop();
    expect(mem.lease?.record.holderIdentity).toBe(''); // released on a clean stop
  });

  it('starts the new term at once when the lost term halts promptly', async () => {
    const mem = new MemoryLease();
    const { mgr, clock, informerOf } = manager({
      leaderElection: { enabled: true, namespace: 'ops', id: 'graft-operator' },
      leaseStore: mem.storeFor('me'),
    });
    const starts: number[] = [];
    mgr.add(() => ({
      name: 'test', for: CM,
      reconcile: async (_req, _log, signal) => {
        starts.push(clock.now());
        if (starts.length === 1) await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      },
    }));
    informerOf(CM, undefined).put(cm('ns', 'x'));
    await mgr.start();
    await clock.advance(100);
    mem.down.add('me');
    await clock.advance(11_000);
    expect(mgr.isLeader()).toBe(false);
    mem.down.delete('me');
    let reelectedAt = 0;
    for (let i = 0; i < 100 && !reelectedAt; i++) { await clock.advance(100); if (mgr.isLeader()) reelectedAt = clock.now(); }
    await settle();
    expect(starts).toHaveLength(2);
    // In the same 100 ms step as the re-election (the reconcile runs as soon as the term starts).
    expect(starts[1]).toBeGreaterThan(reelectedAt - 100);
    expect(starts[1]).toBeLessThanOrEqual(reelectedAt);
    await mgr.stop();
  });
});
