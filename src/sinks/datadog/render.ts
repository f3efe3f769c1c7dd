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
  /** One rendered DDMetric per entry. */
  readonly series: string[];
  /** One rendered DDServiceCheck per entry. */
  readonly checks: string[];
  /** Dropped on purpose by configuration (`metric_name_prefix_drops`). */
  skipped: number;
  /** Not representable: NaN/±Inf values (Go's encoder would fail the whole body), unknown types. */
  dropped: number;
}

const NO_EXCLUSIONS: readonly string[] = [];

function hasPrefixIn(s: string, prefixes: readonly string[]): boolean {
  for (let i = 0; i < prefixes.length; i++) if (s.startsWith(prefixes[i]!)) return true;
  return false;
}

/** Go's `omitempty` int rendering of an integral value. */
function goInt(n: number): string {
  return String(Math.trunc(n));
}

/**
 * Go's finalizeMetrics: drop by name prefix, drop excluded tags (global list, then the
 * first `exclude_tags_prefix_by_prefix_metric` entry whose prefix matches the name),
 * turn `host:`/`device:` tags into fields (checked after exclusion, last one wins),
 * counters -> `rate` (value / interval), gauges -> `gauge`, status -> service checks.
 */
export function finalizeMetrics(metrics: readonly InterMetric[], opts: FinalizeOptions): Finalized {
  const out: Finalized = { series: [], checks: [], skipped: 0, dropped: 0 };
  finalizeRange(metrics, 0, metrics.length, opts, out);
  return out;
}

/** Records rendered per slice before yielding to the event loop (a slice takes a few ms). */
const FINALIZE_SLICE = 20_000;

/**
 * finalizeMetrics in slices that yield to the event loop: a flush of 1M series
 * (2M+ records) must not stop ingest for seconds (BENCHMARKS.md, "Flush of 1M series").
 */
export async function finalizeMetricsSliced(
  metrics: readonly InterMetric[],
  opts: FinalizeOptions,
): Promise<Finalized> {
  const out: Finalized = { series: [], checks: [], skipped: 0, dropped: 0 };
  for (let start = 0; start < metrics.length; start += FINALIZE_SLICE) {
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    finalizeRange(metrics, start, Math.min(metrics.length, start + FINALIZE_SLICE), opts, out);
  }
  return out;
}

function finalizeRange(
  metrics: readonly InterMetric[],
  from: number,
  to: number,
  opts: FinalizeOptions,
  out: Finalized,
): void {
  const series = out.series;
  const checks = out.checks;
  let skipped = 0;
  let dropped = 0;
  const interval = opts.intervalSeconds;
  // Go: Interval int32 `json:"interval,omitempty"` = int32(interval seconds).
  const intervalField = Math.trunc(interval) !== 0 ? `,"interval":${goInt(interval)}` : '';
  const global = opts.excludedTags;
  const rules = opts.excludeTagsPrefixByPrefixMetric;

  for (let i = from; i < to; i++) {
    const m = metrics[i]!;
    if (opts.metricNamePrefixDrops.length > 0 && hasPrefixIn(m.name, opts.metricNamePrefixDrops)) {
      skipped++;
      continue;
    }
    let perMetric = NO_EXCLUSIONS;
    for (const rule of rules) {
      if (m.name.startsWith(rule.metricPrefix)) {
        perMetric = rule.tags;
        break;
      }
    }

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
    const tagsField = tagCount > 0 ? `,"tags":[${tagsJson}]` : '';

    let type: string;
    let value = m.value;
    switch (m.type) {
      case InterMetricType.Counter:
        type = 'rate';
        value = m.value / interval;
        break;
      case InterMetricType.Gauge:
        type = 'gauge';
        break;
      case InterMetricType.Status: {
        if (!Number.isFinite(m.value)) {
          dropped++;
          continue;
        }
        // The check's own `h:` (m.hostName) is ignored, as in Go (§14.6).
        let check = `{"check":${goString(m.name)},"status":${goInt(m.value)},"host_name":${goString(host)}`;
        if (Math.trunc(m.timestamp) !== 0) check += `,"timestamp":${goInt(m.timestamp)}`;
        check += tagsField;
        if (m.message !== '') check += `,"message":${goString(m.message)}`;
        checks.push(`${check}}`);
        continue;
      }
      default:
        dropped++;
        continue;
    }
    if (!Number.isFinite(value)) {
      dropped++;
      continue;
    }
    let entry = `{"metric":${goString(m.name)},"points":[[${goFloat(m.timestamp)},${goFloat(value)}]]${tagsField},"type":"${type}"`;
    if (host !== '') entry += `,"host":${goString(host)}`;
    if (device !== '') entry += `,"device_name":${goString(device)}`;
    series.push(`${entry}${intervalField}}`);
  }
  out.skipped += skipped;
  out.dropped += dropped;
}

/** `{"series":[...]}` body for POST /api/v1/series. */
export function renderSeriesBody(entries: readonly string[]): string {
  return `{"series":[${entries.join(',')}]}\n`;
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
