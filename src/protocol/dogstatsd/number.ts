/**
 * Number parsing straight from datagram bytes, with Go strconv.ParseFloat's
 * grammar (reference §1.2): optional sign, decimal with optional fraction and
 * exponent, or a hex float with a `p` exponent. No whitespace, no underscores,
 * no `Infinity`/`NaN` (Veneur rejects non-finite values anyway).
 *
 * Returns NaN for anything invalid or non-finite: NaN is never a valid result,
 * so the hot path needs no exception and no second return value.
 */

/** Exact powers of ten representable as doubles (10^0 .. 10^22). */
const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
  1e20, 1e21, 1e22,
];

/**
 * Fast path: `-?digits(.digits)?` with at most 15 significant digits. The mantissa is
 * an exact integer < 2^53 and 10^k is exact, so one IEEE division gives the correctly
 * rounded result: bit-identical to Go's ParseFloat. Everything else takes the slow path.
 */
export function parseNumber(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  if (i >= end) return Number.NaN;
  let neg = false;
  let c = buf[i];
  if (c === 45 /* - */) {
    neg = true;
    i++;
  } else if (c === 43 /* + */) {
    i++;
  }
  let mant = 0;
  let digits = 0;
  let fracDigits = 0;
  let sawDot = false;
  let sawDigit = false;
  for (; i < end; i++) {
    c = buf[i];
    if (c >= 48 && c <= 57) {
      sawDigit = true;
      if (digits > 0 || c !== 48) digits++;
      mant = mant * 10 + (c - 48);
      if (sawDot) fracDigits++;
    } else if (c === 46 /* . */ && !sawDot) {
      sawDot = true;
    } else {
      return parseNumberSlow(buf, start, end);
    }
  }
  if (!sawDigit) return Number.NaN;
  if (digits > 15) return parseNumberSlow(buf, start, end);
  const v = fracDigits === 0 ? mant : mant / POW10[fracDigits];
  return neg ? -v : v;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Slow path: validate Go's grammar by hand, then convert. */
export function parseNumberSlow(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  let neg = false;
  if (i < end && (buf[i] === 43 || buf[i] === 45)) {
    neg = buf[i] === 45;
    i++;
  }
  if (i >= end) return Number.NaN;
  // hex float: 0x mantissa p exponent (the p exponent is mandatory in Go)
  if (end - i > 2 && buf[i] === 48 && (buf[i + 1] === 120 || buf[i + 1] === 88)) {
    i += 2;
    let mant = 0;
    let exp = 0;
    let sawDot = false;
    let sawDigit = false;
    for (; i < end; i++) {
      const c = buf[i];
      const h = hexVal(c);
      if (h >= 0) {
        sawDigit = true;
        mant = mant * 16 + h;
        if (sawDot) exp -= 4;
      } else if (c === 46 && !sawDot) {
        sawDot = true;
      } else break;
    }
    if (!sawDigit || i >= end || (buf[i] !== 112 && buf[i] !== 80)) return Number.NaN;
    i++;
    let eneg = false;
    if (i < end && (buf[i] === 43 || buf[i] === 45)) {
      eneg = buf[i] === 45;
      i++;
    }
    if (i >= end) return Number.NaN;
    let e = 0;
    for (; i < end; i++) {
      const c = buf[i];
      if (!isDigit(c)) return Number.NaN;
      e = e * 10 + (c - 48);
      if (e > 100000) e = 100000;
    }
    const v = mant * 2 ** (exp + (eneg ? -e : e));
    if (!Number.isFinite(v)) return Number.NaN;
    return neg ? -v : v;
  }
  // decimal: digits [. digits] [e [sign] digits]
  const numStart = i;
  let sawDigit = false;
  while (i < end && isDigit(buf[i])) {
    i++;
    sawDigit = true;
  }
  if (i < end && buf[i] === 46) {
    i++;
    while (i < end && isDigit(buf[i])) {
      i++;
      sawDigit = true;
    }
  }
  if (!sawDigit) return Number.NaN;
  if (i < end && (buf[i] === 101 || buf[i] === 69)) {
    i++;
    if (i < end && (buf[i] === 43 || buf[i] === 45)) i++;
    if (i >= end || !isDigit(buf[i])) return Number.NaN;
    while (i < end && isDigit(buf[i])) i++;
  }
  if (i !== end) return Number.NaN;
  let text = '';
  for (let j = numStart; j < end; j++) text += String.fromCharCode(buf[j]);
  const v = Number(text);
  if (!Number.isFinite(v)) return Number.NaN;
  return neg ? -v : v;
}
