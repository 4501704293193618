// Exponential backoff with jitter, for reconnect loops (informers, leader election retries).
export class Backoff {
  private attempt = 0;

  constructor(readonly initialMs = 800, readonly maxMs = 30_000, readonly factor = 2, readonly jitter = 0.2, private readonly random: () => number = Math.random) {}

  /** The next delay: initial · factor^n, capped, then spread by ±jitter. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * Math.pow(this.factor, this.attempt));
    this.attempt++;
    const spread = base * this.jitter * (2 * this.random() - 1);
    return Math.max(0, Math.round(base + spread));
  }

  reset(): void { this.attempt = 0; }

  get attempts(): number { return this.attempt; }
}
