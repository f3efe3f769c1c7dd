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
import { goFloat, goString, goStringArray, numberText } from '../helper/json.js';

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

const NO_EXCLUSIONS: readonly string[] = [];

function hasPrefixIn(s: string, prefixes: readonly string[]): boolean {
  for (const p of prefixes) if (s.startsWith(p)) return true;
  return false;
}

/** Go's int64(x) for a float64 JSON field typed as an integer. */
function goInt(x: number): string {
  return numberText(Math.trunc(x)); // -0 gives '0', as Go's int64(-0.5) does
}

/** The record's tags after exclusions, with `host:`/`device:` lifted out (Go: last one wins). */
interface TagParts {
  host: string;
  device: string;
  /** `,"tags":[...]` or '' */
  tagsField: string;
}

/** The tag-exclusion prefixes that apply to a metric name (first matching rule). */
function exclusionsFor(name: string, opts: FinalizeOptions): readonly string[] {
  for (const rule of opts.excludeTagsPrefixByPrefixMetric) {
    if (name.startsWith(rule.metricPrefix)) return rule.tags;
  }
  return NO_EXCLUSIONS;
}

function tagParts(tags: readonly string[], perMetric: readonly string[], opts: FinalizeOptions): TagParts {
  const global = opts.excludedTags;
  let host = '';
  let device = '';
  let tagsJson = '';
  let tagCount = 0;
  for (const tag of tags) {
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

/** Value Datadog gets for a series record, or NaN if it is not a series type. */
function seriesValue(m: InterMetric, interval: number): number {
  if (m.type === InterMetricType.Counter) return m.value / interval;
  if (m.type === InterMetricType.Gauge) return m.value;
  return Number.NaN;
}

/** Counts of what a flush's records became, besides the series posted. */
export interface Finalized {
  /** Records that became series entries. */
  series: number;
  /** One rendered DDServiceCheck per entry. */
  readonly checks: string[];
  /** Dropped on purpose by configuration (`metric_name_prefix_drops`). */
  skipped: number;
  /** Not representable: NaN/±Inf values (Go's encoder would fail the whole body), unknown types. */
  dropped: number;
}

/**
 * Body buffers are reused across bodies and flushes: at 1M series a flush renders
 * ~300 MB of JSON, and allocating it as strings or fresh Buffers (old-space and
 * external memory) forced a full mark of the 1 GB heap every couple of seconds
 * (BENCHMARKS.md, "Flush of 1M series"). Entries are rendered as small strings that
 * die young and copied straight into a pooled buffer.
 */
const BODY_BUFFER_BYTES = 4 << 20;
const POOL_MAX = 8;
const freeBodyBuffers: Buffer[] = [];

function takeBodyBuffer(): Buffer {
  return freeBodyBuffers.pop() ?? Buffer.allocUnsafe(BODY_BUFFER_BYTES);
}

function releaseBodyBuffer(buf: Buffer): void {
  if (freeBodyBuffers.length < POOL_MAX) freeBodyBuffers.push(buf);
}

/** Text gathered before it is copied into the body buffer (keeps the copies few and the strings young). */
const FLUSH_TEXT_CHARS = 16 * 1024;

/**
 * Datadog's view of a flush, record by record as chunks arrive (reference §5.1):
 * drop names with a prefix in `metric_name_prefix_drops`, exclude tags, turn
 * `host:`/`device:` tags into fields (checked after exclusion, last one wins),
 * counters -> `rate` (value / interval), gauges -> `gauge`, status -> service
 * checks. Series entries are rendered at once into `{"series":[...]}` bodies of at
 * most `maxPerBody` entries, handed to `onBody` as UTF-8 bytes when full (and at
 * `end`), with a `release` to call once the bytes are no longer needed.
 *
 * Go splits a flush into ceil(n / max) bodies of equal size; a stream's n is not
 * known until it ends, so bodies here are full, full, ..., remainder
 * (docs/compatibility.md). Up to `maxPerBody` entries both give one identical body.
 */
export class SeriesBodyWriter implements Finalized {
  series = 0;
  readonly checks: string[] = [];
  skipped = 0;
  dropped = 0;
  readonly #opts: FinalizeOptions;
  readonly #max: number;
  readonly #onBody: (body: Buffer, entries: number, release: () => void) => void;
  readonly #intervalField: string;
  #text = '';
  #lastTags: readonly string[] | null = null;
  #lastRule: readonly string[] = NO_EXCLUSIONS;
  #rateTail = '';
  #gaugeTail = '';
  #lastTs = Number.NaN;
  #tsText = '';
  #buf: Buffer | null = null;
  #len = 0;
  #entries = 0;

  constructor(
    opts: FinalizeOptions,
    maxPerBody: number,
    onBody: (body: Buffer, entries: number, release: () => void) => void,
  ) {
    this.#opts = opts;
    // <= 0 (or NaN) means "no limit" (Go divides by it unchecked, §14.11)
    this.#max = maxPerBody > 0 ? Math.floor(maxPerBody) || 1 : Number.POSITIVE_INFINITY;
    this.#onBody = onBody;
    const interval = opts.intervalSeconds;
    // Go: Interval int32 `json:"interval,omitempty"` = int32(interval seconds).
    this.#intervalField = Math.trunc(interval) !== 0 ? `,"interval":${goInt(interval)}` : '';
  }

  /** Classify and render one chunk of records. */
  write(chunk: readonly InterMetric[]): void {
    const opts = this.#opts;
    const interval = opts.intervalSeconds;
    const drops = opts.metricNamePrefixDrops;
    for (let i = 0; i < chunk.length; i++) {
      const m = chunk[i]!;
      if (drops.length > 0 && hasPrefixIn(m.name, drops)) {
        this.skipped++;
        continue;
      }
      if (m.type === InterMetricType.Status) {
        if (!Number.isFinite(m.value)) {
          this.dropped++;
          continue;
        }
        // The check's own `h:` (m.hostName) is ignored, as in Go (§14.6).
        const t = tagParts(m.tags, exclusionsFor(m.name, opts), opts);
        let check = `{"check":${goString(m.name)},"status":${goInt(m.value)},"host_name":${goString(t.host)}`;
        if (Math.trunc(m.timestamp) !== 0) check += `,"timestamp":${goInt(m.timestamp)}`;
        check += t.tagsField;
        if (m.message !== '') check += `,"message":${goString(m.message)}`;
        this.checks.push(`${check}}`);
        continue;
      }
      // unknown types and NaN/±Inf values (Go's encoder would fail the whole body)
      const value = seriesValue(m, interval);
      if (!Number.isFinite(value)) {
        this.dropped++;
        continue;
      }
      // everything after the point depends only on (tags, exclusion rule, type): the
      // records of one histogram share it, so it is rendered once per series, not per record
      const perMetric =
        opts.excludeTagsPrefixByPrefixMetric.length > 0 ? exclusionsFor(m.name, opts) : NO_EXCLUSIONS;
      if (m.tags !== this.#lastTags || perMetric !== this.#lastRule) {
        const t = tagParts(m.tags, perMetric, opts);
        let fields = '';
        if (t.host !== '') fields += `,"host":${goString(t.host)}`;
        if (t.device !== '') fields += `,"device_name":${goString(t.device)}`;
        this.#rateTail = `${t.tagsField},"type":"rate"${fields}${this.#intervalField}}`;
        this.#gaugeTail = `${t.tagsField},"type":"gauge"${fields}${this.#intervalField}}`;
        this.#lastTags = m.tags;
        this.#lastRule = perMetric;
      }
      if (m.timestamp !== this.#lastTs) {
        this.#lastTs = m.timestamp;
        this.#tsText = `,"points":[[${goFloat(m.timestamp)},`;
      }
      const tail = m.type === InterMetricType.Counter ? this.#rateTail : this.#gaugeTail;
      const entry = `{"metric":${goString(m.name)}${this.#tsText}${goFloat(value)}]]${tail}`;
      this.#text += this.#entries === 0 ? `{"series":[${entry}` : `,${entry}`;
      this.series++;
      if (++this.#entries === this.#max) this.#closeBody();
      else if (this.#text.length >= FLUSH_TEXT_CHARS) this.#copyText();
    }
    if (this.#text !== '') this.#copyText();
  }

  /** No more records: hand over the last, partly filled body. */
  end(): void {
    if (this.#entries > 0) this.#closeBody();
  }

  /** Move the gathered text into the body buffer (growing it if needed). */
  #copyText(): void {
    const text = this.#text;
    this.#text = '';
    let buf = this.#buf ?? takeBodyBuffer();
    const worst = this.#len + text.length * 3;
    if (worst > buf.length) {
      let size = buf.length * 2;
      while (size < worst) size *= 2;
      const bigger = Buffer.allocUnsafe(size);
      buf.copy(bigger, 0, 0, this.#len);
      releaseBodyBuffer(buf);
      buf = bigger;
    }
    this.#len += buf.write(text, this.#len, 'utf8');
    this.#buf = buf;
  }

  #closeBody(): void {
    this.#text += ']}\n';
    this.#copyText();
    const buf = this.#buf!;
    const body = buf.subarray(0, this.#len);
    const entries = this.#entries;
    this.#buf = null;
    this.#len = 0;
    this.#entries = 0;
    let released = false;
    this.#onBody(body, entries, () => {
      if (released) return;
      released = true;
      // a grown buffer goes back too: the next big flush needs it again
      releaseBodyBuffer(buf);
    });
  }
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
