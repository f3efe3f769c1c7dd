/**
 * The consistent-hash ring veneur-proxy uses to pick one global per series,
 * identical to Go Veneur's (`stathat.com/c/consistent` v1.0.0, reference §4.1):
 *
 * - each member (a destination address) has 20 points on the circle; point i is the
 *   CRC-32 IEEE of the decimal `i` followed by the address (`"0host:1"`, `"1host:1"`, ...);
 * - a key hashes to CRC-32 IEEE of its bytes; its owner is the member of the first
 *   point strictly greater than the key hash, wrapping to the first (smallest) point;
 * - the circle is a map point -> member: a later member that lands on an occupied
 *   point takes it over, and removing a member deletes all 20 of its point values
 *   whoever owns them now (Go's behaviour; a collision needs two of 20·N 32-bit
 *   CRCs to be equal, so it only matters for being bit-identical).
 *
 * The metric key (reference §4.1) is `name + lowercase(type name) + tags joined by ","`
 * with tags matching any `ignore_tags` matcher left out (for hashing only).
 * `keyHashFromBytes` computes the same hash straight from an encoded metricpb.Metric,
 * over the raw bytes, so the proxy forwards what it received without decoding
 * values or re-encoding.
 */
import type { MetricMessage } from '../protocol/forward/metricpb.js';
import {
  CRC32_INIT,
  crc32Final,
  crc32String,
  crc32Update,
  crc32UpdateByte,
  crc32UpdateString,
} from './crc32.js';
import { matchesAny, type TagMatcher } from './tag-matcher.js';

/** Virtual nodes per member (stathat's NumberOfReplicas default). */
export const REPLICAS = 20;

export class HashRing {
  readonly #replicas: number;
  /** point -> member, as Go's `circle` map. */
  readonly #circle = new Map<number, string>();
  readonly #members = new Set<string>();
  #points: Uint32Array = new Uint32Array(0);
  #owners: string[] = [];

  constructor(replicas = REPLICAS) {
    this.#replicas = replicas;
  }

  /** The ring points of a member (its virtual nodes), in replica order. */
  static pointsOf(member: string, replicas = REPLICAS): number[] {
    const out: number[] = [];
    for (let i = 0; i < replicas; i++) out.push(crc32String(`${i}${member}`));
    return out;
  }

