/**
 * DogStatsD events (`_e{...}`, reference §1.3) and service checks (`_sc|...`, §1.4).
 * Rare compared to metrics, so these work on strings; they still never throw:
 * a malformed line returns null and the caller counts it.
 */
import type { DogStatsdEvent } from '../../model/metric.js';
import { canonicalizeTags } from './metric.js';

const PRIORITIES = new Set(['normal', 'low']);
const ALERT_TYPES = new Set(['error', 'warning', 'info', 'success']);

function isInt(s: string): boolean {
  if (s.length === 0) return false;
  let i = s[0] === '-' || s[0] === '+' ? 1 : 0;
  if (i === s.length) return false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function unescapeNewlines(s: string): string {
  return s.includes('\\n') ? s.replaceAll('\\n', '\n') : s;
}

/** Parse a `#` section's tags into Go's map form: `k:v` -> k=v, bare `k` -> k='', later wins. */
function tagMap(raw: string, out: Map<string, string>): void {
  for (const t of raw.split(',')) {
    const i = t.indexOf(':');
    if (i < 0) out.set(t, '');
    else out.set(t.slice(0, i), t.slice(i + 1));
  }
}

/**
 * Parse an event line (bytes [start, end) of buf). `nowSeconds` is used when there is no `d:`.
 * `extendTags` override event tags with the same key.
 */
export function parseEvent(
  buf: Buffer,
  start: number,
  end: number,
  nowSeconds: number,
  extendTags: readonly string[],
): DogStatsdEvent | null {
  const firstPipe = buf.indexOf(124, start);
  if (firstPipe < 0 || firstPipe >= end) return null;
  const colon = buf.indexOf(58, start);
  if (colon < 0 || colon >= firstPipe) return null;
  // header `_e{a,b}`
  if (colon - start < 5 || buf[colon - 1] !== 125 /* } */) return null;
  const header = buf.toString('latin1', start + 3, colon - 1);
  const comma = header.indexOf(',');
  if (comma < 0 || header.indexOf(',', comma + 1) >= 0) return null;
  const ts = header.slice(0, comma);
  const xs = header.slice(comma + 1);
  if (!isInt(ts) || !isInt(xs)) return null;
  const titleLen = Number(ts);
  const textLen = Number(xs);
  if (!(titleLen > 0 && textLen > 0)) return null;
  if (firstPipe - (colon + 1) !== titleLen) return null;
  const textStart = firstPipe + 1;
  let textEnd = buf.indexOf(124, textStart);
  if (textEnd < 0 || textEnd > end) textEnd = end;
  if (textEnd - textStart !== textLen) return null;
  const title = buf.toString('utf8', colon + 1, firstPipe);
  const text = unescapeNewlines(buf.toString('utf8', textStart, textEnd));

  let timestamp = nowSeconds;
  let hostname = '';
  let aggregationKey = '';
  let priority = '';
  let sourceType = '';
  let alertType = '';
  const tags = new Map<string, string>();
  const seen = new Set<string>();
  if (textEnd < end) {
    const rest = buf.toString('utf8', textEnd + 1, end);
    for (const section of rest.split('|')) {
      if (section.length === 0) return null;
      const kind = section[0] === '#' ? '#' : section.slice(0, 2);
      if (seen.has(kind)) return null;
      seen.add(kind);
      switch (kind) {
        case '#':
          tagMap(section.slice(1), tags);
          break;
        case 'd:': {
          const v = section.slice(2);
          if (!isInt(v)) return null;
          timestamp = Number(v);
          break;
        }
        case 'h:':
          hostname = section.slice(2);
          break;
        case 'k:':
          aggregationKey = section.slice(2);
          break;
        case 'p:':
          priority = section.slice(2);
          if (!PRIORITIES.has(priority)) return null;
          break;
        case 's:':
          sourceType = section.slice(2);
          break;
        case 't:':
          alertType = section.slice(2);
          if (!ALERT_TYPES.has(alertType)) return null;
          break;
        default:
          return null;
      }
    }
  }
  for (const t of extendTags) tagMap(t, tags);
  return { title, text, timestamp, hostname, aggregationKey, priority, sourceType, alertType, tags };
}

/** A parsed service check, before aggregation (last write wins per name+tags). */
export interface ParsedServiceCheck {
  readonly name: string;
  readonly status: number;
  readonly message: string;
  readonly hostname: string;
  /** Canonical tags (extend_tags applied, sorted, exact-match magic tag removed). */
  readonly tags: string[];
  readonly magic: 0 | 1 | 2;
}

export function parseServiceCheck(
  buf: Buffer,
  start: number,
  end: number,
  extendTags: readonly string[],
  extendKeys: ReadonlySet<string>,
): ParsedServiceCheck | null {
  const parts = buf.toString('utf8', start, end).split('|');
  if (parts.length < 3 || parts[0] !== '_sc') return null;
  const name = parts[1];
  if (name.length === 0) return null;
  const st = parts[2];
  if (st.length !== 1 || st < '0' || st > '3') return null;
  let message = '';
  let hostname = '';
  let rawTags: string | null = null;
  const seen = new Set<string>();
  for (let i = 3; i < parts.length; i++) {
    const section = parts[i];
    if (section.length === 0) return null;
    if (section.startsWith('m:')) {
      // the message must be the last section; it may not contain `|`
      if (i !== parts.length - 1) return null;
      message = unescapeNewlines(section.slice(2));
      continue;
    }
    const kind = section[0] === '#' ? '#' : section.slice(0, 2);
    if (seen.has(kind)) return null;
    seen.add(kind);
    if (kind === '#') rawTags = section.slice(1);
    else if (kind === 'd:') {
      // parsed and validated, then replaced by the flush time as Go does (§14.6)
      if (!isInt(section.slice(2))) return null;
    } else if (kind === 'h:') hostname = section.slice(2);
    else return null;
  }
  const canon = canonicalizeTags(rawTags, extendTags, extendKeys, true);
  return { name, status: st.charCodeAt(0) - 48, message, hostname, tags: canon.tags, magic: canon.magic };
}
