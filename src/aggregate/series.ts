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
import { type MetricType, MetricType as MT, Scope } from '../model/metric.js';
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

/** Pooled series sorted into free lists per event-loop turn in the background. */
const SORT_STEP = 4096;

/** A stack that never gives its capacity back (Array#pop right-trims, and the next pushes reallocate). */
class Stack {
  items: AnySeries[] = [];
  top = 0;
  push(s: AnySeries): void {
    if (this.top === this.items.length) this.items.push(s);
    else this.items[this.top] = s;
    this.top++;
  }
  pop(): AnySeries | undefined {
    if (this.top === 0) return undefined;
    const s = this.items[--this.top];
    // the slot keeps its capacity but not the series (which may be reused or dropped)
    this.items[this.top] = PLACEHOLDER;
    return s;
  }
}

/**
 * Free lists of series by type, fed from flushed snapshots. A snapshot is sorted
 * into the free lists in the background, SORT_STEP series per event-loop turn
 * (sorting a million series at once blocked the event loop for 80 ms), and a take
 * that finds its free list empty looks at up to TAKE_LOOK unsorted series before
 * it allocates. Sorting ahead matters when the order of types in a snapshot differs
 * from the order they are asked for in (a generator cycling 9.5 s through 1M series
 * grouped by type, a 10 s interval): with only the bounded look, most takes missed
 * and allocated (BENCHMARKS.md, "Flush under load").
 *
 * Bounded: the aggregator drops the pool when it holds more than about two
 * intervals' worth (the series count fell), and at most two unsorted snapshots are kept.
 */
export class SeriesPool {
  #free: Stack[] = SeriesPool.#stacks();
  #freeCount = 0;
  /** Unsorted snapshots, oldest first (at most two). */
  #sources: Iterator<AnySeries>[] = [];
  #sorting: NodeJS.Immediate | null = null;

  static #stacks(): Stack[] {
    return [new Stack(), new Stack(), new Stack(), new Stack(), new Stack(), new Stack()];
  }

  /** A series with this identity, from the pool when one of the type is free. */
  take(type: MetricType, scope: Scope, name: string, tags: readonly string[], key: string): AnySeries {
    let s = this.#free[type]!.pop();
    if (s !== undefined) this.#freeCount--;
    // a bounded look: a type the snapshots hold few of (self-telemetry histograms among a
    // million user timers) must not sort a whole snapshot into free lists in one call
    for (let looked = 0; s === undefined && this.#sources.length > 0 && looked < TAKE_LOOK; looked++) {
      const r = this.#sources[0]!.next();
      if (r.done === true) this.#sources.shift();
      else if (r.value.type === type) s = r.value;
      else this.#add(r.value);
    }
    if (s === undefined) return newSeries(type, scope, name, tags, key);
    s.init(scope, name, tags, key);
    return s;
  }

  /** Add flushed series (nobody reads them any more), sorted into the free lists in the background. */
  refill(series: Iterable<AnySeries>): void {
    if (this.#sources.length >= 2) this.#sources.shift();
    this.#sources.push(series[Symbol.iterator]());
    this.#sorting ??= setImmediate(this.#sortStep);
  }

  /** Add one flushed series nobody reads any more. */
  put(s: AnySeries): void {
    this.#add(s);
  }

  /** Drop everything pooled when it holds more than `limit` series (the series count fell). */
  bound(limit: number): void {
    if (this.#freeCount <= limit) return;
    this.#free = SeriesPool.#stacks();
    this.#freeCount = 0;
    this.#sources = [];
  }

  /** Whether a snapshot is still being sorted into the free lists (for tests). */
  get sorting(): boolean {
    return this.#sources.length > 0;
  }

  #add(s: AnySeries): void {
    this.#free[s.type]!.push(s);
    this.#freeCount++;
  }

  #sortStep = (): void => {
    this.#sorting = null;
    for (let n = 0; n < SORT_STEP && this.#sources.length > 0; n++) {
      const r = this.#sources[0]!.next();
      if (r.done === true) this.#sources.shift();
      else this.#add(r.value);
    }
    if (this.#sources.length > 0) this.#sorting = setImmediate(this.#sortStep);
  };
}

/** What a free stack's vacated slots hold (keeps the array's elements kind; never taken). */
const PLACEHOLDER: AnySeries = newSeries(MT.Counter, Scope.Mixed, '', [], '');
