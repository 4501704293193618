import type { Clock, TimerHandle } from './clock.js';

// A clock that moves only when told to. Timers fire in due order during advance(), with the
// clock set to each timer's due time, and promise callbacks settle between timers so code that
// awaits after a timer sees the time it expects.
export class FakeClock implements Clock {
  private t: number;
  private next = 1;
  private readonly timers = new Map<number, { due: number; seq: number; fn: () => void }>();

  constructor(start = Date.UTC(2025, 0, 1)) { this.t = start; }

  now(): number { return this.t; }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { due: this.t + Math.max(0, ms), seq: id, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.timers.delete(handle.id);
  }

  /** Number of timers not yet fired. */
  get pending(): number { return this.timers.size; }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const nextTimer = this.earliest();
      if (!nextTimer || nextTimer[1].due > end) break;
      this.timers.delete(nextTimer[0]);
      this.t = Math.max(this.t, nextTimer[1].due);
      nextTimer[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }

  private earliest(): [number, { due: number; seq: number; fn: () => void }] | undefined {
    let best: [number, { due: number; seq: number; fn: () => void }] | undefined;
    for (const e of this.timers) {
      if (!best || e[1].due < best[1].due || (e[1].due === best[1].due && e[1].seq < best[1].seq)) best = e;
    }
    return best;
  }
}

/** Lets pending promise callbacks run (several turns, since chains of awaits take one each). */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
