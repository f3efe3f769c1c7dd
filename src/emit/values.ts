/**
 * Value syntax of veneur-emit's flags, as Go's `flag` package reads them
 * (`-count` is a Go int64 in base 0, `-gauge` a float64, `-timing` a
 * time.Duration), and number formatting as datadog-go writes it.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * strconv.ParseInt(s, 0, 64), which flag.Int64 uses: optional sign, `0x`/`0o`/`0b`
 * prefixes, a leading `0` meaning octal, `_` between digits. null when invalid or
 * out of the int64 range.
 */
export function parseGoInt64(text: string): bigint | null {
  let s = text;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let digits: RegExp;
  let prefix = '';
  let body = s;
  const p = s.slice(0, 2).toLowerCase();
  if (p === '0x' || p === '0o' || p === '0b') {
    prefix = p;
    body = s.slice(2);
    digits =
      p === '0x'
        ? /^_?[0-9a-fA-F]+(_[0-9a-fA-F]+)*$/
        : p === '0o'
          ? /^_?[0-7]+(_[0-7]+)*$/
          : /^_?[01]+(_[01]+)*$/;
  } else if (s.length > 1 && s[0] === '0') {
    prefix = '0o';
    digits = /^[0-7]+(_[0-7]+)*$/;
  } else {
    digits = /^[0-9]+(_[0-9]+)*$/;
  }
  if (!digits.test(body)) return null;
  const v = BigInt(`${prefix}${body.replaceAll('_', '')}`) * (neg ? -1n : 1n);
  return v < INT64_MIN || v > INT64_MAX ? null : v;
}

const DEC_FLOAT = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const HEX_FLOAT = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?[0-9]+)$/;

/**
 * strconv.ParseFloat(s, 64) for finite values: decimal (`1.5`, `.5`, `1e3`, `+2`)
 * and hexadecimal (`0x1p-2`) syntax. Infinity/NaN spellings and out-of-range values
 * (`1e400`) give null: they cannot be sent as DogStatsD values.
 */
export function parseGoFloat(text: string): number | null {
  if (DEC_FLOAT.test(text)) {
    const v = Number(text);
    return Number.isFinite(v) ? v : null;
  }
  const m = HEX_FLOAT.exec(text);
  if (m === null) return null;
  const [, sign, int, frac = ''] = m;
  if (int === '' && frac === '') return null;
  let v = 0;
  for (const c of int + frac) v = v * 16 + Number.parseInt(c, 16);
  v *= 2 ** (Number(m[4]) - 4 * frac.length);
  if (!Number.isFinite(v)) return null;
  return sign === '-' ? -v : v;
}

/**
 * A float64 the way datadog-go writes gauges (strconv.AppendFloat(v, 'f', -1, 64)):
 * the shortest digits that round-trip, never in exponent form — `1.5`, `42`,
 * `1000000000000000000000` for 1e21, `0.000001` for 1e-6.
 */
export function formatFloat(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`cannot format ${v}`);
  if (Object.is(v, -0)) return '-0';
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return String(v);
  // toExponential() without an argument gives the shortest round-trip digits
  const [mant, expText] = v.toExponential().split('e');
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const point = Number(expText) + 1; // digits are 0.d1d2... * 10^point
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return neg ? `-${out}` : out;
}

const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/**
 * time.ParseDuration, exactly, in integer nanoseconds: `300ms`, `-1.5h`, `2h45m`,
 * `1us`, `0`. A unit is required on every number except a lone `0`. null when
 * invalid or outside the int64 nanosecond range (about ±292 years).
 */
export function parseGoDurationNs(text: string): bigint | null {
  let s = text;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return null;
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === '.' || isDigit(s[i]))) return null;
    const intStart = i;
    while (isDigit(s[i])) i++;
    const intPart = s.slice(intStart, i);
    let fracPart = '';
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      while (isDigit(s[i])) i++;
      fracPart = s.slice(fracStart, i);
    }
    if (intPart === '' && fracPart === '') return null;
    const unitStart = i;
    while (i < s.length && !(s[i] === '.' || isDigit(s[i]))) i++;
    const unit = UNIT_NS[s.slice(unitStart, i)];
    if (unit === undefined) return null;
    let v = BigInt(intPart === '' ? '0' : intPart) * unit;
    if (fracPart !== '') v += (BigInt(fracPart) * unit) / 10n ** BigInt(fracPart.length);
    total += v;
    if (total > 2n ** 63n) return null;
  }
  if (neg) return -total;
  return total > INT64_MAX ? null : total;
}

/** Nanoseconds as a decimal number of milliseconds, exact: 1500000n → `1.5`, 3n → `0.000003`. */
export function formatNsAsMs(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const whole = abs / 1_000_000n;
  const frac = (abs % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac === '' ? '' : `.${frac}`}`;
}
