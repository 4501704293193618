// Retry with exponential backoff and full jitter, for transient S3 failures.
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  // Consecutive failed attempts without progress before giving up.
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 200, maxDelayMs: 5_000 };

// Delay before retry number `attempt` (0-based): uniform in [d/2, d] with d = min(max, base·2^attempt),
// so parallel parts that fail together do not retry in lockstep.
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const d = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(d / 2 + (random() * d) / 2);
}

export async function sleepBackoff(attempt: number, policy: RetryPolicy, signal?: AbortSignal): Promise<void> {
  await sleep(backoffDelay(attempt, policy), undefined, { signal });
}

// Runs `fn` until it succeeds, a non-transient error occurs, or the attempts run out.
export async function withRetry<T>(
  fn: () => Promise<T>,
  opts: { policy: RetryPolicy; isTransient: (err: unknown) => boolean; onError?: (err: unknown, attempt: number) => void; signal?: AbortSignal },
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      opts.onError?.(err, attempt);
      if (opts.signal?.aborted || !opts.isTransient(err) || attempt + 1 >= opts.policy.maxAttempts) throw err;
      await sleepBackoff(attempt, opts.policy, opts.signal);
    }
  }
}
