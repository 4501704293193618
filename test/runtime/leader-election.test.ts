import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import { LeaderElector } from '../../src/runtime/leader-election.js';
import { MemoryLease } from './memory-lease.js';

function elector(mem: MemoryLease, clock: FakeClock, identity: string, leading: Set<string>, log: string[]) {
  return new LeaderElector({
    store: mem.storeFor(identity), identity, clock, random: () => 0.5,
    onStartedLeading: () => { leading.add(identity); log.push(`${clock.now()} ${identity} start`); },
    onStoppedLeading: () => { leading.delete(identity); log.push(`${clock.now()} ${identity} stop`); },
  });
}

// Advances in small steps, checking the invariant after each: at most one leader.
async function run(clock: FakeClock, ms: number, leading: Set<string>, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    await clock.advance(step);
    expect(leading.size).toBeLessThanOrEqual(1);
  }
}

describe('LeaderElector', () => {
  it('elects exactly one of two candidates and keeps it while it renews', async () => {
    const clock = new FakeClock();
    const mem = new MemoryLease();
    const leading = new Set<string>();
    const log: string[] = [];
    const a = elector(mem, clock, 'a', leading, log);
    const b = elector(mem, clock, 'b', leading, log);
    a.start();
    b.start();
    await run(clock, 60_000, leading);
    expect(leading.size).toBe(1);
    const leader = [...leading][0];
    expect(mem.lease!.record.holderIdentity).toBe(leader);
    expect(mem.lease!.record.leaseDurationSeconds).toBe(15);
    expect(log.length).toBe(1); // no flapping
  });

  it('a candidate takes over after the lease duration when the leader dies, never before', async () => {
    const clock = new FakeClock();
    const mem = new MemoryLease();
    const leading = new Set<string>();
    const log: string[] = [];
    const a = elector(mem, clock, 'a', leading, log);
    a.start();
    await run(clock, 1000, leading);
    expect(a.isLeader()).toBe(true);
    const b = elector(mem, clock, 'b', leading, log);
    b.start();
    await run(clock, 10_000, leading);
    // Leader "dies": it stops renewing without releasing (kill -9).
    mem.down.add('a');
    const lastRenew = Date.parse(mem.lease!.record.renewTime!);
    leading.delete('a'); // a dead process leads nothing
    const diedAt = clock.now();
    let tookOver = 0;
    for (let t = 0; t < 30_000 && !tookOver; t += 100) {
      await clock.advance(100);
      if (b.isLeader()) tookOver = clock.now();
    }
    expect(tookOver).toBeGreaterThan(0);
    // Not before the lease ran out as seen from b, and within lease duration plus one try.
    expect(tookOver - lastRenew).toBeGreaterThanOrEqual(15_000);
    expect(tookOver - diedAt).toBeLessThanOrEqual(15_000 + 2 * 2_400);
    expect(mem.lease!.record.holderIdentity).toBe('b');
    expect(mem.lease!.record.leaseTransitions).toBe(1);
  });

  it('a leader that cannot renew stops within the renew deadline, before anyone else may lead', async () => {
    const clock = new FakeClock();
    const mem = new MemoryLease();
    const leading = new Set<string>();
    const log: string[] = [];
    const a = elector(mem, clock, 'a', leading, log);
    const b = elector(mem, clock, 'b', leading, log);
    a.start();
    await run(clock, 500, leading);
    b.start();
    await run(clock, 5_000, leading);
    expect(a.isLeader()).toBe(true);
    mem.down.add('a'); // partitioned from the API server, but alive
    const cutAt = clock.now();
    const lastRenew = Date.parse(mem.lease!.record.renewTime!);
    await run(clock, 30_000, leading); // invariant checked every 100 ms
    const stopA = log.find((l) => l.endsWith('a stop'))!;
    const startB = log.find((l) => l.endsWith('b start'))!;
    const stopAt = Number(stopA.split(' ')[0]);
    const startAt = Number(startB.split(' ')[0]);
    expect(stopAt - lastRenew).toBeLessThanOrEqual(10_000);
    expect(stopAt).toBeGreaterThan(cutAt);
    expect(startAt).toBeGreaterThan(stopAt);
    expect(startAt - lastRenew).toBeGreaterThanOrEqual(15_000);
    expect(b.isLeader()).toBe(true);
    // Back on the network, a does not take the lease back while b renews.
    mem.down.delete('a');
    await run(clock, 30_000, leading);
    expect(b.isLeader()).toBe(true);
    expect(a.isLeader()).toBe(false);
  });

  it('releasing on shutdown lets the other candidate lead at its next try', async () => {
    const clock = new FakeClock();
    const mem = new MemoryLease();
    const leading = new Set<string>();
    const log: string[] = [];
    const a = elector(mem, clock, 'a', leading, log);
    const b = elector(mem, clock, 'b', leading, log);
    a.start();
    await run(clock, 500, leading);
    b.start();
    await run(clock, 5_000, leading);
    await a.release();
    expect(mem.lease!.record.holderIdentity).toBe('');
    expect(leading.size).toBe(0);
    const releasedAt = clock.now();
    while (!b.isLeader()) await clock.advance(100);
    expect(clock.now() - releasedAt).toBeLessThanOrEqual(2_400 + 100);
  });

  it('a leader whose renew deadline has passed by the clock stops at holdsLease(), before its deadline timer runs', async () => {
    // After a pause (SIGSTOP), pending I/O may run before the deadline timer: the clock has moved
    // on, the timer has not fired yet. holdsLease() must answer by the clock, and stop the term.
    const fake = new FakeClock();
    let skew = 0;
    const clock = { now: () => fake.now() + skew, setTimeout: fake.setTimeout.bind(fake), clearTimeout: fake.clearTimeout.bind(fake) };
    const mem = new MemoryLease();
    const log: string[] = [];
    const a = new LeaderElector({
      store: mem.storeFor('a'), identity: 'a', clock, random: () => 0.5,
      onStartedLeading: () => log.push('start'), onStoppedLeading: () => log.push('stop'),
    });
    a.start();
    await fake.advance(1000);
    expect(a.holdsLease()).toBe(true);
    skew = a.renewDeadlineMs + 1; // time jumps; no timer has run
    expect(a.isLeader()).toBe(true);
    expect(a.holdsLease()).toBe(false);
    expect(log).toEqual(['start', 'stop']);
    expect(a.isLeader()).toBe(false);
  });

  it('refuses timings that could let two leaders overlap', () => {
    const mem = new MemoryLease();
    const base = { store: mem.storeFor('x'), identity: 'x', onStartedLeading() {}, onStoppedLeading() {} };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(/lease duration/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(/renew deadline/);
  });
});
