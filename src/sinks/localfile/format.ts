/**
 * The archive row format shared by Go Veneur's localfile and s3 sinks (reference §5.7,
 * §5.8): one delimited row per InterMetric, quoted as Go's encoding/csv quotes, with
 * the columns
 *
 *   Name, Tags, MetricType, VeneurHostname, Interval, Timestamp, Value, Partition
 *
 *   Tags        `{` + tags joined with `,` + `}` (no escaping inside: Go's rendering)
 *   MetricType  `rate` (counters) | `gauge` (gauges); status checks have no row
 *   Interval    the flush interval in seconds
 *   Timestamp   `YYYY-MM-DD HH:MM:SS` UTC, 24-hour clock
 *   Value       counters divided by the interval; Go's strconv.FormatFloat(v, 'f', -1, 64)
 *   Partition   `YYYYMMDD` UTC of the row's timestamp
 *
 * Rows end in `\n` (encoding/csv without UseCRLF). Nothing here does I/O.
 */
import { type InterMetric, InterMetricType } from '../../model/metric.js';
import { numberText } from '../helper/json.js';

/**
 * Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest digits that read back as `v`,
 * never in exponent form; `NaN`, `+Inf`, `-Inf`; negative zero is `-0`.
 */
export function formatFloatF(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  // JS also prints the shortest round-trip digits; it only switches to exponent form
  // below 1e-6 and from 1e21 up, which is laid out in full here.
  const s = numberText(Math.abs(v));
  const e = s.indexOf('e');
  if (e === -1) return sign + s;
  const mantissa = s.slice(0, e);
  const exponent = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot === -1 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const point = (dot === -1 ? mantissa.length : dot) + exponent;
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad4(n: number): string {
  return n < 0 ? `-${String(-n).padStart(4, '0')}` : String(n).padStart(4, '0');
}

/** Unix seconds -> `2006-01-02 15:04:05` (UTC, 24-hour) and `20060102` (UTC). */
export function formatTimestamp(unixSeconds: number): { timestamp: string; partition: string } {
  const d = new Date(Math.floor(unixSeconds) * 1000);
  const date = `${pad4(d.getUTCFullYear())}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  return {
    timestamp: `${date} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`,
    partition: `${pad4(d.getUTCFullYear())}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}`,
  };
}

/** unicode.IsSpace, which encoding/csv applies to a field's first rune. */
function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return (cp >= 0x09 && cp <= 0x0d) || cp === 0x20 || cp === 0x85 || cp === 0xa0;
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/**
 * One field as Go's csv.Writer writes it: quoted when it contains the delimiter, a
 * double quote, CR or LF, when it starts with a space character, or when it is
 * exactly `\.`; inside quotes `"` is doubled and everything else is kept as is
 * (CR and LF included, since UseCRLF is off).
 */
export class CsvFieldWriter {
  readonly delimiter: string;
  readonly #special: RegExp;

  constructor(delimiter: string) {
    this.delimiter = delimiter;
    const cp = delimiter.codePointAt(0)!;
    this.#special = new RegExp(`["\\r\\n\\u{${cp.toString(16)}}]`, 'u');
  }

  needsQuotes(field: string): boolean {
    if (field === '') return false;
    if (field === '\\.') return true;
    if (this.#special.test(field)) return true;
    return isGoSpace(field.codePointAt(0)!);
  }

  field(field: string): string {
    return this.needsQuotes(field) ? `"${field.replaceAll('"', '""')}"` : field;
  }

  /** A whole row, newline-terminated. */
  row(fields: readonly string[]): string {
    let out = '';
    for (let i = 0; i < fields.length; i++) {
      if (i > 0) out += this.delimiter;
      out += this.field(fields[i]!);
    }
    return `${out}\n`;
  }
}

export interface RowEncoderOptions {
  readonly delimiter: string;
  /** The VeneurHostname column (ctx.hostname). */
  readonly hostname: string;
  /** Flush interval in seconds: the Interval column and the counter divisor. */
  readonly intervalSeconds: number;
}

/** Encodes InterMetrics into rows; caches what is constant within a flush. */
export class RowEncoder {
  readonly #csv: CsvFieldWriter;
  readonly #interval: number;
  readonly #d: string;
  readonly #hostname: string;
  readonly #intervalField: string;
  readonly #rate: string;
  readonly #gauge: string;
  #lastTs = Number.NaN;
  #lastTimestamp = '';
  #lastPartition = '';

  constructor(opts: RowEncoderOptions) {
    this.#csv = new CsvFieldWriter(opts.delimiter);
    this.#d = opts.delimiter;
    this.#interval = opts.intervalSeconds;
    this.#hostname = this.#csv.field(opts.hostname);
    this.#intervalField = this.#csv.field(formatFloatF(opts.intervalSeconds));
    this.#rate = this.#csv.field('rate');
    this.#gauge = this.#csv.field('gauge');
  }

  /** The row for one record, or undefined for records the format has no row for (status checks). */
  encode(m: InterMetric): string | undefined {
    let type: string;
    let value = m.value;
    switch (m.type) {
      case InterMetricType.Counter:
        type = this.#rate;
        // A rate per second. Go divides by an interval of 0 here (§14.12); an interval
        // that is not positive (never configured so) leaves the count as is.
        if (this.#interval > 0) value = value / this.#interval;
        break;
      case InterMetricType.Gauge:
        type = this.#gauge;
        break;
      default:
        return undefined;
    }
    const csv = this.#csv;
    const d = this.#d;
    if (m.timestamp !== this.#lastTs) {
      const t = formatTimestamp(m.timestamp);
      // a flush's records normally share one timestamp: format it once
      this.#lastTs = m.timestamp;
      this.#lastTimestamp = csv.field(t.timestamp);
      this.#lastPartition = csv.field(t.partition);
    }
    return (
      csv.field(m.name) +
      d +
      csv.field(`{${m.tags.join(',')}}`) +
      d +
      type +
      d +
      this.#hostname +
      d +
      this.#intervalField +
      d +
      this.#lastTimestamp +
      d +
      csv.field(formatFloatF(value)) +
      d +
      this.#lastPartition +
      '\n'
    );
  }
}
