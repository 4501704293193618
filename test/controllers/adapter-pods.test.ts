import { describe, expect, it } from 'vitest';
import { placeAdapters } from '../../src/controllers/adapter/placement.js';
import { podSlots, servingPods } from '../../src/controllers/adapter/pods.js';
import { isOwnPod, type OwnerLookup } from '../../src/controllers/owned-pods.js';
import type { KubeObject } from '../../src/runtime/object.js';
import { down, info, view, views } from './adapter-fixtures.js';

// Objects shaped as the API server and the Deployment controller write them.
const bm = { name: 'gpt2', uid: 'bm-uid' };
const deployment: KubeObject = { metadata: { name: 'gpt2', uid: 'dep-uid', ownerReferences: [{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'gpt2', uid: 'bm-uid', controller: true }] } };
const replicaSet: KubeObject = { metadata: { name: 'gpt2-7d9c', uid: 'rs-uid', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'gpt2', uid: 'dep-uid', controller: true }] } };
const look: OwnerLookup = { replicaSet: (n) => (n === 'gpt2-7d9c' ? replicaSet : undefined), deployment: (n) => (n === 'gpt2' ? deployment : undefined) };
const t0 = Date.parse('2026-11-27T10:00:00Z');

function pod(name: string, extra: { ready?: boolean; since?: string; owner?: KubeObject['metadata']; ip?: string } = {}): KubeObject {
  return {
    metadata: {
      name, uid: `${name}-uid`, labels: { 'graft.dev/basemodel': 'gpt2' }, creationTimestamp: '2026-11-27T09:00:00Z',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'gpt2-7d9c', uid: 'rs-uid', controller: true }],
      ...extra.owner,
    },
    status: {
      podIP: extra.ip ?? '127.0.1.10',
      conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True', lastTransitionTime: extra.since ?? '2026-11-27T09:00:10Z' }],
    },
  };
}

describe('pod ownership (issue 9, item 12)', () => {
  it('takes only pods of a ReplicaSet of the BaseModel\'s Deployment, each link checked by uid', () => {
    expect(isOwnPod(pod('p1'), bm, look)).toBe(true);
    // The label alone: a pod anyone could create.
    expect(isOwnPod(pod('foreign', { owner: { ownerReferences: [] } }), bm, look)).toBe(false);
    // A ReplicaSet of the same name but another uid (deleted and made again by someone else).
    expect(isOwnPod(pod('p2', { owner: { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'gpt2-7d9c', uid: 'other', controller: true }] } }), bm, look)).toBe(false);
    // A Deployment controlled by another BaseModel uid (an old one of the same name).
    expect(isOwnPod(pod('p1'), { name: 'gpt2', uid: 'new-bm-uid' }, look)).toBe(false);
    // A ReplicaSet not controlled by the Deployment.
    const stray: OwnerLookup = { ...look, replicaSet: () => ({ metadata: { name: 'gpt2-7d9c', uid: 'rs-uid' } }) };
    expect(isOwnPod(pod('p1'), bm, stray)).toBe(false);
    // The BaseModel is gone (garbage collection still removing its pods): the Deployment's controller still names it.
    expect(isOwnPod(pod('p1'), { name: 'gpt2' }, look)).toBe(true);
    expect(isOwnPod(pod('p1'), { name: 'other' }, look)).toBe(false);
  });

  it('lists running own pods with their readiness, skipping terminating ones and those without an address', () => {
    const list = servingPods([
      pod('p2', { ready: false, since: '2026-11-27T09:59:30Z' }), pod('p1'),
      { ...pod('p3'), metadata: { ...pod('p3').metadata, deletionTimestamp: '2026-11-27T09:59:00Z' } },
      { ...pod('p4'), status: {} }, pod('foreign', { owner: { ownerReferences: [] } }),
    ], bm, look, t0);
    expect(list).toEqual([
      { name: 'p1', uid: 'p1-uid', address: '127.0.1.10', ready: true },
      { name: 'p2', uid: 'p2-uid', address: '127.0.1.10', ready: false, notReadySince: Date.parse('2026-11-27T09:59:30Z') },
    ]);
  });
});

describe('pod health and placement', () => {
  const grace = 60_000;
  it('keeps a short NotReady pod\'s placements, moves them after the grace period', () => {
    const pods = servingPods([pod('p1'), pod('p2'), pod('p3', { ready: false, since: '2026-11-27T09:59:40Z' })], bm, look, t0);
    const mem = new Map<string, number>();
    const slots = podSlots(pods, views(view('p1'), view('p2'), view('p3')), mem, t0, grace);
    expect(slots.ready.map((p) => p.name)).toEqual(['p1', 'p2']);
    expect(slots.grace.map((p) => p.name)).toEqual(['p3']);
    expect(slots.nextChange).toBe(Date.parse('2026-11-27T10:00:40Z'));
    // p3 holds the fewest adapters, so a new one would go there if it could.
    const current = new Map([['ns/a', ['p2', 'p3']], ['ns/b', ['p1']], ['ns/d', ['p1', 'p2']]]);
    const adapters = [info('a'), info('b', undefined, { replicas: 1 }), info('d'), info('c', undefined, { replicas: 1 })];
    const placed = placeAdapters(adapters, slots, current, 8);
    expect(placed.placements.get('ns/a')).toEqual(['p2', 'p3']); // kept on the NotReady pod
    expect(placed.placements.get('ns/c')).toEqual(['p1']); // nothing new goes to the NotReady pod
    // After the grace period p3 is lost: a's replica moves.
    const later = podSlots(pods, views(view('p1'), view('p2'), view('p3')), mem, t0 + 41_000, grace);
    expect(later.lost.map((p) => p.name)).toEqual(['p3']);
    expect(placeAdapters(adapters, later, current, 8).placements.get('ns/a')).toEqual(['p1', 'p2']);
  });

  it('counts an unreachable agent from the first failed read, and forgets it once it answers', () => {
    const pods = servingPods([pod('p1')], bm, look, t0);
    const mem = new Map<string, number>();
    expect(podSlots(pods, views(down('p1')), mem, t0, grace).grace).toHaveLength(1);
    expect(podSlots(pods, views(down('p1')), mem, t0 + 59_000, grace).grace).toHaveLength(1);
    expect(podSlots(pods, views(down('p1')), mem, t0 + 60_000, grace).lost).toHaveLength(1);
    expect(podSlots(pods, views(view('p1')), mem, t0 + 61_000, grace).ready).toHaveLength(1);
    expect(mem.size).toBe(0);
  });

  it('places replicas: All on the ready pods plus the pods in grace that already host it', () => {
    const pods = servingPods([pod('p1'), pod('p2'), pod('p3', { ready: false, since: '2026-11-27T09:59:40Z' })], bm, look, t0);
    const slots = podSlots(pods, new Map(), new Map(), t0, grace);
    const all = info('all', undefined, { replicas: 'All' });
    expect(placeAdapters([all], slots, new Map(), 8)).toEqual({ placements: new Map([['ns/all', ['p1', 'p2']]]), unschedulable: new Map() });
    expect(placeAdapters([all], slots, new Map([['ns/all', ['p1', 'p2', 'p3']]]), 8).placements.get('ns/all')).toEqual(['p1', 'p2', 'p3']);
  });
});
