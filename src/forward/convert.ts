/**
 * Series <-> forwarded `metricpb.Metric` (reference §3.1).
 *
 * Client side (a local): `seriesToMetric` builds what a Go local sends for each
 * series that flush/generate.ts put in `forward` (§2.4).
 *
 * Server side (a global): `metricToState` turns a received message into the
 * mergeable SeriesState that Aggregator.importStates merges, keyed exactly as
 * our aggregator keys the same series, so forwarded data and data received
 * directly by the global land in the same series when Go's would.
 */
import type { AnySeries } from '../aggregate/series.js';
import { seriesKey } from '../aggregate/series.js';
import { HyperLogLog } from '../aggregate/sketches/hll.js';
import type { SeriesState } from '../aggregate/state.js';
import { MetricType, Scope } from '../model/metric.js';
import { compareBytewise } from '../protocol/dogstatsd/metric.js';
import {
  encodeMetric,
  type MergingDigestData,
  type MetricMessage,
  PbScope,
  PbType,
} from '../protocol/forward/metricpb.js';

/**
 * Counter sums are kept with their fractions here (we do not truncate each sample
 * like Go, §14.1), but the wire field is int64: the sum is rounded to the nearest
 * integer, halves away from zero (2.5 -> 3, -2.5 -> -3). Math.round alone would
 * round -2.5 to -2.
 */
export function roundHalfAwayFromZero(v: number): number {
  // `|| 0` turns -0 into 0
  return v < 0 ? -Math.round(-v) || 0 : Math.round(v);
}

/**
 * What a Go local forwards for one series (§3.1 client side), or null when the
 * series is never forwarded (mixed/local counters and gauges, local-only
 * histograms, timers and sets, status checks).
 *
 * - counter, GlobalOnly -> Counter, scope Global, value rounded to int64 (see above)
 * - gauge, GlobalOnly -> Gauge, scope Global
 * - histogram / timer, Mixed or Global -> Histogram / Timer, same scope, `digest.toData()`
 *   (this merges pending samples into the digest, as Go's `Data()` does)
 * - set, Mixed (GlobalOnly sets are keyed Mixed, §2.2) -> Set, scope Mixed, HLL bytes
 *
 * Tags are the series' canonical tags (sorted, extended, magic tags removed). The
 * returned message shares the series' tag array: it is meant to be encoded at once
 * (encodeMetric only reads it); do not mutate it.
 */
export function seriesToMetric(s: AnySeries): MetricMessage | null {
  // encodeMetric never writes to tags; the cast only drops `readonly`.
  const tags = s.tags as string[];
  switch (s.type) {
    case MetricType.Counter:
      if (s.scope !== Scope.Global) return null;
      return {
        name: s.name,
        tags,
        type: PbType.Counter,
        scope: PbScope.Global,
        value: { kind: 'counter', value: roundHalfAwayFromZero(s.value) },
      };
    case MetricType.Gauge:
      if (s.scope !== Scope.Global) return null;
      return {
        name: s.name,
        tags,
        type: PbType.Gauge,
        scope: PbScope.Global,
        value: { kind: 'gauge', value: s.value },
      };
    case MetricType.Histogram:
    case MetricType.Timer:
      if (s.scope === Scope.Local) return null;
      return {
        name: s.name,
        tags,
        type: s.type === MetricType.Histogram ? PbType.Histogram : PbType.Timer,
        scope: s.scope === Scope.Global ? PbScope.Global : PbScope.Mixed,
        value: { kind: 'histogram', digest: s.digest.toData() },
      };
    case MetricType.Set:
      if (s.scope === Scope.Local) return null;
      return {
        name: s.name,
        tags,
        type: PbType.Set,
        scope: PbScope.Mixed,
        value: { kind: 'set', hll: s.hll.marshalBinary() },
      };
    default:
      return null;
  }
}

/**
 * Converts and encodes the series to forward; series that are not forwardable
 * are skipped. Synchronous: the result no longer references the series, so they
 * may be recycled as soon as this returns.
 */
export function encodeSeries(series: readonly AnySeries[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < series.length; i++) {
    const m = seriesToMetric(series[i]);
    if (m !== null) out.push(encodeMetric(m));
  }
  return out;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `encodeSeries` in slices that yield to the event loop, for large snapshots:
 * encoding costs ~2 us per series here (220k series: ~420 ms, mostly histogram
 * digests merging their pending samples in toData), too long to block ingest.
 * The series must not be recycled before the promise resolves; after that the
 * result no longer references them.
 */
export async function encodeSeriesSliced(
  series: readonly AnySeries[],
  sliceSize = 5000,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let i = 0; i < series.length; i++) {
    const m = seriesToMetric(series[i]);
    if (m !== null) out.push(encodeMetric(m));
    if ((i + 1) % sliceSize === 0 && i + 1 < series.length) await yieldToLoop();
  }
  return out;
}

/** Why a received message was not imported (counted as `import.errors_total{cause}`). */
export type ImportRejectCause =
  /** scope Local on a histogram, timer or set: Go rejects these ("does not accept local metrics") */
  | 'scope_local'
  /** unknown metricpb.Type or Scope value */
  | 'type'
  /** no value, or a value that does not match the type (e.g. type Counter carrying a gauge) */
  | 'value'
  /** a t-digest Go could not have produced (non-finite mean, weight not > 0) */
  | 'digest'
  /** HyperLogLog bytes that do not parse */
  | 'hll';

