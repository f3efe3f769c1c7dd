/**
 * DogStatsD metric lines (reference §1.2), parsed from bytes in place.
 *
 *   name:value[:value...]|type[|@rate][|#tag,tag][|c:container][|T<unix>][|e:external]
 *
 * The hot path splits a line into three byte ranges without allocating:
 *   name     [start, colon)
 *   values   [colon+1, pipe)
 *   suffix   [pipe, end)        the type and every section after it
 * (name, suffix) identifies the series exactly as the client wrote it, so the
 * aggregator caches by those bytes and only calls parseSuffix on a miss.
 */
import { MetricType } from '../../model/metric.js';
import { ParseError } from './errors.js';
import { parseNumber } from './number.js';

const PIPE = 124;
const COLON = 58;
const AT = 64;
const HASH = 35;

/** Reusable out-parameter of parseSuffix (one per aggregator: no allocation per line). */
export class ParsedSuffix {
  type: MetricType = MetricType.Counter;
  /** Sample rate as written (1 when absent). */
  rate = 1;
  /** Byte range of the tag list after `#`; tagsStart < 0 when there is no tag section. */
  tagsStart = -1;
  tagsEnd = -1;
  /** `T` timestamp field (DogStatsD 1.3), 0 when absent. */
  timestamp = 0;
  /** `c:` container id field present (DogStatsD 1.2). */
  hasContainer = false;
}

/**
 * Find the first `|` in [start, end). Returns -1 if none.
 * A JS loop beats Buffer#indexOf for the short ranges of a metric line.
 */
export function findByte(buf: Uint8Array, byte: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (buf[i] === byte) return i;
  return -1;
}

/**
 * Validate and decode the suffix [pipe, end) (pipe = index of the first `|`).
 * Returns ParseError.None on success and fills `out`.
 */
export function parseSuffix(buf: Uint8Array, pipe: number, end: number, out: ParsedSuffix): ParseError {
  // type chunk: pipe+1 up to the next pipe or end; only its first byte counts (§14.2)
  let i = pipe + 1;
  let next = findByte(buf, PIPE, i, end);
  const typeEnd = next < 0 ? end : next;
  if (typeEnd === i) return ParseError.EmptyType;
  switch (buf[i]) {
    case 99 /* c */:
      out.type = MetricType.Counter;
      break;
    case 103 /* g */:
      out.type = MetricType.Gauge;
      break;
    case 104 /* h */:
    case 100 /* d: DogStatsD distribution, aggregated as a histogram */:
      out.type = MetricType.Histogram;
      break;
    case 109 /* m(s) */:
      out.type = MetricType.Timer;
      break;
    case 115 /* s */:
      out.type = MetricType.Set;
      break;
    default:
      return ParseError.UnknownType;
  }
  out.rate = 1;
  out.tagsStart = -1;
  out.tagsEnd = -1;
  out.timestamp = 0;
  out.hasContainer = false;
  let sawRate = false;
  while (next >= 0) {
    i = next + 1;
    next = findByte(buf, PIPE, i, end);
    const secEnd = next < 0 ? end : next;
    if (secEnd === i) return ParseError.EmptySection;
    const c = buf[i];
    if (c === AT) {
      if (sawRate) return ParseError.MultipleSampleRates;
      sawRate = true;
      const r = parseNumber(buf, i + 1, secEnd);
      // Go parses the rate as float32 and requires 0 < r <= 1 (so 1.00000001 passes)
      const r32 = Math.fround(r);
      if (!(r32 > 0 && r32 <= 1)) return ParseError.BadSampleRate;
      out.rate = Math.min(r, 1);
    } else if (c === HASH) {
      if (out.tagsStart >= 0) return ParseError.MultipleTagSections;
      out.tagsStart = i + 1;
      out.tagsEnd = secEnd;
    } else if (c === 99 /* c */ && secEnd > i + 1 && buf[i + 1] === COLON) {
      // DogStatsD 1.2 container id: accepted and ignored (Go Veneur rejects the line)
      out.hasContainer = true;
    } else if (c === 84 /* T */) {
      // DogStatsD 1.3 timestamp: must be an integer; accepted, aggregated into the current interval
      let ts = 0;
      if (secEnd === i + 1) return ParseError.BadContainerOrTimestamp;
      for (let j = i + 1; j < secEnd; j++) {
        const d = buf[j] - 48;
        if (d < 0 || d > 9) return ParseError.BadContainerOrTimestamp;
        ts = ts * 10 + d;
      }
      out.timestamp = ts;
    } else if (c === 101 /* e */ && secEnd > i + 1 && buf[i + 1] === COLON) {
      // DogStatsD 1.4 external data (origin detection): accepted and ignored
    } else {
      return ParseError.UnknownSection;
    }
  }
  return ParseError.None;
}

/** Magic-tag result of canonicalising a tag list (§2.2). */
export interface CanonicalTags {
  /** Sorted (by UTF-16 code units; byte order for ASCII), extend_tags applied, first magic tag removed. */
  readonly tags: string[];
  /** 0 = none, 1 = veneurlocalonly, 2 = veneurglobalonly (values match Scope). */
  readonly magic: 0 | 1 | 2;
}

/** Key of a tag: the text before the first `:`, or the whole tag. */
export function tagKey(tag: string): string {
  const i = tag.indexOf(':');
  return i < 0 ? tag : tag.slice(0, i);
}

/** Byte-order comparison of strings, as Go's sort.Strings on UTF-8 bytes. */
export function compareBytewise(a: string, b: string): number {
  // UTF-16 order equals UTF-8 byte order except for surrogate pairs vs U+E000..U+FFFF;
  // the fast comparison is right for everything but that corner, which we handle.
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys && (x >= 0xe000 || y >= 0xe000)) return xs ? 1 : -1;
      return x - y;
    }
  }
  return a.length - b.length;
}

/**
 * Turn the raw tag list into the canonical one (slow path, once per new raw series):
 * split on `,` without trimming (empty elements kept), consume the first tag that
 * starts with veneurlocalonly/veneurglobalonly (prefix match, DogStatsD rule),
 * apply extend_tags (they override packet tags with the same key), sort bytewise.
 */
export function canonicalizeTags(
  raw: string | null,
  extendTags: readonly string[],
  extendKeys: ReadonlySet<string>,
  exactMagic = false,
): CanonicalTags {
  let tags: string[] = raw === null ? [] : raw.split(',');
  let magic: 0 | 1 | 2 = 0;
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i];
    const local = exactMagic ? t === 'veneurlocalonly' : t.startsWith('veneurlocalonly');
    const global = !local && (exactMagic ? t === 'veneurglobalonly' : t.startsWith('veneurglobalonly'));
    if (local || global) {
      magic = local ? 1 : 2;
      tags.splice(i, 1);
      break;
    }
  }
  if (extendTags.length > 0) {
    tags = tags.filter((t) => !extendKeys.has(tagKey(t)));
    for (const t of extendTags) tags.push(t);
  }
  tags.sort(compareBytewise);
  return { tags, magic };
}
