/**
 * Per-interval aggregation state of one series (reference §2.3). One class per
 * type so each object carries only what its type needs (memory at 1M series);
 * the hot path switches on the entry's type, so every property access site
 * stays monomorphic.
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

export class CounterSeries implements SeriesIdentity {
  readonly type = MT.Counter;
  /** Sum of value / sampleRate. Fractional values are kept (Go truncates each sample, §14.1). */
  value = 0;
  constructor(
    readonly scope: Scope,
    readonly name: string,
    readonly tags: readonly string[],
    readonly key: string,
  ) {}
}

export class GaugeSeries implements SeriesIdentity {
  readonly type = MT.Gauge;
  value = 0;
  constructor(
    readonly scope: Scope,
    readonly name: string,
    readonly tags: readonly string[],
    readonly key: string,
  ) {}
}

/** Histograms and timers: identical maths, different type (and flushed names may collide, §2.1). */
export class HistogramSeries implements SeriesIdentity {
  readonly digest = new MergingDigest(100);
  /** Stats of samples received directly (not imported): Go's Local* fields. */
  localMin = Number.POSITIVE_INFINITY;
  localMax = Number.NEGATIVE_INFINITY;
  localSum = 0;
  localWeight = 0;
  localReciprocalSum = 0;
  constructor(
    readonly type: typeof MT.Histogram | typeof MT.Timer,
    readonly scope: Scope,
    readonly name: string,
    readonly tags: readonly string[],
    readonly key: string,
  ) {}

  sample(v: number, weight: number): void {
    this.digest.add(v, weight);
    if (v < this.localMin) this.localMin = v;
    if (v > this.localMax) this.localMax = v;
    this.localWeight += weight;
    this.localSum += v * weight;
    this.localReciprocalSum += weight / v;
  }
}

export class SetSeries implements SeriesIdentity {
  readonly type = MT.Set;
  readonly hll = new HyperLogLog();
  constructor(
    readonly scope: Scope,
    readonly name: string,
    readonly tags: readonly string[],
    readonly key: string,
  ) {}
}

/** Service checks: last write wins within an interval (§1.4). */
export class StatusSeries implements SeriesIdentity {
  readonly type = MT.Status;
  value = 0;
  message = '';
  hostName = '';
  constructor(
    readonly scope: Scope,
    readonly name: string,
    readonly tags: readonly string[],
    readonly key: string,
  ) {}
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
