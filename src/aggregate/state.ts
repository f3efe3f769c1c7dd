/**
 * The mergeable state of one series, as plain data: what a local forwards to a
 * global, once decoded from metricpb (forward/convert.ts); ingest workers hand the
 * primary the same contents in columns (state-batch.ts). Counters travel as sums, gauges and checks with the time of their
 * last write (the latest wins), histograms and timers as t-digests plus the
 * local stats Veneur needs for min/max/count/sum/avg/hmean, sets as HyperLogLog
 * bytes. Structured-clone friendly (node:cluster IPC with serialization 'advanced').
 */
import type { MetricType, Scope } from '../model/metric.js';
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
