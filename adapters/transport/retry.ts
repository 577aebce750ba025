// Retry policy: capped exponential backoff with full jitter, on 5xx and connection failures only.
// Operator-side clients use DEFAULT_RETRY; node clients (what an agent uses) use NO_RETRY, since
// the agent's machine does its own backoff and retrying (one call per machine attempt).
export interface RetryPolicy {
  /** total attempts including the first (1 = never retry) */
  maxAttempts: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseMs: 100, capMs: 3_000 };

/** One attempt per call: the caller (the agent's machine) retries. */
export const NO_RETRY: RetryPolicy = { maxAttempts: 1, baseMs: 0, capMs: 0 };

/** Delay before attempt `attempt + 1` after `attempt` failed: full jitter in [0, min(cap, base·2^(attempt-1))]. */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 && status <= 599;
}
