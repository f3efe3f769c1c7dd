/**
 * Bounded retries with exponential backoff and jitter, for sink I/O.
 *
 * Go Veneur does not retry sink requests at all (one POST per body, reference §5.1);
 * we retry transient failures a few times, but only inside the flush's AbortSignal,
 * so a retry can never push a flush past its deadline.
 */

export interface RetryOptions {
  /** Total attempts including the first (>= 1). */
  readonly attempts: number;
  /** Delay before the 2nd attempt; doubles each time. */
  readonly baseDelayMs: number;
  /** Upper bound of any single delay. */
  readonly maxDelayMs: number;
  /** Aborting stops the retries at once (also during a back-off sleep). */
  readonly signal?: AbortSignal;
  /** Whether an error is worth another attempt. Default: every error is. */
  readonly isRetryable?: (err: unknown) => boolean;
  /** Called before each back-off sleep (for logs and tests). */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Source of randomness in [0, 1) for the jitter (tests make it deterministic). */
  readonly random?: () => number;
}

/**
 * Back-off before attempt `attempt + 1`: "equal jitter", i.e. half the exponential
 * step fixed and half random, so synchronised sinks across a fleet spread out but a
 * retry never comes sooner than half the step.
 */
export function backoffDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number,
): number {
  const step = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempt - 1));
  if (!(step > 0)) return 0;
  return step / 2 + random() * (step / 2);
}

/** Resolves after `ms`, or early (resolving `false`) when the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Run `fn(attempt)` (attempt counts from 1) until it resolves, the error is not
 * retryable, the attempts are used up, or the signal aborts. Rejects with the last
 * error `fn` threw; if the signal was already aborted before the first attempt, with
 * the signal's reason.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = Math.max(1, Math.floor(opts.attempts));
  const random = opts.random ?? Math.random;
  const signal = opts.signal;
  if (signal?.aborted) throw signal.reason;
  let lastError: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      lastError = err;
    }
    if (attempt >= attempts || signal?.aborted) throw lastError;
    if (opts.isRetryable && !opts.isRetryable(lastError)) throw lastError;
    const delay = backoffDelay(attempt, opts.baseDelayMs, opts.maxDelayMs, random);
    opts.onRetry?.(lastError, attempt, delay);
    const slept = await sleep(delay, signal);
    if (!slept) throw lastError;
  }
}
