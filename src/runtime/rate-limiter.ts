import type { Clock } from './clock.js';

// Rate limiters with client-go's semantics: each answers "how long should this item wait before
// it is processed again?" and forgets an item once it has been handled successfully.
export interface RateLimiter<T> {
  when(item: T): number;
  forget(item: T): void;
  numRequeues(item: T): number;
}

/** Per item: base · 2^failures, capped at max (client-go: 5 ms → 1000 s). */
export class ItemExponentialFailureRateLimiter<T> implements RateLimiter<T> {
  private readonly failures = new Map<T, number>();

  constructor(readonly baseMs = 5, readonly maxMs = 1_000_000) {}

  when(item: T): number {
    const exp = this.failures.get(item) ?? 0;
    this.failures.set(item, exp + 1);
    // 2^exp overflows to Infinity long before it matters; the cap keeps the answer finite.
    const backoff = this.baseMs * Math.pow(2, exp);
    return Math.min(backoff, this.maxMs);
  }

  forget(item: T): void { this.failures.delete(item); }

  numRequeues(item: T): number { return this.failures.get(item) ?? 0; }
}

/**
 * A token bucket shared by all items (client-go default: 10 per second, burst 100). Like
 * golang.org/x/time/rate's Reserve, a request always gets a slot and is told how long to wait for
 * it, so the bucket may go negative.
 */
export class BucketRateLimiter<T> implements RateLimiter<T> {
  private tokens: number;
  private last: number;

  constructor(private readonly clock: Clock, readonly qps = 10, readonly burst = 100) {
    if (!(qps > 0)) throw new Error(`BucketRateLimiter: qps must be > 0, got ${qps}`);
    if (!(burst >= 1)) throw new Error(`BucketRateLimiter: burst must be >= 1, got ${burst}`);
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_item: T): number {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.qps);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_item: T): void {}

  numRequeues(_item: T): number { return 0; }
}

/** The longest wait of several limiters; requeues are the most any of them counts. */
export class MaxOfRateLimiter<T> implements RateLimiter<T> {
  private readonly limiters: RateLimiter<T>[];

  constructor(...limiters: RateLimiter<T>[]) { this.limiters = limiters; }

  when(item: T): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.when(item));
    return max;
  }

  forget(item: T): void { for (const l of this.limiters) l.forget(item); }

  numRequeues(item: T): number {
    let max = 0;
    for (const l of this.limiters) max = Math.max(max, l.numRequeues(item));
    return max;
  }
}

/** client-go's DefaultControllerRateLimiter: per-item 5 ms → 1000 s, overall 10 qps, burst 100. */
export function defaultControllerRateLimiter<T>(clock: Clock): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(new ItemExponentialFailureRateLimiter<T>(5, 1_000_000), new BucketRateLimiter<T>(clock, 10, 100));
}
