import { describe, expect, it } from 'vitest';
import { place, wantedReplicas, type AdapterDemand, type PlacementResult, type PodSlot } from '../../src/placement/placement.js';

// A small seeded generator, so every random case can be replayed from its seed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
function shuffle<T>(r: () => number, xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [a[i], a[j]] = [a[j], a[i]]; }
  return a;
}

type Case = { adapters: AdapterDemand[]; pods: PodSlot[]; current: Map<string, string[]> };
function randomCase(seed: number, opts: { ample?: boolean } = {}): Case {
  const r = rng(seed);
  const podCount = int(r, 0, 8);
  const pods = Array.from({ length: podCount }, (_, i) => ({ name: `pod-${i}`, capacity: opts.ample ? 1000 : int(r, 0, 6) }));
  const adapters = Array.from({ length: int(r, 0, 30) }, (_, i) => ({
    key: `ns/a-${i}`,
    replicas: r() < 0.1 ? 'All' as const : int(r, 1, 4),
    priority: int(r, -1, 2),
    sizeBytes: int(r, 1, 100) * 1_000_000,
  }));
  const current = new Map<string, string[]>();
  for (const a of adapters) {
    if (r() < 0.5) current.set(a.key, shuffle(r, [...pods.map((p) => p.name), 'gone-pod']).slice(0, int(r, 0, 3)));
  }
  return { adapters, pods, current };
}

function checkInvariants(c: Case, res: PlacementResult): void {
  const load = new Map<string, number>();
  for (const a of c.adapters) {
    const ps = res.placements.get(a.key)!;
    expect(new Set(ps).size, `${a.key} on distinct pods`).toBe(ps.length);
    expect(ps.length).toBeLessThanOrEqual(wantedReplicas(a, c.pods.length));
    for (const p of ps) {
      expect(c.pods.some((x) => x.name === p), `${p} exists`).toBe(true);
      load.set(p, (load.get(p) ?? 0) + 1);
    }
    const short = res.unschedulable.get(a.key);
    if (ps.length < wantedReplicas(a, c.pods.length)) expect(short).toEqual(expect.objectContaining({ placed: ps.length }));
    else expect(short).toBeUndefined();
  }
  for (const p of c.pods) expect(load.get(p.name) ?? 0, `${p.name} within capacity`).toBeLessThanOrEqual(p.capacity);
}

