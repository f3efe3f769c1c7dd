/**
 * Per-interval aggregation state of one series (reference §2.3). One class per
 * type so each object carries only what its type needs (memory at 1M series);
 * the hot path switches on the entry's type, so every property access site
 * stays monomorphic.
 *
 * Series objects are recycled between intervals (Aggregator.recycle): `init`
 * gives a pooled object a new identity and empties its state, keeping sketch
 * buffers. In steady state ingest then allocates nothing, so nothing is promoted
 * to the old generation and scavenges stay short (BENCHMARKS.md, "GC and loss").
 */
import { type MetricType, MetricType as MT, type Scope } from '../model/metric.js';
import { HyperLogLog } from './sketches/hll.js';
import { MergingDigest } from './sketches/tdigest.js';

/** Identity shared by all series types. */
export interface SeriesIdentity {
  readonly type: MetricType;
  readonly scope: Scope;
  readonly name: string;
  /** Canonical (sorted, extended, magic-free) tags. */
  readonly tags: readonly string[];
  /** Canonical key: type, scope, name, joined tags. */
  readonly key: string;
}

abstract class BaseSeries {
  scope: Scope;
  name: string;
  tags: readonly string[];
  key: string;
  constructor(scope: Scope, name: string, tags: readonly string[], key: string) {
    this.scope = scope;
    this.name = name;
    this.tags = tags;
    this.key = key;
  }
  /** New identity, empty state. */
  init(scope: Scope, name: string, tags: readonly string[], key: string): void {
    this.scope = scope;
    this.name = name;
    this.tags = tags;
    this.key = key;
    this.clear();
  }
  protected abstract clear(): void;
}

export class CounterSeries extends BaseSeries implements SeriesIdentity {
  readonly type = MT.Counter;
  /** Sum of value / sampleRate. Fractional values are kept (Go truncates each sample, §14.1). */
  value = 0;
  protected clear(): void {
    this.value = 0;
  }
}

export class GaugeSeries extends BaseSeries implements SeriesIdentity {
  readonly type = MT.Gauge;
  value = 0;
  /** Wall-clock ms of the last write: merging state from several ingest workers keeps the latest. */
  updatedAt = 0;
  protected clear(): void {
    this.value = 0;
    this.updatedAt = 0;
  }
}

/** Histograms and timers: identical maths, different type (and flushed names may collide, §2.1). */
export class HistogramSeries extends BaseSeries implements SeriesIdentity {
  readonly type: typeof MT.Histogram | typeof MT.Timer;
  readonly digest = new MergingDigest(100);
  /** Stats of samples received directly (not imported): Go's Local* fields. */
  localMin = Number.POSITIVE_INFINITY;
  localMax = Number.NEGATIVE_INFINITY;
  localSum = 0;
  localWeight = 0;
  localReciprocalSum = 0;
  constructor(
    type: typeof MT.Histogram | typeof MT.Timer,
    scope: Scope,
    name: string,
    tags: readonly string[],
    key: string,
  ) {
    super(scope, name, tags, key);
    this.type = type;
  }

  sample(v: number, weight: number): void {
    this.digest.add(v, weight);
    if (v < this.localMin) this.localMin = v;
    if (v > this.localMax) this.localMax = v;
    this.localWeight += weight;
    this.localSum += v * weight;
    this.localReciprocalSum += weight / v;
  }

  protected clear(): void {
    this.digest.reset();
    this.localMin = Number.POSITIVE_INFINITY;
    this.localMax = Number.NEGATIVE_INFINITY;
    this.localSum = 0;
    this.localWeight = 0;
    this.localReciprocalSum = 0;
  }
}

export class SetSeries extends BaseSeries implements SeriesIdentity {
  readonly type = MT.Set;
  readonly hll = new HyperLogLog();
  protected clear(): void {
    this.hll.reset();
  }
}

/** Service checks: last write wins within an interval (§1.4). */
export class StatusSeries extends BaseSeries implements SeriesIdentity {
  readonly type = MT.Status;
  value = 0;
  message = '';
  hostName = '';
  updatedAt = 0;
  protected clear(): void {
    this.value = 0;
    this.message = '';
    this.hostName = '';
    this.updatedAt = 0;
  }
}

export type AnySeries = CounterSeries | GaugeSeries | HistogramSeries | SetSeries | StatusSeries;

/** Canonical key; `|` cannot occur in a DogStatsD name or tag, so this is unambiguous. */
export function seriesKey(type: MetricType, scope: Scope, name: string, joinedTags: string): string {
  return `${type}${scope}|${name}|${joinedTags}`;
}

export function newSeries(
  type: MetricType,
  scope: Scope,
  name: string,
  tags: readonly string[],
  key: string,
): AnySeries {
  switch (type) {
    case MT.Counter:
      return new CounterSeries(scope, name, tags, key);
    case MT.Gauge:
      return new GaugeSeries(scope, name, tags, key);
    case MT.Histogram:
    case MT.Timer:
      return new HistogramSeries(type, scope, name, tags, key);
    case MT.Set:
      return new SetSeries(scope, name, tags, key);
    default:
      return new StatusSeries(scope, name, tags, key);
  }
}

/** Snapshot series a `take` sorts into free lists at most before it allocates instead. */
const TAKE_LOOK = 64;

/**
 * Free lists of series by type, fed from flushed snapshots. A snapshot is read
 * lazily, as series are taken: sorting a million series into free lists at once
 * blocked the event loop for 80 ms. The pool keeps the last two snapshots: the
 * next interval starts while a snapshot is still being generated, so the series
 * it creates then are new objects; with two snapshots in the pool the interval
 * after that finds every series it needs and steady state allocates nothing.
 * Bounded: never more than two intervals' worth of series.
 */
export class SeriesPool {
  #free: AnySeries[][] = [[], [], [], [], [], []];
  /** Unread snapshots, oldest first (at most two). */
  #sources: Iterator<AnySeries>[] = [];

  /** A series with this identity, from the pool when one of the type is free. */
  take(type: MetricType, scope: Scope, name: string, tags: readonly string[], key: string): AnySeries {
    let s = this.#free[type].pop();
    // a bounded look: a type the snapshots hold few of (self-telemetry histograms among a
    // million user timers) must not sort a whole snapshot into free lists in one call
    for (let looked = 0; s === undefined && this.#sources.length > 0 && looked < TAKE_LOOK; looked++) {
      const r = this.#sources[0]!.next();
      if (r.done === true) this.#sources.shift();
      else if (r.value.type === type) s = r.value;
      else this.#free[r.value.type].push(r.value);
    }
    if (s === undefined) return newSeries(type, scope, name, tags, key);
    s.init(scope, name, tags, key);
    return s;
  }

  /** Add a flushed interval's series (nobody reads them any more); drops the oldest unread one. */
  refill(series: Iterable<AnySeries>): void {
    if (this.#sources.length >= 2) {
      this.#sources.shift();
      // the free lists came from the older snapshots: start them over too
      this.#free = [[], [], [], [], [], []];
    }
    this.#sources.push(series[Symbol.iterator]());
  }
}
