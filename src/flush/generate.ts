/**
 * Snapshot -> InterMetric[] (reference §2.3, §2.4). Runs in slices that yield to
 * the event loop so a large interval never stalls ingest for long.
 */
import type { AnySeries, HistogramSeries } from '../aggregate/series.js';
import { type InterMetric, InterMetricType, MetricType, Scope } from '../model/metric.js';
import type { FlushPolicy } from './policy.js';

/**
 * Series per slice between yields. A slice is generated and then consumed by every
 * sink (rendering) in the same event-loop turn, so it must stay small: with 2,000
 * series per slice (~4,500 records) the slice's records and name strings were
 * often still alive at two scavenges and got promoted (~40% of everything a flush
 * under load promoted, measured with the sampling heap profiler); 250 series keep
 * them young (BENCHMARKS.md, "Flush under load").
 */
const SLICE = 250;

export interface Generated {
  readonly metrics: InterMetric[];
  /** Series whose mergeable state goes to the global tier (local instances only). */
  readonly forward: AnySeries[];
  /** Values dropped because they were not finite (JSON cannot carry them). */
  readonly nonFinite: number;
  /** Series flushed here, by MetricType (index). */
  readonly seriesByType: readonly number[];
}

function im(
  name: string,
  timestamp: number,
  value: number,
  tags: readonly string[],
  type: InterMetricType,
): InterMetric {
  return { name, timestamp, value, tags, type, message: '', hostName: '', sinks: null };
}

class Emitter {
  metrics: InterMetric[] = [];
  readonly forward: AnySeries[] = [];
  nonFinite = 0;
  readonly seriesByType = [0, 0, 0, 0, 0, 0];
  constructor(readonly ts: number) {}
  push(name: string, value: number, tags: readonly string[], type: InterMetricType): void {
    if (!Number.isFinite(value)) {
      this.nonFinite++;
      return;
    }
    this.metrics.push(im(name, this.ts, value, tags, type));
  }
}

/**
 * Histogram/timer expansion, in Veneur's order: max, min, sum, avg, count, median,
 * hmean, then percentiles. `global` = values come from the (merged) digest instead
 * of the samples received directly.
 */
function emitHistogram(
  out: Emitter,
  s: HistogramSeries,
  policy: FlushPolicy,
  global: boolean,
  withPercentiles: boolean,
): void {
  const a = policy.aggregates;
  const d = s.digest;
  const { name, tags } = s;
  const G = InterMetricType.Gauge;
  if (a.max && (global || s.localMax > Number.NEGATIVE_INFINITY))
    out.push(`${name}.max`, global ? d.max : s.localMax, tags, G);
  if (a.min && (global || s.localMin < Number.POSITIVE_INFINITY))
    out.push(`${name}.min`, global ? d.min : s.localMin, tags, G);
  if (a.sum && (global || s.localSum !== 0)) out.push(`${name}.sum`, global ? d.sum() : s.localSum, tags, G);
  if (a.avg && (global || (s.localSum !== 0 && s.localWeight !== 0))) {
    out.push(`${name}.avg`, global ? d.sum() / d.count() : s.localSum / s.localWeight, tags, G);
  }
  if (a.count && (global || s.localWeight !== 0)) {
    out.push(`${name}.count`, global ? d.count() : s.localWeight, tags, InterMetricType.Counter);
  }
  if (a.median) out.push(`${name}.median`, d.quantile(0.5), tags, G);
  if (a.hmean && (global || (s.localWeight !== 0 && s.localReciprocalSum !== 0))) {
    out.push(
      `${name}.hmean`,
      global ? d.count() / d.reciprocalSum : s.localWeight / s.localReciprocalSum,
      tags,
      G,
    );
  }
  if (withPercentiles) {
    const ps = policy.percentiles;
    for (let i = 0; i < ps.length; i++)
      out.push(`${name}.${policy.percentileSuffixes[i]}`, d.quantile(ps[i]), tags, G);
  }
}

function emitSeries(out: Emitter, s: AnySeries, policy: FlushPolicy): void {
  const local = policy.isLocal;
  out.seriesByType[s.type]++;
  switch (s.type) {
    case MetricType.Counter:
      if (local && s.scope === Scope.Global) out.forward.push(s);
      else out.push(s.name, s.value, s.tags, InterMetricType.Counter);
      break;
    case MetricType.Gauge:
      if (local && s.scope === Scope.Global) out.forward.push(s);
      else out.push(s.name, s.value, s.tags, InterMetricType.Gauge);
      break;
    case MetricType.Histogram:
    case MetricType.Timer:
      if (s.scope === Scope.Local) emitHistogram(out, s, policy, false, true);
      else if (s.scope === Scope.Global) {
        if (local) out.forward.push(s);
        else emitHistogram(out, s, policy, true, true);
      } else if (local) {
        emitHistogram(out, s, policy, false, false);
        out.forward.push(s);
      } else emitHistogram(out, s, policy, false, true);
      break;
    case MetricType.Set:
      if (local && s.scope !== Scope.Local) out.forward.push(s);
      else out.push(s.name, s.hll.estimate(), s.tags, InterMetricType.Gauge);
      break;
    case MetricType.Status:
      if (!Number.isFinite(s.value)) {
        out.nonFinite++;
        break;
      }
      out.metrics.push({
        name: s.name,
        timestamp: out.ts,
        value: s.value,
        tags: s.tags,
        type: InterMetricType.Status,
        message: s.message,
        hostName: s.hostName,
        sinks: null,
      });
      break;
  }
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What a streamed generation leaves behind besides its chunks. */
export type GeneratedSummary = Omit<Generated, 'metrics'>;

/**
 * Expand a snapshot's series into flushed records, handing them to `emit` in chunks
 * (one per SLICE series) and yielding to the event loop after each: the chunk is
 * consumed by the sinks and becomes garbage while still young. `release` gets each
 * series nothing needs any more once its records exist (every series not kept in
 * `forward`): the aggregator reuses it at once.
 */
export async function generateChunks(
  series: Iterable<AnySeries>,
  policy: FlushPolicy,
  timestamp: number,
  emit: (chunk: InterMetric[]) => void,
  release?: (s: AnySeries) => void,
): Promise<GeneratedSummary> {
  const out = new Emitter(timestamp);
  let n = 0;
  for (const s of series) {
    const forwarded = out.forward.length;
    emitSeries(out, s, policy);
    if (release !== undefined && out.forward.length === forwarded) release(s);
    if (++n % SLICE === 0) {
      const chunk = out.metrics;
      out.metrics = [];
      emit(chunk);
      await yieldToLoop();
    }
  }
  if (out.metrics.length > 0) emit(out.metrics);
  out.metrics = [];
  return { forward: out.forward, nonFinite: out.nonFinite, seriesByType: out.seriesByType };
}

/** Expand a snapshot's series into one array of records, yielding every SLICE series. */
export async function generate(
  series: Iterable<AnySeries>,
  policy: FlushPolicy,
  timestamp: number,
): Promise<Generated> {
  const metrics: InterMetric[] = [];
  const rest = await generateChunks(series, policy, timestamp, (chunk) => {
    for (const m of chunk) metrics.push(m);
  });
  return { metrics, ...rest };
}

/** Synchronous variant for tests and small snapshots. */
export function generateSync(series: Iterable<AnySeries>, policy: FlushPolicy, timestamp: number): Generated {
  const out = new Emitter(timestamp);
  for (const s of series) emitSeries(out, s, policy);
  return {
    metrics: out.metrics,
    forward: out.forward,
    nonFinite: out.nonFinite,
    seriesByType: out.seriesByType,
  };
}
