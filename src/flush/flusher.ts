/**
 * The interval clock and the flush sequence (reference §2.8): every interval,
 * swap the aggregator (O(1)), then expand the snapshot into InterMetrics in
 * slices that yield, streaming each slice's records to every sink as a frozen
 * chunk (model/batch.ts), each sink bounded by the flush deadline (tick +
 * interval). A slow or failing sink never delays another: the targets are
 * wrapped and never reject, and the generator never waits for them.
 */
import {
  type EventLoopUtilization,
  type IntervalHistogram,
  monitorEventLoopDelay,
  performance,
} from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Aggregator } from '../aggregate/aggregator.js';
import type { AnySeries } from '../aggregate/series.js';
import { type MetricBatch, MetricFanout } from '../model/batch.js';
import type { Component } from '../model/component.js';
import { type DogStatsdEvent, METRIC_TYPE_NAMES } from '../model/metric.js';
import type { Telemetry } from '../telemetry/types.js';
import { generateChunks } from './generate.js';
import type { FlushPolicy } from './policy.js';

/** A wrapped sink as the flusher sees it: never rejects. */
export interface FlushTarget {
  readonly name: string;
  flush(metrics: MetricBatch, events: readonly DogStatsdEvent[], deadlineMs: number): Promise<unknown>;
}

/** One flush's forwarding to the global tier (see FlusherOptions.forward). */
export interface ForwardJob {
  readonly encoded: Promise<unknown>;
  readonly sent: Promise<unknown>;
}

export interface FlusherOptions {
  readonly aggregator: Aggregator;
  readonly targets: readonly FlushTarget[];
  readonly policy: FlushPolicy;
  readonly intervalMs: number;
  /** Align ticks to wall-clock multiples of the interval (synchronize_with_interval). */
  readonly synchronize: boolean;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  /**
   * Local instances: send the mergeable series to the global tier. `encoded` settles
   * once the series are no longer read (they are then reused for the next
   * interval); `sent` when the global has them or the attempt is over. Neither may reject.
   */
  readonly forward?: (series: readonly AnySeries[], deadlineMs: number) => ForwardJob;
  /** Runs at each tick before the swap: multi-core ingest merges its workers' state here. */
  readonly collect?: () => Promise<void>;
  /** Injected clock (ms), for tests. */
  readonly now?: () => number;
}

/**
 * Event-loop delay sampling. monitorEventLoopDelay records the gap between two firings
 * of a timer of `resolution` ms, so a block of B ms reads as B plus up to one resolution
 * (a 40 ms block reads 40-51 ms at 10 ms). 1 ms is exact to ~1 ms but wakes an idle
 * process 1,000 times a second (~2% of a core here); 10 ms costs ~0.4%. So the fine
 * timer runs only for an interval that follows a busy one, when blocks cost packets
 * and the loop seldom sleeps anyway.
 */
export const LOOP_DELAY_FINE_MS = 1;
export const LOOP_DELAY_COARSE_MS = 10;
/** Event-loop utilization above which the next interval samples at the fine resolution. */
export const LOOP_BUSY = 0.2;

/** Delay from `now` to the next wall-clock multiple of the interval. */
export function alignedDelay(now: number, intervalMs: number): number {
  return intervalMs - (now % intervalMs);
}

export class Flusher implements Component {
  readonly kind = 'flusher';
  readonly name = 'flusher';
  readonly #o: FlusherOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  #nextTick = 0;
  #running = new Set<Promise<void>>();
  #stopped = false;
  #flushes = 0;
  /** Event-loop delay since the previous flush (reported as veneur.event_loop.delay_*_ms). */
  #loopDelay: IntervalHistogram | null = null;
  #loopResolution = LOOP_DELAY_COARSE_MS;
  /** Event-loop utilization at the previous flush (the next one reports the difference). */
  #elu: EventLoopUtilization | null = null;

  constructor(opts: FlusherOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** The event-loop delay sampling resolution of the current interval (ms). */
  get loopDelayResolutionMs(): number {
    return this.#loopResolution;
  }

  /** Number of flushes started so far. */
  get flushCount(): number {
    return this.#flushes;
  }

  async start(): Promise<void> {
    const { intervalMs, synchronize } = this.#o;
    this.#sampleLoop(LOOP_DELAY_COARSE_MS);
    this.#elu = performance.eventLoopUtilization();
    const now = this.#now();
    this.#nextTick = now + (synchronize ? alignedDelay(now, intervalMs) : intervalMs);
    this.#schedule();
  }

  /** Start a fresh event-loop delay histogram at `resolution` ms. */
  #sampleLoop(resolution: number): void {
    this.#loopDelay?.disable();
    this.#loopResolution = resolution;
    this.#loopDelay = monitorEventLoopDelay({ resolution });
    this.#loopDelay.enable();
  }

