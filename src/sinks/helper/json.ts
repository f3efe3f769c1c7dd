/**
 * JSON text exactly as Go's encoding/json writes it, for sinks whose bodies must be
 * byte-compatible with Go Veneur (golden files in /work/shared/golden).
 *
 * Numbers (float64): Go uses strconv 'f' shortest form for 1e-6 <= |x| < 1e21 and
 * 'e' form otherwise, with the exponent's leading zero trimmed (1e-07 -> 1e-7).
 * ECMAScript Number#toString switches to exponent form at exactly the same bounds
 * and also picks the shortest round-tripping digits, and writes exponents the same
 * way (1e+21, 1.5e-7), so the two agree on every finite value except negative zero,
 * which Go writes as `-0` and JS as `0`. NaN and ±Inf are not representable: Go's
 * encoder fails the whole body; callers must drop such values before rendering.
 *
 * Strings: Go escapes `<`, `>`, `&` (HTML-safe mode, the default of json.Marshal and
 * json.Encoder) and U+2028/U+2029, which JSON.stringify leaves raw. Go >= 1.22 writes
 * \b and \f as short escapes, as JSON.stringify does (older Go wrote \u0008, \u000c).
 * Go replaces invalid UTF-8 by \ufffd; the JS equivalent, a lone surrogate, is mapped
 * the same way.
 */

/**
 * ECMAScript's Number-to-String for a finite number (`String(n)`; `-0` gives `0`),
 * without V8's number-string cache. `String(n)`, `${n}` and `'' + n` look the number
 * up in that cache and, on a miss, allocate the new string in the OLD generation,
 * because the cache lives there ("We tenure the allocated string since it is
 * referenced from the number-string cache", V8 factory.cc). A flush renders millions
 * of distinct values: ~10 MB of old-space garbage per 1M-series interval, which is
 * what filled the old generation and forced the periodic major GCs under load
 * (BENCHMARKS.md, "Number strings in the old generation"). JSON.stringify formats a
 * number with the same shortest round-trip digits (the spec defines it by
 * Number::toString) into a young string, and is faster (~100 vs ~170 ns).
 */
export function numberText(n: number): string {
  return JSON.stringify(n);
}

/** Go's encoding/json rendering of a finite float64. */
export function goFloat(n: number): string {
  if (n === 0 && Object.is(n, -0)) return '-0';
  return numberText(n);
}

/** Whether a number can be written as JSON at all (Go's encoder rejects NaN/Inf). */
export function isJsonNumber(n: number): boolean {
  return Number.isFinite(n);
}

// Characters that make a string leave the fast path: quote, backslash, C0 controls,
// the HTML-unsafe three, line/paragraph separators, and surrogates.
const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;
const HEX = '0123456789abcdef';

/** Go's encoding/json rendering of a string (quoted). */
export function goString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let rep: string;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: written raw
        continue;
      }
      rep = '\\ufffd'; // a lone surrogate: Go's treatment of invalid UTF-8
    } else if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = '\\\\';
    else if (c === 0x0a) rep = '\\n';
    else if (c === 0x0d) rep = '\\r';
    else if (c === 0x09) rep = '\\t';
    else if (c === 0x08) rep = '\\b';
    else if (c === 0x0c) rep = '\\f';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) rep = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    else if (c === 0x2028) rep = '\\u2028';
    else if (c === 0x2029) rep = '\\u2029';
    else continue;
    out += s.slice(from, i) + rep;
    from = i + 1;
  }
  return `${out + s.slice(from)}"`;
}

/** Go's rendering of a []string (non-nil). */
export function goStringArray(items: readonly string[]): string {
  let out = '[';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    out += goString(items[i]!);
  }
  return `${out}]`;
}