const EMPTY_LOCAL_STATS: readonly [number, number, number, number, number] = Object.freeze([
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  0,
  0,
  0,
]) as readonly [number, number, number, number, number];

/** Tags sorted bytewise (Go locals may send them in any order); the input is not modified. */
function sortedTags(tags: readonly string[]): string[] {
  const out = tags.slice();
  // Already sorted is the common case (Go sorts before forwarding); skip the sort then.
  for (let i = 1; i < out.length; i++) {
    if (compareBytewise(out[i - 1], out[i]) > 0) {
      out.sort(compareBytewise);
      break;
    }
  }
  return out;
}

function validDigest(d: MergingDigestData): boolean {
  const cs = d.mainCentroids;
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i];
    if (!Number.isFinite(c.mean) || !(c.weight > 0) || c.weight === Number.POSITIVE_INFINITY) return false;
  }
  return true;
}

function state(
  type: MetricType,
  scope: Scope,
  m: MetricMessage,
  v: number,
  u: number,
  d: MergingDigestData | null,
  h: Uint8Array | null,
): SeriesState {
  const g = sortedTags(m.tags);
  return {
    k: seriesKey(type, scope, m.name, g.join(',')),
    t: type,
    s: scope,
    n: m.name,
    g,
    v,
    u,
    d,
    l: d === null ? null : EMPTY_LOCAL_STATS,
    h,
    m: '',
    o: '',
  };
}

/**
 * A received message as mergeable state (§3.1 server side), or the reason it is
 * rejected:
 * - Counter and Gauge are always imported as GlobalOnly (whatever scope they carry,
 *   even Local, as Go: it forces their scope before checking for Local);
 *   counters add, gauges take the latest import (`u` = now: "last write wins").
 * - Histogram / Timer: scope Mixed merges into the mixed series, Global into the
 *   global one. Their local stats are EMPTY (min +Inf, max -Inf, sums 0), so the
 *   global emits no min/max/count/sum/avg/hmean from forwarded digests, only
 *   the percentiles (and median): no double counting (§2.4, §14.9).
 * - Set: merged into the mixed set whatever its scope (GlobalOnly sets are Mixed).
 * - Scope Local for anything but counters and gauges is rejected.
 * Tags are sorted bytewise, so Go locals that send unsorted tags still merge into
 * the series our aggregator keys for the same tags (Go keys imports on the tags as
 * received; sorting here is stricter and only merges what should merge). No tags
 * are added (Go appends no source tags for this source, and imports bypass
 * extend_tags).
 */
export function importMetric(m: MetricMessage, nowMs: number = Date.now()): SeriesState | ImportRejectCause {
  const v = m.value;
  if (v === null) return 'value';
  switch (m.type) {
    case PbType.Counter:
      if (v.kind !== 'counter') return 'value';
      return state(MetricType.Counter, Scope.Global, m, v.value, 0, null, null);
    case PbType.Gauge:
      if (v.kind !== 'gauge') return 'value';
      return state(MetricType.Gauge, Scope.Global, m, v.value, nowMs, null, null);
    case PbType.Histogram:
    case PbType.Timer: {
      if (m.scope === PbScope.Local) return 'scope_local';
      if (m.scope !== PbScope.Mixed && m.scope !== PbScope.Global) return 'type';
      if (v.kind !== 'histogram') return 'value';
      if (!validDigest(v.digest)) return 'digest';
      const type = m.type === PbType.Histogram ? MetricType.Histogram : MetricType.Timer;
      const scope = m.scope === PbScope.Global ? Scope.Global : Scope.Mixed;
      return state(type, scope, m, 0, 0, v.digest, null);
    }
    case PbType.Set:
      if (m.scope === PbScope.Local) return 'scope_local';
      if (m.scope !== PbScope.Mixed && m.scope !== PbScope.Global) return 'type';
      if (v.kind !== 'set') return 'value';
      // Aggregator.importStates parses it again; parsing here keeps one bad
      // message from throwing in the middle of a batch import.
      try {
        HyperLogLog.unmarshalBinary(v.hll);
      } catch {
        return 'hll';
      }
      return state(MetricType.Set, Scope.Mixed, m, 0, 0, null, v.hll);
    default:
      return 'type';
  }
}

/** `importMetric` without the reason: null when the message is rejected. */
export function metricToState(m: MetricMessage, nowMs?: number): SeriesState | null {
  const r = importMetric(m, nowMs);
  return typeof r === 'string' ? null : r;
}

/**
 * Converts a batch of received messages; rejected ones are reported through
 * `onReject` (count them as `import.errors_total{cause}`) and left out.
 */
export function metricsToStates(
  messages: readonly MetricMessage[],
  onReject?: (cause: ImportRejectCause, m: MetricMessage) => void,
): SeriesState[] {
  const now = Date.now();
  const out: SeriesState[] = [];
  for (let i = 0; i < messages.length; i++) {
    const r = importMetric(messages[i], now);
    if (typeof r === 'string') onReject?.(r, messages[i]);
    else out.push(r);
  }
  return out;
}
