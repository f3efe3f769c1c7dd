/**
 * InterMetric / event -> Datadog JSON, byte-for-byte as Go Veneur's datadog sink writes
 * it (reference §5.1; golden files in /work/shared/golden/dogstatsd-to-datadog). Pure.
 *
 * Go structs and their JSON (field order = key order; `?` = omitempty):
 *   DDMetric       {metric, points:[[ts,value]], tags?, type, host?, device_name?, interval?}
 *   DDServiceCheck {check, status, host_name, timestamp?, tags?, message?}
 *   DDEvent        {msg_title, msg_text, timestamp?, host?, aggregation_key?, priority?,
 *                   source_type_name?, alert_type?, tags?}
 * Bodies end in "\n" because Go writes them with json.Encoder.Encode.
 */
import { type DogStatsdEvent, type InterMetric, InterMetricType } from '../../model/metric.js';
import { goFloat, goString, goStringArray } from '../helper/json.js';

export interface FinalizeOptions {
  /** Default `host` (the server's hostname; '' omits it on series). */
  readonly hostname: string;
  /** Counters are divided by this to become Datadog rates. */
  readonly intervalSeconds: number;
  readonly metricNamePrefixDrops: readonly string[];
  readonly excludeTagsPrefixByPrefixMetric: readonly {
    readonly metricPrefix: string;
    readonly tags: readonly string[];
  }[];
  /** From the global `tags_exclude`: prefix match on the whole tag. */
  readonly excludedTags: readonly string[];
}

export interface Finalized {
  /**
   * Indices (into the flushed batch) of the records that become series. Their JSON
   * is rendered per body, when the body is posted (renderSeriesBodyFor): at 1M
   * series, rendering every entry up front held millions of strings at once and
   * GC took half the flush (BENCHMARKS.md, "Flush of 1M series").
   */
  readonly seriesIdx: number[];
  /** One rendered DDServiceCheck per entry. */
  readonly checks: string[];
  /** Dropped on purpose by configuration (`metric_name_prefix_drops`). */
  skipped: number;
  /** Not representable: NaN/±Inf values (Go's encoder would fail the whole body), unknown types. */
  dropped: number;
}

const NO_EXCLUSIONS: readonly string[] = [];

function hasPrefixIn(s: string, prefixes: readonly string[]): boolean {
  for (const p of prefixes) if (s.startsWith(p)) return true;
  return false;
}

/** Go's int64(x) for a float64 JSON field typed as an integer. */
function goInt(x: number): string {
  const t = Math.trunc(x);
  return Object.is(t, -0) ? '0' : String(t);
}

/** The record's tags after exclusions, with `host:`/`device:` lifted out (Go: last one wins). */
interface TagParts {
  host: string;
  device: string;
  /** `,"tags":[...]` or '' */
  tagsField: string;
}

function tagParts(m: InterMetric, opts: FinalizeOptions): TagParts {
  let perMetric = NO_EXCLUSIONS;
  for (const rule of opts.excludeTagsPrefixByPrefixMetric) {
    if (m.name.startsWith(rule.metricPrefix)) {
      perMetric = rule.tags;
      break;
    }
  }
  const global = opts.excludedTags;
  let host = '';
  let device = '';
  let tagsJson = '';
  let tagCount = 0;
  for (const tag of m.tags) {
    if (global.length > 0 && hasPrefixIn(tag, global)) continue;
    if (perMetric.length > 0 && hasPrefixIn(tag, perMetric)) continue;
    if (tag.startsWith('host:')) host = tag.slice(5);
    else if (tag.startsWith('device:')) device = tag.slice(7);
    else {
      tagsJson += tagCount === 0 ? goString(tag) : `,${goString(tag)}`;
      tagCount++;
    }
  }
  if (host === '') host = opts.hostname;
  return { host, device, tagsField: tagCount > 0 ? `,"tags":[${tagsJson}]` : '' };
}

/**
 * Datadog's view of each record (reference §5.1): drop names with a prefix in
 * `metric_name_prefix_drops`, exclude tags, turn `host:`/`device:` tags into fields
 * (checked after exclusion, last one wins), counters -> `rate` (value / interval),
 * gauges -> `gauge`, status -> service checks.
 */
export function finalizeMetrics(metrics: readonly InterMetric[], opts: FinalizeOptions): Finalized {
  const out: Finalized = { seriesIdx: [], checks: [], skipped: 0, dropped: 0 };
  finalizeRange(metrics, 0, metrics.length, opts, out);
  return out;
}

/** Records classified per slice before yielding to the event loop. */
const FINALIZE_SLICE = 50_000;

/** finalizeMetrics in slices that yield to the event loop (a 1M-series flush has 2M+ records). */
export async function finalizeMetricsSliced(
  metrics: readonly InterMetric[],
  opts: FinalizeOptions,
): Promise<Finalized> {
  const out: Finalized = { seriesIdx: [], checks: [], skipped: 0, dropped: 0 };
  for (let start = 0; start < metrics.length; start += FINALIZE_SLICE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    finalizeRange(metrics, start, Math.min(metrics.length, start + FINALIZE_SLICE), opts, out);
  }
  return out;
}

