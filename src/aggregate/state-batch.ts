/**
 * An interval's mergeable state in columns: what an ingest worker hands the
 * primary at each flush (node:cluster IPC, serialization 'advanced').
 *
 * One object per series (SeriesState, with an object per t-digest centroid) cost
 * ~16 µs per series to build and as much again to clone and rebuild: 2 × 1M series
 * took minutes (BENCHMARKS.md, "Merge of 2 × 1M series"). Here a batch is a handful
 * of typed arrays plus one string per series (its canonical key, from which the
 * primary derives name and tags only for series it does not have yet). Same
 * contents as SeriesState: counter sums, gauges and checks with the time of their
 * last write, t-digest centroids plus local stats, HyperLogLog bytes.
 */
import { MetricType, type Scope } from '../model/metric.js';
import type { AnySeries } from './series.js';

export interface StateBatch {
  /**
   * canonical key per series (`${type}${scope}|name|joined tags`, see seriesKey),
   * joined by newlines (which no key contains): one string clones far faster than a million
   */
  readonly keys: string;
  /** number of series */
  readonly count: number;
  readonly types: Uint8Array;
  /** counter sum, gauge or check value, per series */
  readonly values: Float64Array;
  /** gauge/check: wall-clock ms of the last write, per series */
  readonly updated: Float64Array;
  /** per histogram/timer, in order: min, max, sum, weight, reciprocal sum (local stats), digest reciprocal sum, centroid count */
  readonly hist: Float64Array;
  /** every digest's centroids, interleaved (mean, weight), in order */
  readonly centroids: Float64Array;
  /** every set's HyperLogLog bytes, concatenated; `hllEnds[i]` ends the i-th set's */
  readonly hll: Uint8Array;
  readonly hllEnds: Uint32Array;
  /** per check, in order */
  readonly messages: string[];
  readonly hosts: string[];
}

export const HIST_FIELDS = 7;

/** Growable Float64Array. */
class F64 {
  a: Float64Array;
  n = 0;
  constructor(cap: number) {
    this.a = new Float64Array(Math.max(16, cap));
  }
  reserve(k: number): void {
    if (this.n + k <= this.a.length) return;
    let cap = this.a.length * 2;
    while (cap < this.n + k) cap *= 2;
    const b = new Float64Array(cap);
    b.set(this.a.subarray(0, this.n));
    this.a = b;
  }
  push(x: number): void {
    if (this.n === this.a.length) this.reserve(1);
    this.a[this.n++] = x;
  }
  done(): Float64Array {
    return this.a.slice(0, this.n);
  }
}

/** The interval's series as one batch. */
export function exportStateBatch(series: Iterable<AnySeries>, count: number): StateBatch {
  const keys: string[] = [];
  const types = new Uint8Array(count);
  const values = new Float64Array(count);
  const updated = new Float64Array(count);
  const hist = new F64(1024);
  const centroids = new F64(4096);
  const hlls: Uint8Array[] = [];
  const messages: string[] = [];
  const hosts: string[] = [];
  let i = 0;
  for (const s of series) {
    if (i === count) break;
    keys.push(s.key);
    types[i] = s.type;
    switch (s.type) {
      case MetricType.Counter:
        values[i] = s.value;
        break;
      case MetricType.Gauge:
        values[i] = s.value;
        updated[i] = s.updatedAt;
        break;
      case MetricType.Histogram:
      case MetricType.Timer: {
        const nc = s.digest.centroidCount();
        hist.reserve(HIST_FIELDS);
        hist.push(s.localMin);
        hist.push(s.localMax);
        hist.push(s.localSum);
        hist.push(s.localWeight);
        hist.push(s.localReciprocalSum);
        hist.push(s.digest.reciprocalSum);
        hist.push(nc);
        centroids.reserve(2 * nc);
        s.digest.copyCentroids(centroids.a, centroids.n);
        centroids.n += 2 * nc;
        break;
      }
      case MetricType.Set:
        hlls.push(s.hll.marshalBinary());
        break;
      default:
        values[i] = s.value;
        updated[i] = s.updatedAt;
        messages.push(s.message);
        hosts.push(s.hostName);
        break;
    }
    i++;
  }
  let total = 0;
  for (const h of hlls) total += h.length;
  const hll = new Uint8Array(total);
  const hllEnds = new Uint32Array(hlls.length);
  let off = 0;
  hlls.forEach((h, k) => {
    hll.set(h, off);
    off += h.length;
    hllEnds[k] = off;
  });
  return {
    keys: keys.join('\n'),
    count: i,
    types: i === count ? types : types.slice(0, i),
    values: i === count ? values : values.slice(0, i),
    updated: i === count ? updated : updated.slice(0, i),
    hist: hist.done(),
    centroids: centroids.done(),
    hll,
    hllEnds,
    messages,
    hosts,
  };
}

/** Type, scope, name and tags encoded in a canonical key (names and tags never contain `|`; tags never `,`). */
export function parseSeriesKey(key: string): {
  type: MetricType;
  scope: Scope;
  name: string;
  joinedTags: string;
} {
  const bar = key.indexOf('|', 3);
  return {
    type: (key.charCodeAt(0) - 48) as MetricType,
    scope: (key.charCodeAt(1) - 48) as Scope,
    name: key.slice(3, bar),
    joinedTags: key.slice(bar + 1),
  };
}