  /** Report the event loop since the previous flush, and pick the next interval's resolution. */
  #reportLoop(telemetry: Telemetry): void {
    if (this.#elu === null || this.#stopped) return;
    const elu = performance.eventLoopUtilization(this.#elu);
    this.#elu = performance.eventLoopUtilization();
    telemetry.gauge('event_loop.utilization', elu.utilization);
    const delay = this.#loopDelay;
    if (delay !== null && delay.count > 0) {
      // the longest the event loop was blocked (ingest could not read) since the last
      // flush: an upper bound, over by at most the resolution
      telemetry.gauge('event_loop.delay_max_ms', delay.max / 1e6);
      telemetry.gauge('event_loop.delay_p99_ms', delay.percentile(99) / 1e6);
    }
    const next = elu.utilization > LOOP_BUSY ? LOOP_DELAY_FINE_MS : LOOP_DELAY_COARSE_MS;
    if (next !== this.#loopResolution) this.#sampleLoop(next);
    else delay?.reset();
  }

  #schedule(): void {
    if (this.#stopped) return;
    // drift-free: each tick is scheduled from the previous *planned* tick
    const delay = Math.max(0, this.#nextTick - this.#now());
    this.#timer = setTimeout(() => {
      const tick = this.#nextTick;
      this.#nextTick += this.#o.intervalMs;
      // skip ticks we slept through (e.g. a suspended process) instead of bursting
      const now = this.#now();
      while (this.#nextTick <= now) this.#nextTick += this.#o.intervalMs;
      void this.flush(tick);
      this.#schedule();
    }, delay);
    // deliberately not unref'd: the flush clock keeps the process alive even with no
    // listener (Go exits at once in that case, reference §14.18)
  }

  /**
   * One flush of everything aggregated so far. `tick` is the planned tick time;
   * the deadline for sinks is tick + interval.
   */
  flush(tick: number = this.#now()): Promise<void> {
    const p = this.#flush(tick).finally(() => this.#running.delete(p));
    this.#running.add(p);
    return p;
  }

  async #flush(tick: number): Promise<void> {
    const { aggregator, targets, policy, intervalMs, logger, telemetry } = this.#o;
    this.#flushes++;
    const started = this.#now();
    if (this.#o.collect) await this.#o.collect();
    const snapshot = aggregator.swap();
    const timestamp = Math.floor(started / 1000);
    const deadline = Math.max(tick + intervalMs, started + 1000);
    const events = Object.freeze([...snapshot.events]);
    // every sink starts now and consumes the records as they are generated
    const fanout = new MetricFanout();
    const sinking = targets.map((t) => t.flush(fanout.reader(), events, deadline));
    let generated: Awaited<ReturnType<typeof generateChunks>>;
    try {
      // series go back to the aggregator as soon as their records exist (the sinks read
      // copies): the interval running meanwhile reuses them instead of allocating
      generated = await generateChunks(
        snapshot.series.values(),
        policy,
        timestamp,
        (chunk) => fanout.push(chunk),
        (s) => aggregator.release(s),
      );
    } finally {
      fanout.end();
    }
    // mergeable state for the global tier, sent in parallel with the sinks
    let forwarding: ForwardJob | null = null;
    if (generated.forward.length > 0) {
      if (this.#o.forward) forwarding = this.#o.forward(generated.forward, deadline);
      else telemetry.count('forward.error_total', generated.forward.length, ['cause:not_configured']);
    }
    // The forwarded series are reused once their state is encoded, not after the slowest
    // sink. (Waiting for the sinks meant a whole interval of new series allocated during
    // every long flush; the others went back during generation.)
    if (forwarding !== null) {
      const kept = generated.forward;
      void forwarding.encoded.then(() => aggregator.recycleSeries(kept));
    } else if (generated.forward.length > 0) aggregator.recycleSeries(generated.forward);
    const seriesCount = snapshot.series.size;
    aggregator.releaseList(snapshot);
    if (generated.nonFinite > 0) telemetry.count('flush.non_finite_dropped_total', generated.nonFinite);
    generated.seriesByType.forEach((n, type) => {
      if (n > 0)
        telemetry.count('worker.metrics_flushed_total', n, [`metric_type:${METRIC_TYPE_NAMES[type]}`]);
    });
    const mem = process.memoryUsage();
    telemetry.gauge('mem.rss_bytes', mem.rss);
    telemetry.gauge('mem.heap_used_bytes', mem.heapUsed);
    telemetry.gauge('flush.series', seriesCount);
    this.#reportLoop(telemetry);
    await Promise.all([forwarding?.sent, ...sinking]);
    const took = this.#now() - started;
    telemetry.timing('flush.total_duration_ms', took);
    logger.debug(
      { series: seriesCount, metrics: fanout.produced, events: events.length, ms: took },
      'flushed',
    );
  }

  async stop(_deadline: number): Promise<void> {
    this.#stopped = true;
    this.#loopDelay?.disable();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Wait for flushes in progress. */
  async drain(): Promise<void> {
    await Promise.all([...this.#running]);
  }
}
