/**
 * DogStatsD packets as veneur-emit writes them (reference §1.2–1.4, §9.2): metric
 * lines, events (`_e{len,len}:title|text|...`) and service checks
 * (`_sc|name|status|...|m:msg`). Pure formatting; validation is in options.ts.
 */

/**
 * A comma-separated tag list (`k:v,k2`) as a map from key (text before the first
 * `:`) to the whole tag, skipping empty elements. As in Go, a later tag with the
 * same key replaces an earlier one; unlike Go (a map, so random order, and a bare
 * `k2` written back as `k2:`), the order of first appearance is kept and bare tags
 * stay bare.
 */
export function parseTags(csv: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const tag of csv.split(',')) {
    if (tag === '') continue;
    const colon = tag.indexOf(':');
    tags.set(colon < 0 ? tag : tag.slice(0, colon), tag);
  }
  return tags;
}

/** Merge tag lists; later lists override earlier ones by key (`-tag` over `-e_event_tags`). */
export function mergeTags(...lists: readonly string[]): string[] {
  const merged = new Map<string, string>();
  for (const list of lists) for (const [k, tag] of parseTags(list)) merged.set(k, tag);
  return [...merged.values()];
}

const tagSection = (tags: readonly string[]): string => (tags.length > 0 ? `|#${tags.join(',')}` : '');

export type MetricType = 'c' | 'g' | 'ms' | 's' | 'h';

export interface MetricLine {
  readonly name: string;
  /** Already formatted value: an int64, a float, milliseconds or a set member. */
  readonly value: string;
  readonly type: MetricType;
  readonly tags: readonly string[];
}

/** `name:value|type|#tags` */
export function formatMetricLine(m: MetricLine): string {
  return `${m.name}:${m.value}|${m.type}${tagSection(m.tags)}`;
}

export interface EventPacket {
  readonly title: string;
  /** May contain real newlines; they are written as the two bytes `\n`. */
  readonly text: string;
  /** `d:` unix seconds */
  readonly timestamp?: string;
  readonly hostname?: string;
  readonly aggregationKey?: string;
  readonly priority?: string;
  readonly sourceType?: string;
  readonly alertType?: string;
  readonly tags: readonly string[];
}

const escapeNewlines = (s: string): string => s.replaceAll('\n', '\\n');

/**
 * `_e{<title bytes>,<text bytes>}:title|text[|d:][|h:][|k:][|p:][|s:][|t:][|#tags]`.
 * The text length is the byte length of the text AS SENT, i.e. after newline
 * escaping (Go veneur-emit counts before escaping, so any event whose text has a
 * newline is rejected by the server's length check).
 */
export function formatEvent(e: EventPacket): string {
  const text = escapeNewlines(e.text);
  let out = `_e{${Buffer.byteLength(e.title)},${Buffer.byteLength(text)}}:${e.title}|${text}`;
  if (e.timestamp !== undefined) out += `|d:${e.timestamp}`;
  if (e.hostname !== undefined) out += `|h:${e.hostname}`;
  if (e.aggregationKey !== undefined) out += `|k:${e.aggregationKey}`;
  if (e.priority !== undefined) out += `|p:${e.priority}`;
  if (e.sourceType !== undefined) out += `|s:${e.sourceType}`;
  if (e.alertType !== undefined) out += `|t:${e.alertType}`;
  return out + tagSection(e.tags);
}

export interface ServiceCheckPacket {
  readonly name: string;
  /** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN */
  readonly status: 0 | 1 | 2 | 3;
  readonly timestamp?: string;
  readonly hostname?: string;
  readonly tags: readonly string[];
  /** May contain real newlines (written as `\n`); always the last section. */
  readonly message?: string;
}

/** `_sc|name|status[|d:][|h:][|#tags][|m:message]` */
export function formatServiceCheck(c: ServiceCheckPacket): string {
  let out = `_sc|${c.name}|${c.status}`;
  if (c.timestamp !== undefined) out += `|d:${c.timestamp}`;
  if (c.hostname !== undefined) out += `|h:${c.hostname}`;
  out += tagSection(c.tags);
  if (c.message !== undefined) out += `|m:${escapeNewlines(c.message)}`;
  return out;
}

/** Status names accepted by `-sc_status` besides the digits. */
export const SC_STATUS: Readonly<Record<string, 0 | 1 | 2 | 3>> = {
  '0': 0,
  '1': 1,
  '2': 2,
  '3': 3,
  OK: 0,
  WARNING: 1,
  CRITICAL: 2,
  UNKNOWN: 3,
};
