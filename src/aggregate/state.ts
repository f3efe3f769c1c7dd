/**
 * The mergeable state of one series, as plain data: what an ingest worker hands
 * the primary at each flush (and, with the metricpb codec, what a local forwards
 * to a global). Counters travel as sums, gauges and checks with the time of their
 * last write (the latest wins), histograms and timers as t-digests plus the
 * local stats Veneur needs for min/max/count/sum/avg/hmean, sets as HyperLogLog
 * bytes. Structured-clone friendly (node:cluster IPC with serialization 'advanced').
 */
import { type MetricType, MetricType as MT, type Scope } from '../model/metric.js';
import type { AnySeries } from './series.js';
import type { MergingDigestData } from './sketches/tdigest.js';

export interface SeriesState {
  /** canonical key */
  readonly k: string;
  readonly t: MetricType;
  readonly s: Scope;
  readonly n: string;
  readonly g: readonly string[];
  /** counter sum, gauge or check value */
  readonly v: number;
  /** gauge/check: wall-clock ms of the last write */
  readonly u: number;
  /** histogram/timer digest */
  readonly d: MergingDigestData | null;
  /** histogram/timer local stats: min, max, sum, weight, reciprocal sum */
  readonly l: readonly [number, number, number, number, number] | null;
  /** set: HyperLogLog bytes (axiomhq binary form) */
  readonly h: Uint8Array | null;
  /** check message and host */
  readonly m: string;
  readonly o: string;
}

export function exportSeries(s: AnySeries): SeriesState {
  const base = { k: s.key, t: s.type, s: s.scope, n: s.name, g: s.tags };
  switch (s.type) {
    case MT.Counter:
      return { ...base, v: s.value, u: 0, d: null, l: null, h: null, m: '', o: '' };
    case MT.Gauge:
      return { ...base, v: s.value, u: s.updatedAt, d: null, l: null, h: null, m: '', o: '' };
    case MT.Histogram:
    case MT.Timer:
      return {
        ...base,
        v: 0,
        u: 0,
        d: s.digest.toData(),
        l: [s.localMin, s.localMax, s.localSum, s.localWeight, s.localReciprocalSum],
        h: null,
        m: '',
        o: '',
      };
    case MT.Set:
      return { ...base, v: 0, u: 0, d: null, l: null, h: s.hll.marshalBinary(), m: '', o: '' };
    default:
      return { ...base, v: s.value, u: s.updatedAt, d: null, l: null, h: null, m: s.message, o: s.hostName };
  }
}

export function exportSnapshot(series: Iterable<AnySeries>): SeriesState[] {
  const out: SeriesState[] = [];
  for (const s of series) out.push(exportSeries(s));
  return out;
}