  add(member: string): void {
    if (this.#members.has(member)) return;
    for (const p of HashRing.pointsOf(member, this.#replicas)) this.#circle.set(p, member);
    this.#members.add(member);
    this.#rebuild();
  }

  remove(member: string): void {
    if (!this.#members.has(member)) return;
    for (const p of HashRing.pointsOf(member, this.#replicas)) this.#circle.delete(p);
    this.#members.delete(member);
    this.#rebuild();
  }

  has(member: string): boolean {
    return this.#members.has(member);
  }

  members(): string[] {
    return [...this.#members];
  }

  get size(): number {
    return this.#members.size;
  }

  /** Sorted ring points and their owners (for tests and debugging). */
  points(): { point: number; member: string }[] {
    return Array.from(this.#points, (point, i) => ({ point, member: this.#owners[i]! }));
  }

  /** Owner of a key hash; undefined when the ring is empty. */
  ownerOfHash(hash: number): string | undefined {
    const pts = this.#points;
    const n = pts.length;
    if (n === 0) return undefined;
    // first index with pts[i] > hash (sort.Search), wrapping to 0
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! > hash) hi = mid;
      else lo = mid + 1;
    }
    return this.#owners[lo === n ? 0 : lo];
  }

  /** Owner of a key string (hashed as its UTF-8 bytes). */
  get(key: string): string | undefined {
    return this.ownerOfHash(crc32String(key));
  }

  #rebuild(): void {
    const pts = Uint32Array.from(this.#circle.keys()).sort();
    this.#points = pts;
    this.#owners = Array.from(pts, (p) => this.#circle.get(p)!);
  }
}

// ---------------------------------------------------------------------------
// Metric keys

const TYPE_NAMES = ['counter', 'gauge', 'histogram', 'set', 'timer'];

/** lowercase(metricpb.Type.String()): Go prints an unknown enum value as its number. */
export function typeKeyName(type: number): string {
  return TYPE_NAMES[type] ?? String(type);
}

/** The hash key of a metric, as Go builds it: name + lowercase(type) + kept tags joined by ",". */
export function hashKey(
  m: Pick<MetricMessage, 'name' | 'type' | 'tags'>,
  ignore: readonly TagMatcher[] = [],
): string {
  const tags = ignore.length === 0 ? m.tags : m.tags.filter((t) => !matchesAny(ignore, t));
  return `${m.name}${typeKeyName(m.type)}${tags.join(',')}`;
}

/** CRC-32 of hashKey(m, ignore), without building the string. */
export function keyHash(
  m: Pick<MetricMessage, 'name' | 'type' | 'tags'>,
  ignore: readonly TagMatcher[] = [],
): number {
  let c = crc32UpdateString(CRC32_INIT, m.name);
  c = crc32UpdateString(c, typeKeyName(m.type));
  let first = true;
  for (const t of m.tags) {
    if (ignore.length > 0 && matchesAny(ignore, t)) continue;
    if (!first) c = crc32UpdateByte(c, 0x2c);
    first = false;
    c = crc32UpdateString(c, t);
  }
  return crc32Final(c);
}

// Scratch for keyHashFromBytes: tag [start, end) pairs. Single-threaded, never re-entered.
let tagRanges = new Int32Array(64);
const utf8 = new TextDecoder('utf-8');

/**
 * keyHash computed from an encoded metricpb.Metric (fields 1 name, 2 tags, 3 type;
 * everything else skipped). Proto semantics: the last `name`/`type` wins, tags in
 * order. Hashes the raw bytes as Go does. Returns -1 for a malformed message.
 */
export function keyHashFromBytes(buf: Uint8Array, ignore: readonly TagMatcher[] = []): number {
  const end = buf.length;
  let pos = 0;
  let nameStart = 0;
  let nameEnd = 0;
  let type = 0;
  let nTags = 0;
  while (pos < end) {
    // tag varint (fits 32 bits for any valid field)
    let key = 0;
    let shift = 0;
    let b: number;
    do {
      if (pos >= end || shift > 28) return -1;
      b = buf[pos++]!;
      key |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    key >>>= 0;
    const field = key >>> 3;
    const wt = key & 7;
    if (field === 0) return -1;
    if (wt === 0) {
      // varint: up to 10 bytes; keep the low 32 bits (enough for an enum)
      let v = 0;
      let s = 0;
      let n = 0;
      do {
        if (pos >= end || n === 10) return -1;
        b = buf[pos++]!;
        if (s < 32) v |= (b & 0x7f) << s;
        s += 7;
        n++;
      } while (b & 0x80);
      if (field === 3) type = v >>> 0;
    } else if (wt === 2) {
      let len = 0;
      let s = 0;
      do {
        if (pos >= end || s > 28) return -1;
        b = buf[pos++]!;
        len += (b & 0x7f) * 2 ** s;
        s += 7;
      } while (b & 0x80);
      const start = pos;
      const stop = pos + len;
      if (stop > end) return -1;
      if (field === 1) {
        nameStart = start;
        nameEnd = stop;
      } else if (field === 2) {
        if (nTags * 2 + 2 > tagRanges.length) {
          const bigger = new Int32Array(tagRanges.length * 2);
          bigger.set(tagRanges);
          tagRanges = bigger;
        }
        tagRanges[nTags * 2] = start;
        tagRanges[nTags * 2 + 1] = stop;
        nTags++;
      }
      pos = stop;
    } else if (wt === 1) {
      pos += 8;
    } else if (wt === 5) {
      pos += 4;
    } else {
      return -1; // groups (3, 4) and invalid wire types
    }
  }
  if (pos !== end) return -1;
  let c = crc32Update(CRC32_INIT, buf, nameStart, nameEnd);
  c = crc32UpdateString(c, typeKeyName(type));
  let first = true;
  for (let i = 0; i < nTags; i++) {
    const s = tagRanges[i * 2]!;
    const e = tagRanges[i * 2 + 1]!;
    if (ignore.length > 0 && matchesAny(ignore, utf8.decode(buf.subarray(s, e)))) continue;
    if (!first) c = crc32UpdateByte(c, 0x2c);
    first = false;
    c = crc32Update(c, buf, s, e);
  }
  return crc32Final(c);
}