/** Value Datadog gets for a series record, or NaN if it is not a series type. */
function seriesValue(m: InterMetric, interval: number): number {
  if (m.type === InterMetricType.Counter) return m.value / interval;
  if (m.type === InterMetricType.Gauge) return m.value;
  return Number.NaN;
}

function finalizeRange(
  metrics: readonly InterMetric[],
  from: number,
  to: number,
  opts: FinalizeOptions,
  out: Finalized,
): void {
  const interval = opts.intervalSeconds;
  const drops = opts.metricNamePrefixDrops;
  for (let i = from; i < to; i++) {
    const m = metrics[i]!;
    if (drops.length > 0 && hasPrefixIn(m.name, drops)) {
      out.skipped++;
      continue;
    }
    if (m.type === InterMetricType.Status) {
      if (!Number.isFinite(m.value)) {
        out.dropped++;
        continue;
      }
      // The check's own `h:` (m.hostName) is ignored, as in Go (§14.6).
      const t = tagParts(m, opts);
      let check = `{"check":${goString(m.name)},"status":${goInt(m.value)},"host_name":${goString(t.host)}`;
      if (Math.trunc(m.timestamp) !== 0) check += `,"timestamp":${goInt(m.timestamp)}`;
      check += t.tagsField;
      if (m.message !== '') check += `,"message":${goString(m.message)}`;
      out.checks.push(`${check}}`);
      continue;
    }
    // unknown types and NaN/±Inf values (Go's encoder would fail the whole body)
    if (!Number.isFinite(seriesValue(m, interval))) {
      out.dropped++;
      continue;
    }
    out.seriesIdx.push(i);
  }
}

/** `{"series":[...]}` body for POST /api/v1/series, for the records at `idx`. */
export function renderSeriesBodyFor(
  metrics: readonly InterMetric[],
  idx: readonly number[],
  opts: FinalizeOptions,
): string {
  const interval = opts.intervalSeconds;
  // Go: Interval int32 `json:"interval,omitempty"` = int32(interval seconds).
  const intervalField = Math.trunc(interval) !== 0 ? `,"interval":${goInt(interval)}` : '';
  let body = '{"series":[';
  for (let k = 0; k < idx.length; k++) {
    const m = metrics[idx[k]!]!;
    const t = tagParts(m, opts);
    const type = m.type === InterMetricType.Counter ? 'rate' : 'gauge';
    let entry = `{"metric":${goString(m.name)},"points":[[${goFloat(m.timestamp)},${goFloat(seriesValue(m, interval))}]]${t.tagsField},"type":"${type}"`;
    if (t.host !== '') entry += `,"host":${goString(t.host)}`;
    if (t.device !== '') entry += `,"device_name":${goString(t.device)}`;
    body += k === 0 ? `${entry}${intervalField}}` : `,${entry}${intervalField}}`;
  }
  return `${body}]}\n`;
}

/** JSON array body for POST /api/v1/check_run (sent uncompressed). */
export function renderChecksBody(entries: readonly string[]): string {
  return `[${entries.join(',')}]\n`;
}

/**
 * Event tags: Go ranges over the tag map, so its order is random; we sort. Go writes
 * every entry as `k:v`, which turns a bare tag `k` (value '') into `k:`; we write `k`,
 * which is what the client sent.
 */
export function renderEventTags(tags: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of tags) out.push(v === '' ? k : `${k}:${v}`);
  return out.sort();
}

/** One DDEvent. Defaults: priority `normal`, alert_type `info`, host = event's or `hostname`. */
export function renderEvent(e: DogStatsdEvent, hostname: string): string {
  let out = `{"msg_title":${goString(e.title)},"msg_text":${goString(e.text)}`;
  if (Math.trunc(e.timestamp) !== 0) out += `,"timestamp":${goInt(e.timestamp)}`;
  const host = e.hostname !== '' ? e.hostname : hostname;
  if (host !== '') out += `,"host":${goString(host)}`;
  if (e.aggregationKey !== '') out += `,"aggregation_key":${goString(e.aggregationKey)}`;
  out += `,"priority":${goString(e.priority !== '' ? e.priority : 'normal')}`;
  if (e.sourceType !== '') out += `,"source_type_name":${goString(e.sourceType)}`;
  out += `,"alert_type":${goString(e.alertType !== '' ? e.alertType : 'info')}`;
  if (e.tags.size > 0) out += `,"tags":${goStringArray(renderEventTags(e.tags))}`;
  return `${out}}`;
}

/** `{"events":{"api":[...]}}` body for POST /intake. */
export function renderEventsBody(entries: readonly string[]): string {
  return `{"events":{"api":[${entries.join(',')}]}}\n`;
}