describe('placement', () => {
  it('places replicas on distinct pods, least loaded first', () => {
    const pods = [{ name: 'p1', capacity: 4 }, { name: 'p2', capacity: 4 }, { name: 'p3', capacity: 4 }];
    const res = place([
      { key: 'a', replicas: 2, priority: 0 }, { key: 'b', replicas: 2, priority: 0 }, { key: 'c', replicas: 'All', priority: 0 },
    ], pods, new Map());
    expect(res.placements.get('a')).toEqual(['p1', 'p2']);
    expect(res.placements.get('b')).toEqual(['p1', 'p3']);
    expect(res.placements.get('c')).toEqual(['p1', 'p2', 'p3']);
    expect(res.unschedulable.size).toBe(0);
  });

  it('breaks count ties by bytes', () => {
    const pods = [{ name: 'p1', capacity: 4 }, { name: 'p2', capacity: 4 }];
    const res = place([
      { key: 'big', replicas: 1, priority: 0, sizeBytes: 900 }, { key: 'small', replicas: 1, priority: 0, sizeBytes: 10 },
      { key: 'x', replicas: 1, priority: 0, sizeBytes: 5 },
    ], pods, new Map());
    expect(res.placements.get('big')).toEqual(['p1']);
    expect(res.placements.get('small')).toEqual(['p2']);
    expect(res.placements.get('x')).toEqual(['p2']);
  });

  it('reports what does not fit, lowest priority first, and takes room from lower priorities', () => {
    const pods = [{ name: 'p1', capacity: 1 }, { name: 'p2', capacity: 1 }];
    const current = new Map([['low', ['p1']], ['mid', ['p2']]]);
    const res = place([
      { key: 'low', replicas: 1, priority: 0 }, { key: 'mid', replicas: 1, priority: 5 }, { key: 'high', replicas: 1, priority: 10 },
    ], pods, current);
    expect(res.placements.get('high')).toEqual(['p1']);
    expect(res.placements.get('mid')).toEqual(['p2']);
    expect(res.placements.get('low')).toEqual([]);
    expect(res.unschedulable.get('low')).toEqual({ wanted: 1, placed: 0, reason: 'InsufficientCapacity' });
  });

  it('says NotEnoughPods when replicas exceed the pods', () => {
    const res = place([{ key: 'a', replicas: 3, priority: 0 }], [{ name: 'p1', capacity: 5 }], new Map());
    expect(res.unschedulable.get('a')).toEqual({ wanted: 3, placed: 1, reason: 'NotEnoughPods' });
  });

  it('keeps every invariant over many random cases', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const c = randomCase(seed);
      checkInvariants(c, place(c.adapters, c.pods, c.current));
    }
  });

  it('is deterministic whatever the order of its inputs', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const c = randomCase(seed);
      const r = rng(seed * 7919);
      const a = place(c.adapters, c.pods, c.current);
      const shuffledCurrent = new Map(shuffle(r, [...c.current.entries()]).map(([k, v]) => [k, shuffle(r, v)]));
      const b = place(shuffle(r, c.adapters), shuffle(r, c.pods), shuffledCurrent);
      expect([...b.placements.entries()].sort()).toEqual([...a.placements.entries()].sort());
      expect([...b.unschedulable.entries()].sort()).toEqual([...a.unschedulable.entries()].sort());
    }
  });

  it('respects priority: a short adapter finds every other pod full of equal or higher priority', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const c = randomCase(seed);
      const res = place(c.adapters, c.pods, c.current);
      const prio = new Map(c.adapters.map((a) => [a.key, a.priority]));
      for (const [key] of res.unschedulable) {
        const mine = new Set(res.placements.get(key));
        for (const p of c.pods) {
          if (mine.has(p.name)) continue;
          const onPod = [...res.placements.entries()].filter(([, ps]) => ps.includes(p.name)).map(([k]) => k);
          expect(onPod.length, `seed ${seed}: ${p.name} has room for ${key}`).toBe(p.capacity);
          for (const k of onPod) expect(prio.get(k)!, `seed ${seed}: ${k} below ${key} on ${p.name}`).toBeGreaterThanOrEqual(prio.get(key)!);
        }
      }
    }
  });

  it('moves only what was on a removed pod, and nothing when a pod is added', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const c = randomCase(seed, { ample: true });
      if (c.pods.length < 2) continue;
      const before = place(c.adapters, c.pods, new Map());
      const removed = c.pods[seed % c.pods.length].name;
      const fewer = c.pods.filter((p) => p.name !== removed);
      const after = place(c.adapters, fewer, before.placements);
      for (const a of c.adapters) {
        const kept = before.placements.get(a.key)!.filter((p) => p !== removed);
        const now = after.placements.get(a.key)!;
        for (const p of kept) expect(now, `seed ${seed}: ${a.key} kept on ${p}`).toContain(p);
        const lost = before.placements.get(a.key)!.length - kept.length;
        expect(now.length - kept.length, `seed ${seed}: ${a.key} placed more than it lost`).toBeLessThanOrEqual(lost);
      }
      const more = [...c.pods, { name: 'pod-new', capacity: 1000 }];
      const grown = place(c.adapters, more, before.placements);
      for (const a of c.adapters) {
        const was = before.placements.get(a.key)!;
        const now = grown.placements.get(a.key)!;
        expect(now.filter((p) => p !== 'pod-new'), `seed ${seed}: ${a.key} unchanged`).toEqual(was);
      }
    }
  });

  it('balances fresh placements to within one adapter per pod', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const c = randomCase(seed, { ample: true });
      if (!c.pods.length) continue;
      const res = place(c.adapters, c.pods, new Map());
      const load = new Map(c.pods.map((p) => [p.name, 0]));
      for (const ps of res.placements.values()) for (const p of ps) load.set(p, load.get(p)! + 1);
      const counts = [...load.values()];
      expect(Math.max(...counts) - Math.min(...counts), `seed ${seed}`).toBeLessThanOrEqual(1);
    }
  });
});

describe('placement when capacity is fragmented', () => {
  it('moves one replica to make room when the free slots are on pods that already host the adapter', () => {
    const pods = [{ name: 'p1', capacity: 2 }, { name: 'p2', capacity: 2 }, { name: 'p3', capacity: 2 }];
    // p1 holds x and a; p2 and p3 are full with y and z; a needs a second pod.
    const current = new Map([['a', ['p1']], ['y', ['p2', 'p3']], ['z', ['p2', 'p3']]]);
    const res = place([
      { key: 'a', replicas: 2, priority: 0 }, { key: 'y', replicas: 2, priority: 0 }, { key: 'z', replicas: 2, priority: 0 },
    ], pods, current);
    expect(res.unschedulable.size).toBe(0);
    expect(res.placements.get('a')).toHaveLength(2);
    const moved = ['y', 'z'].filter((k) => res.placements.get(k)!.join() !== current.get(k)!.join());
    expect(moved).toHaveLength(1);
  });

  it('places everything whenever uniform capacity suffices, whatever was placed before', () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const r = rng(seed);
      const n = int(r, 1, 6), cap = int(r, 1, 5);
      const pods = Array.from({ length: n }, (_, i) => ({ name: `p${i}`, capacity: cap }));
      const adapters: AdapterDemand[] = [];
      let room = n * cap;
      for (let i = 0; room > 0 && i < 40; i++) {
        const want = Math.min(int(r, 1, n), room);
        adapters.push({ key: `a${i}`, replicas: want, priority: int(r, 0, 2) });
        room -= want;
      }
      // A messy starting point: some adapters partly placed at random.
      const current = new Map<string, string[]>();
      for (const a of adapters) if (r() < 0.6) current.set(a.key, shuffle(r, pods.map((p) => p.name)).slice(0, int(r, 0, a.replicas as number)));
      const res = place(adapters, pods, current);
      expect(res.unschedulable.size, `seed ${seed}`).toBe(0);
    }
  });
});
