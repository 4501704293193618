import { describe, expect, it } from 'vitest';
import { settle } from '../../src/runtime/fake-clock.js';
import { MultiNamespaceInformer } from '../../src/runtime/multi-namespace-informer.js';
import { kind, type KubeObject } from '../../src/runtime/object.js';
import { FakeInformer } from './fake-informer.js';

const CM = kind('v1', 'ConfigMap', 'configmaps');
const NS = kind('v1', 'Namespace', 'namespaces', false);
const cm = (namespace: string, name: string, v = '1'): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace, name, labels: { v } } });

function merged(namespaces: string[] | undefined, k = CM, manualSync = false) {
  const made: FakeInformer[] = [];
  const inf = new MultiNamespaceInformer(k, namespaces, (namespace) => {
    const f = new FakeInformer({ kind: k, namespace }, manualSync);
    made.push(f);
    return f;
  });
  const child = (ns: string | undefined) => made.find((f) => f.namespace === ns)!;
  return { inf, made, child };
}

describe('MultiNamespaceInformer', () => {
  it('runs one informer per watched namespace, each scoped to it, once per name', () => {
    const { inf, made } = merged(['team-a', 'team-b', 'team-a', '']);
    expect(made.map((f) => f.namespace)).toEqual(['team-a', 'team-b']);
    expect(inf.namespaces).toEqual(['team-a', 'team-b']);
  });

  it('runs one informer for all namespaces when none is given, and for a cluster-scoped kind', () => {
    for (const ns of [undefined, []]) {
      const { inf, made } = merged(ns);
      expect(made.map((f) => f.namespace)).toEqual([undefined]);
      expect(inf.namespaces).toBeUndefined();
    }
    const { made } = merged(['team-a', 'team-b'], NS);
    expect(made.map((f) => f.namespace)).toEqual([undefined]);
  });

  it('gets and lists from the informer of the namespace asked for; nothing from a namespace not watched', () => {
    const { inf, child } = merged(['team-a', 'team-b']);
    child('team-a').put(cm('team-a', 'x', 'a'));
    child('team-b').put(cm('team-b', 'x', 'b'));
    child('team-b').put(cm('team-b', 'y'));
    expect(inf.get('team-a', 'x')?.metadata?.labels?.v).toBe('a');
    expect(inf.get('team-b', 'x')?.metadata?.labels?.v).toBe('b');
    expect(inf.getByKey('team-b/y')?.metadata?.name).toBe('y');
    expect(inf.get('team-c', 'x')).toBeUndefined();
    expect(inf.get(undefined, 'x')).toBeUndefined();
    expect(inf.getByKey('x')).toBeUndefined();
    expect(inf.list('team-a').map((o) => o.metadata?.name)).toEqual(['x']);
    expect(inf.list('team-b').map((o) => o.metadata?.name)).toEqual(['x', 'y']);
    expect(inf.list('team-c')).toEqual([]);
    expect(inf.list().map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`)).toEqual(['team-a/x', 'team-b/x', 'team-b/y']);
    expect(inf.list('').length).toBe(3);
  });

  it('with one informer for all namespaces, reads every namespace from it', () => {
    const { inf, child } = merged(undefined);
    child(undefined).put(cm('team-a', 'x'));
    child(undefined).put(cm('team-z', 'x'));
    expect(inf.get('team-z', 'x')?.metadata?.namespace).toBe('team-z');
    expect(inf.list('team-a').length).toBe(1);
    expect(inf.list().length).toBe(2);
  });

  it('reads a cluster-scoped kind by name whatever namespace is passed', () => {
    const { inf, child } = merged(['team-a'], NS);
    child(undefined).put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    expect(inf.get(undefined, 'team-a')).toBeDefined();
    expect(inf.get('elsewhere', 'team-a')).toBeDefined();
    expect(inf.list('elsewhere').length).toBe(1);
  });

  it('delivers the events of every namespace to each handler', () => {
    const { inf, child } = merged(['team-a', 'team-b']);
    const seen: string[] = [];
    for (const ev of ['add', 'update', 'delete'] as const) inf.on(ev, (o) => seen.push(`${ev} ${o.metadata?.namespace}/${o.metadata?.name}`));
    child('team-a').put(cm('team-a', 'x'));
    child('team-b').put(cm('team-b', 'x'));
    child('team-b').put(cm('team-b', 'x', '2'));
    child('team-a').remove(cm('team-a', 'x'));
    expect(seen).toEqual(['add team-a/x', 'add team-b/x', 'update team-b/x', 'delete team-a/x']);
  });

  it('is synced only when every namespace is, and starts, stops and counts restarts across them', async () => {
    const { inf, child, made } = merged(['team-a', 'team-b'], CM, true);
    inf.start();
    expect(made.every((f) => f.started)).toBe(true);
    let synced = false;
    void inf.waitForSync().then(() => { synced = true; });
    child('team-a').sync();
    await settle();
    expect(inf.hasSynced()).toBe(false);
    expect(synced).toBe(false);
    child('team-b').sync();
    await settle();
    expect(inf.hasSynced()).toBe(true);
    expect(synced).toBe(true);
    child('team-a').restarts = 2;
    child('team-b').restarts = 3;
    expect(inf.restarts).toBe(5);
    await inf.stop();
    expect(made.every((f) => f.stopped)).toBe(true);
  });
});
