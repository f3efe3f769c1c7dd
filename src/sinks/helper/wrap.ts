/**
 * The wrapper composed around every metric sink (DESIGN.md "Contracts"): it owns the
 * timeout, routing skip, error containment, the "one flush at a time" rule and the
 * per-sink telemetry, so sinks themselves stay small and only do their I/O.
 *
 * Guarantees:
 * - `flush` never throws and never rejects; a failure becomes a FlushOutcome + a warning.
 * - A flush is aborted (AbortSignal) at min(deadline, now + timeoutMs), and the outcome
 *   is returned at that moment even if the sink ignores the signal.
 * - At most one flush per sink is in flight. A flush requested while the previous one
 *   is still running (e.g. a sink hanging past its signal) drops the new batch and
 *   counts it (`sink.metrics_dropped_total{cause:busy}`), so a slow sink cannot pile
 *   up batches in memory. Other sinks are unaffected: callers run all wrapped sinks in
 *   parallel (see flushAllSinks).
 *
 * Telemetry (names without the `veneur.` prefix, reference §8.2):
 *   sink.metric_flush_total_duration_ms{sink_name,sink_kind}        timing
 *   sink.metrics_flushed_total{sink}                               count
 *   sink.metrics_skipped_total{sink}                               count (routing, sink-reported)
 *   sink.metrics_dropped_total{sink,cause: busy|timeout|error|sink} count
 *   sink.flush_error_total{sink,sink_kind,cause: timeout|error|events}
 */
import type { Logger } from 'pino';
import {
  batchSize,
  chunksOf,
  isMetricStream,
  type MetricBatch,
  type MetricStream,
} from '../../model/batch.js';
import type { Component } from '../../model/component.js';
import type { DogStatsdEvent, InterMetric } from '../../model/metric.js';
import type { Telemetry } from '../../telemetry/types.js';
import { type FlushResult, type MetricSink, SinkFlushError } from '../types.js';

export interface WrapOptions {
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** Per-sink time budget for one flush; <= 0 or Infinity means only the deadline applies. */
  readonly timeoutMs: number;
}

/** ok: the sink returned; error: it threw; timeout: the signal fired first; busy: previous flush still running. */
export type FlushStatus = 'ok' | 'error' | 'timeout' | 'busy';

export interface FlushOutcome {
  readonly sink: string;
  readonly kind: string;
  readonly status: FlushStatus;
  readonly flushed: number;
  readonly skipped: number;
  readonly dropped: number;
  readonly durationMs: number;
  /** The error behind `error`/`timeout` (and an events failure on an otherwise `ok` flush). */
  readonly error?: unknown;
}

export interface WrappedMetricSink extends Component {
  readonly sink: MetricSink;
  /** True while a flush (possibly one that outlived its deadline) is still running. */
  readonly busy: boolean;
  /**
   * Hand events (if any, and if the sink takes them) then metrics to the sink.
   * `deadlineMs` is absolute (Date.now() scale). Never rejects.
   */
  flush(metrics: MetricBatch, events: readonly DogStatsdEvent[], deadlineMs: number): Promise<FlushOutcome>;
}

type RunResult = { ok: true; result: FlushResult; eventsError?: unknown } | { ok: false; error: unknown };

const TIMED_OUT: unique symbol = Symbol('timed out');

function isRoutedTo(m: InterMetric, name: string): boolean {
  return m.sinks === null || m.sinks.has(name);
}

