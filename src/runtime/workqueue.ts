import { realClock, type Clock, type TimerHandle } from './clock.js';
import { MinHeap } from './heap.js';
import { noQueueMetrics, type QueueMetrics } from './metrics.js';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';

// A keyed work queue with client-go's semantics (workqueue.TypedRateLimitingInterface):
// - an item waiting in the queue is there once, however often it is added (dirty set);
// - an item is never handed to two workers at once: added while being processed, it is queued
//   again only when its worker calls done() (processing set);
// - addAfter() holds an item back until a time, keeping the earliest time when added twice;
// - addRateLimited() waits as long as the rate limiter says (per-item backoff and an overall
//   token bucket), forget() resets the item's backoff;
// - after shutDown() adds are ignored, waiting (delayed) items are dropped, workers still get
//   what is queued, and get() answers `shutdown` once the queue is empty.

export type Got<T> = { item: T; shutdown: false } | { item?: undefined; shutdown: true };

export interface WorkQueueOptions<T> {
  clock?: Clock;
  rateLimiter?: RateLimiter<T>;
  metrics?: QueueMetrics;
}

export class WorkQueue<T> {
  private readonly clock: Clock;
  private readonly limiter: RateLimiter<T>;
  private readonly metrics: QueueMetrics;

  // FIFO of items ready for a worker: `fifo[head..]`.
  private fifo: T[] = [];
  private head = 0;
  private readonly dirty = new Set<T>();
  private readonly processing = new Set<T>();
  private readonly addedAt = new Map<T, number>();
  private readonly startedAt = new Map<T, number>();
  private readonly getters: Array<(g: Got<T>) => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private down = false;

  // Delayed items: the canonical ready time per item, and a heap that may hold stale entries.
  private readonly readyAt = new Map<T, number>();
  private readonly heap = new MinHeap<{ item: T; at: number }>((x, y) => x.at < y.at);
  private timer: TimerHandle | undefined;
  private timerDue = Infinity;

  constructor(opts: WorkQueueOptions<T> = {}) {
    this.clock = opts.clock ?? realClock;
    this.limiter = opts.rateLimiter ?? defaultControllerRateLimiter<T>(this.clock);
    this.metrics = opts.metrics ?? noQueueMetrics;
  }

  /** Items waiting for a worker (not counting those being processed or delayed). */
  len(): number { return this.fifo.length - this.head; }

  /** Items held back by addAfter/addRateLimited. */
  delayedLen(): number { return this.readyAt.size; }

  isProcessing(item: T): boolean { return this.processing.has(item); }

  get shuttingDown(): boolean { return this.down; }

  add(item: T): void {
    if (this.down) return;
    if (this.dirty.has(item)) return;
    this.metrics.added();
    if (!this.addedAt.has(item)) this.addedAt.set(item, this.clock.now());
    this.dirty.add(item);
    this.metrics.depth(this.dirty.size);
    if (this.processing.has(item)) return; // done() queues it again
    this.push(item);
  }

  /** The next item, waiting for one if the queue is empty; `shutdown` once shut down and empty. */
  get(): Promise<Got<T>> {
    if (this.len() > 0) return Promise.resolve(this.take());
    if (this.down) return Promise.resolve({ shutdown: true });
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks the end of a worker's processing of `item`; queues it again if it was added meanwhile. */
  done(item: T): void {
    if (!this.processing.delete(item)) return;
    const started = this.startedAt.get(item);
    this.startedAt.delete(item);
    if (started !== undefined) this.metrics.finished(this.clock.now() - started);
    if (this.dirty.has(item)) this.push(item);
    this.checkIdle();
  }

  /** Adds `item` after `ms` milliseconds; an item already waiting keeps the earlier time. */
  addAfter(item: T, ms: number): void {
    if (this.down) return;
    this.metrics.retried();
    if (!(ms > 0)) { this.add(item); return; }
    const at = this.clock.now() + ms;
    const current = this.readyAt.get(item);
    if (current !== undefined && current <= at) return;
    this.readyAt.set(item, at);
    this.heap.push({ item, at });
    this.arm();
  }

  /** Adds `item` when the rate limiter allows: per-item exponential backoff and the overall bucket. */
  addRateLimited(item: T): void {
    this.addAfter(item, this.limiter.when(item));
  }

  /** Clears `item`'s failure history, so its next backoff starts from the base again. */
  forget(item: T): void { this.limiter.forget(item); }

  numRequeues(item: T): number { return this.limiter.numRequeues(item); }

  /** Stops accepting items; workers still drain what is queued. Delayed items are dropped. */
  shutDown(): void {
    if (this.down) return;
    this.down = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    this.readyAt.clear();
    this.heap.clear();
    for (const g of this.getters.splice(0)) g({ shutdown: true });
    this.checkIdle();
  }

  /** Shuts down, then resolves once every queued item has been processed and marked done. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private push(item: T): void {
    const g = this.getters.shift();
    if (g) {
      this.fifo.push(item);
      g(this.take());
      return;
    }
    this.fifo.push(item);
  }

  private take(): Got<T> {
    const item = this.fifo[this.head];
    this.fifo[this.head] = undefined as T;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.fifo.length) { this.fifo = this.fifo.slice(this.head); this.head = 0; }
    this.processing.add(item);
    this.dirty.delete(item);
    this.metrics.depth(this.dirty.size);
    const now = this.clock.now();
    const added = this.addedAt.get(item);
    this.addedAt.delete(item);
    if (added !== undefined) this.metrics.started(now - added);
    this.startedAt.set(item, now);
    return { item, shutdown: false };
  }

  private idle(): boolean { return this.processing.size === 0 && this.len() === 0; }

  private checkIdle(): void {
    if (this.down && this.idle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  // One timer, set for the earliest waiting item.
  private arm(): void {
    const top = this.peekLive();
    if (!top) return;
    if (top.at >= this.timerDue && this.timer) return;
    this.clock.clearTimeout(this.timer);
    this.timerDue = top.at;
    this.timer = this.clock.setTimeout(() => this.fire(), top.at - this.clock.now());
  }

  private fire(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    const now = this.clock.now();
    for (let top = this.peekLive(); top && top.at <= now; top = this.peekLive()) {
      this.heap.pop();
      this.readyAt.delete(top.item);
      this.add(top.item);
    }
    this.arm();
  }

  // The earliest heap entry that is still the item's current ready time (stale ones are dropped).
  private peekLive(): { item: T; at: number } | undefined {
    for (let top = this.heap.peek(); top; top = this.heap.peek()) {
      if (this.readyAt.get(top.item) === top.at) return top;
      this.heap.pop();
    }
    return undefined;
  }
}
