/**
 * Once per flush on a local: send what generate() put in `forward` to the
 * global as one SendMetricsV2 stream (reference §3.1 client side, §2.4).
 *
 * Difference from Go, on purpose: Go never retries, so one transient failure
 * (a global restarting, a connection reset) loses the interval's global data. We
 * retry on a fresh stream, with backoff, while time remains before the flush
 * deadline (the same deadline Go uses: tick + interval). A retry can only
 * duplicate data if the global imported a stream and its reply was lost; that
 * is rarer than the loss it avoids, and a server status error (the global said
 * no) is not retried.
 *
 * Never throws. Telemetry: `forward.error_total{cause}` once per flush whose data
 * could not be delivered (deadline_exceeded | unavailable | send | status_<code> |
 * encode), `forward.retries_total{cause}` per retry, `forward.metrics_total`
 * (messages delivered), `forward.duration_ns{part:total}` (all attempts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AnySeries } from '../aggregate/series.js';
import type { Telemetry } from '../telemetry/types.js';
import { classifyError, type ForwardClient, ForwardError, GrpcStatus } from './client.js';
import { encodeSeries } from './convert.js';
import { DRAINING_MESSAGE } from './service.js';

export interface ForwarderOptions {
  readonly client: ForwardClient;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  /** Attempts per flush, first included (default 3). */
  readonly maxAttempts?: number;
  /** First backoff in ms, doubled per retry (default 100). */
  readonly backoffMs?: number;
}

/** What one forward() did (also returned for tests and logs). */
export interface ForwardResult {
  /** Messages sent (0 when there was nothing to forward). */
  readonly metrics: number;
  readonly attempts: number;
  /** null on success. */
  readonly error: ForwardError | null;
}

export class Forwarder {
  readonly #client: ForwardClient;
  readonly #logger: Logger;
  readonly #telemetry: Telemetry;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;

  constructor(opts: ForwarderOptions) {
    this.#client = opts.client;
    this.#logger = opts.logger;
    this.#telemetry = opts.telemetry;
    this.#maxAttempts = Math.max(1, opts.maxAttempts ?? 3);
    this.#backoffMs = Math.max(0, opts.backoffMs ?? 100);
  }

  /**
   * Converts and encodes the series synchronously (before the first await: the
   * caller may recycle the series as soon as this returns its promise), then
   * sends them, retrying until `deadlineMs` (Date.now() scale). Never rejects.
   * For large snapshots prefer `encodeSeriesSliced` (convert.ts) then
   * `forwardEncoded`: synchronous encoding blocks ingest ~2 us per series.
   */
  forward(series: readonly AnySeries[], deadlineMs: number): Promise<ForwardResult> {
    let messages: Uint8Array[];
    try {
      messages = encodeSeries(series);
    } catch (err) {
      this.#telemetry.count('forward.error_total', 1, ['cause:encode']);
      this.#logger.error({ err }, 'forward: encoding failed');
      return Promise.resolve({ metrics: 0, attempts: 0, error: classifyError(err) });
    }
    return this.forwardEncoded(messages, deadlineMs);
  }

  /** Sends already-encoded `metricpb.Metric` messages; same retry and accounting as forward(). */
  async forwardEncoded(messages: readonly Uint8Array[], deadlineMs: number): Promise<ForwardResult> {
    if (messages.length === 0) return { metrics: 0, attempts: 0, error: null };
    const start = process.hrtime.bigint();
    let attempts = 0;
    let last: ForwardError | null = null;
    let backoff = this.#backoffMs;
    while (attempts < this.#maxAttempts) {
      const remaining = deadlineMs - Date.now();
      if (remaining <= 0) {
        last ??= new ForwardError(
          'deadline_exceeded',
          GrpcStatus.DEADLINE_EXCEEDED,
          'no time left before the deadline',
        );
        break;
      }
      attempts++;
      const signal = AbortSignal.timeout(remaining);
      try {
        await this.#client.sendMetricsV2(messages, signal);
        last = null;
        break;
      } catch (err) {
        last = classifyError(err);
        if (last.grpcMessage.startsWith(DRAINING_MESSAGE)) {
          // our global is stopping gracefully and keeps (and flushes) what it received:
          // resending would count it twice
          last = null;
          break;
        }
        // A status is the global's answer (a retry would get the same); a deadline leaves no time.
        if (last.cause.startsWith('status_') || last.cause === 'deadline_exceeded') break;
        if (attempts >= this.#maxAttempts) break;
        // Retry only if the backoff leaves time for another attempt before the deadline.
        if (deadlineMs - Date.now() <= 2 * backoff) break;
        this.#telemetry.count('forward.retries_total', 1, [`cause:${last.cause}`]);
        this.#logger.debug({ err: last, attempt: attempts, waitMs: backoff }, 'forward: retrying');
        await sleep(backoff);
        backoff *= 2;
      }
    }
    const ns = Number(process.hrtime.bigint() - start);
    this.#telemetry.timing('forward.duration_ns', ns, ['part:total']);
    if (last === null) {
      this.#telemetry.count('forward.metrics_total', messages.length);
      if (attempts > 1)
        this.#logger.info({ attempts, metrics: messages.length }, 'forward: succeeded after retry');
    } else {
      // One count per lost forward (as Go, which makes one attempt); retries are forward.retries_total.
      this.#telemetry.count('forward.error_total', 1, [`cause:${last.cause}`]);
      this.#logger.warn(
        { err: last, attempts, metrics: messages.length, cause: last.cause },
        "forward: failed; this interval's global data is lost",
      );
    }
    return { metrics: messages.length, attempts, error: last };
  }
}