/** The records of `batch` routed to sink `name` (reference §2.5: `sinks` null = every sink). */
class Routed implements MetricStream {
  routedAway = 0;
  readonly #source: MetricBatch;
  readonly #name: string;
  constructor(source: MetricBatch, name: string) {
    this.#source = source;
    this.#name = name;
  }
  get produced(): number {
    return isMetricStream(this.#source) ? this.#source.produced : this.#source.length;
  }
  get total(): Promise<number> {
    return batchSize(this.#source);
  }
  close(): void {
    if (isMetricStream(this.#source)) this.#source.close();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<readonly InterMetric[]> {
    const name = this.#name;
    for await (const chunk of chunksOf(this.#source)) {
      let out = chunk;
      // copy only when something in this chunk is routed elsewhere
      for (const m of chunk) {
        if (!isRoutedTo(m, name)) {
          out = chunk.filter((x) => isRoutedTo(x, name));
          this.routedAway += chunk.length - out.length;
          break;
        }
      }
      if (out.length > 0) yield out;
    }
  }
}

class Wrapped implements WrappedMetricSink {
  readonly sink: MetricSink;
  readonly kind: string;
  readonly name: string;
  readonly #telemetry: Telemetry;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #sinkTag: string[];
  readonly #timingTags: string[];
  #running: Promise<unknown> | null = null;

  constructor(sink: MetricSink, opts: WrapOptions) {
    this.sink = sink;
    this.kind = sink.kind;
    this.name = sink.name;
    this.#telemetry = opts.telemetry;
    this.#logger = opts.logger;
    this.#timeoutMs = opts.timeoutMs;
    this.#sinkTag = [`sink:${sink.name}`];
    this.#timingTags = [`sink_name:${sink.name}`, `sink_kind:${sink.kind}`];
  }

  get busy(): boolean {
    return this.#running !== null;
  }

  start(): Promise<void> {
    return this.sink.start();
  }

  stop(deadline: number): Promise<void> {
    return this.sink.stop(deadline);
  }

  async flush(
    metrics: MetricBatch,
    events: readonly DogStatsdEvent[],
    deadlineMs: number,
  ): Promise<FlushOutcome> {
    const started = performance.now();
    const startedEpoch = Date.now();
    if (this.#running !== null) return this.#busy(metrics, events);

    const batch = new Routed(metrics, this.name);

    const controller = new AbortController();
    const budget =
      this.#timeoutMs > 0 && Number.isFinite(this.#timeoutMs) ? this.#timeoutMs : Number.POSITIVE_INFINITY;
    const abortAt = Math.min(deadlineMs, startedEpoch + budget);
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      controller.signal.addEventListener('abort', () => resolve(TIMED_OUT), { once: true });
    });
    let timer: NodeJS.Timeout | undefined;
    const abort = (): void =>
      controller.abort(
        new DOMException(`sink ${this.name} (${this.kind}): flush deadline exceeded`, 'TimeoutError'),
      );
    if (Number.isFinite(abortAt)) timer = setTimeout(abort, Math.max(0, abortAt - Date.now()));

    const work = this.#run(batch, events, controller.signal);
    const running = work.finally(() => {
      clearTimeout(timer);
      // whatever the sink did not read is dropped, not queued for nobody
      batch.close();
      this.#running = null;
    });
    this.#running = running;

    const first = await Promise.race([work, timedOut]);
    clearTimeout(timer);
    const durationMs = performance.now() - started;
    this.#telemetry.timing('sink.metric_flush_total_duration_ms', durationMs, this.#timingTags);

    if (first === TIMED_OUT) {
      const error = controller.signal.reason;
      batch.close();
      const total = (await batch.total) - batch.routedAway;
      this.#countError('timeout');
      this.#logger.warn(
        { sink: this.name, sink_kind: this.kind, metrics: total, budgetMs: abortAt - startedEpoch },
        'metric sink flush timed out',
      );
      void running.then((late) => {
        this.#logger.debug(
          { sink: this.name, sink_kind: this.kind, late },
          'timed-out sink flush finally settled',
        );
      });
      return this.#finish('timeout', 0, batch.routedAway, total, 'timeout', durationMs, error);
    }

    const routedAway = batch.routedAway;
    if (first.ok) {
      const r = first.result;
      return this.#finish(
        'ok',
        r.flushed,
        routedAway + r.skipped,
        r.dropped,
        'sink',
        durationMs,
        first.eventsError,
      );
    }

    const error = first.error;
    this.#countError('error');
    this.#logger.warn({ sink: this.name, sink_kind: this.kind, err: error }, 'metric sink flush failed');
    if (error instanceof SinkFlushError) {
      const r = error.result;
      return this.#finish('error', r.flushed, routedAway + r.skipped, r.dropped, 'error', durationMs, error);
    }
    const total = (await batch.total) - batch.routedAway;
    return this.#finish('error', 0, batch.routedAway, total, 'error', durationMs, error);
  }

  /** Runs events then metrics; resolves (never rejects) with what happened. */
  async #run(
    batch: MetricStream,
    events: readonly DogStatsdEvent[],
    signal: AbortSignal,
  ): Promise<RunResult> {
    let eventsError: unknown;
    if (events.length > 0 && this.sink.flushEvents) {
      try {
        await this.sink.flushEvents(events, signal);
      } catch (err) {
        eventsError = err;
        if (!signal.aborted) {
          this.#countError('events');
          this.#logger.warn(
            { sink: this.name, sink_kind: this.kind, events: events.length, err },
            'metric sink event flush failed',
          );
        }
      }
    }
    try {
      if (signal.aborted) throw signal.reason;
      const result = await this.sink.flush(batch, signal);
      return eventsError === undefined ? { ok: true, result } : { ok: true, result, eventsError };
    } catch (error) {
      return { ok: false, error };
    }
  }

  async #busy(metrics: MetricBatch, events: readonly DogStatsdEvent[]): Promise<FlushOutcome> {
    if (isMetricStream(metrics)) metrics.close();
    const n = await batchSize(metrics);
    this.#telemetry.count('sink.metrics_dropped_total', n, [...this.#sinkTag, 'cause:busy']);
    this.#logger.warn(
      { sink: this.name, sink_kind: this.kind, metrics: n, events: events.length },
      'metric sink still busy with the previous flush; dropping this batch',
    );
    return {
      sink: this.name,
      kind: this.kind,
      status: 'busy',
      flushed: 0,
      skipped: 0,
      dropped: n,
      durationMs: 0,
    };
  }

  #countError(cause: string): void {
    this.#telemetry.count('sink.flush_error_total', 1, [
      ...this.#sinkTag,
      `sink_kind:${this.kind}`,
      `cause:${cause}`,
    ]);
  }

  #finish(
    status: FlushStatus,
    flushed: number,
    skipped: number,
    dropped: number,
    dropCause: string,
    durationMs: number,
    error: unknown,
  ): FlushOutcome {
    this.#telemetry.count('sink.metrics_flushed_total', flushed, this.#sinkTag);
    if (skipped > 0) this.#telemetry.count('sink.metrics_skipped_total', skipped, this.#sinkTag);
    if (dropped > 0)
      this.#telemetry.count('sink.metrics_dropped_total', dropped, [...this.#sinkTag, `cause:${dropCause}`]);
    const outcome = { sink: this.name, kind: this.kind, status, flushed, skipped, dropped, durationMs };
    return error === undefined ? outcome : { ...outcome, error };
  }
}

/** Wrap a sink with timeout, routing skip, busy-drop, error containment and telemetry. */
export function wrapMetricSink(sink: MetricSink, opts: WrapOptions): WrappedMetricSink {
  return new Wrapped(sink, opts);
}

/** Flush every wrapped sink in parallel; resolves when all have an outcome (never rejects). */
export function flushAllSinks(
  sinks: readonly WrappedMetricSink[],
  metrics: readonly InterMetric[],
  events: readonly DogStatsdEvent[],
  deadlineMs: number,
): Promise<FlushOutcome[]> {
  return Promise.all(sinks.map((s) => s.flush(metrics, events, deadlineMs)));
}
