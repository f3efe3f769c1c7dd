/**
 * The only hot mutable state: one interval's series, fed synchronously from
 * socket callbacks (DESIGN.md "The hot path"): no Promise, closure or throw per
 * packet or line; bad input returns a ParseError that is counted.
 *
 * Per line: find `|` and `:`, hash (name ++ suffix) bytes, look the raw key up in
 * the KeyTable (canonicalise tags and build strings only on a miss), parse the
 * value(s), update the series. `swap()` hands the interval's series to the
 * flusher in O(1): the KeyTable and the per-key slots survive, and attach lazily
 * to the new interval's series (generation check).
 */
import type { DogStatsdEvent } from '../model/metric.js';
import { MetricType, Scope } from '../model/metric.js';
import {
  PACKET_TYPE_NAMES,
  PARSE_ERROR_CAUSES,
  PacketType,
  ParseError,
} from '../protocol/dogstatsd/errors.js';
import { parseEvent, parseServiceCheck } from '../protocol/dogstatsd/event.js';
import {
  canonicalizeTags,
  compareBytewise,
  findByte,
  ParsedSuffix,
  parseSuffix,
  tagKey,
} from '../protocol/dogstatsd/metric.js';
import { parseNumber } from '../protocol/dogstatsd/number.js';
import { KeyEntry, KeyTable, SeriesSlot } from './key-table.js';
import {
  type AnySeries,
  type CounterSeries,
  type GaugeSeries,
  type HistogramSeries,
  SeriesPool,
  type SetSeries,
  type StatusSeries,
  seriesKey,
} from './series.js';
import { MergingDigest } from './sketches/tdigest.js';
import type { SeriesState } from './state.js';
import { HIST_FIELDS, parseSeriesKey, type StateBatch } from './state-batch.js';

const PIPE = 124;
const COLON = 58;
const NEWLINE = 10;
const N_CAUSES = 32;

/** Transports, for `veneur.listen.received_per_protocol_total{protocol}` (reference §8.2 names). */
export const Protocol = { DogstatsdUdp: 0, DogstatsdTcp: 1, DogstatsdUnix: 2, DogstatsdUnixgram: 3 } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];
// Go's `dogstatsd-unix` is its unixgram listener; unix *stream* statsd is ours alone
const PROTOCOL_NAMES: readonly string[] = [
  'dogstatsd-udp',
  'dogstatsd-tcp',
  'dogstatsd-unix-stream',
  'dogstatsd-unix',
];
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

/** Series merged per slice by importStateBatchSliced (a few ms). */
const IMPORT_SLICE = 20_000;

/** Distinct tag sets kept for sharing; past this the table starts over (sharing is only an optimisation). */
const MAX_TAG_SETS = 100_000;

/**
 * `s` as one flat string that does not point into a larger one: V8 keeps the whole
 * parent of a sliced string alive (for tags, the raw text of the line that created the
 * series) and keeps concatenations as trees. Slicing a fresh concatenation flattens
 * it into a new string of its own.
 */
function flatCopy(s: string): string {
  return s.length < 13 ? s : ` ${s}`.slice(1);
}

/** Index of the first newline in [start, limit), or limit. */
function findEnd(buf: Uint8Array, start: number, limit: number): number {
  const i = findByte(buf, NEWLINE, start, limit);
  return i < 0 ? limit : i;
}

export interface AggregatorOptions {
  /** config extend_tags (empty entries already removed) */
  readonly extendTags: readonly string[];
  /** config metric_max_length: longer datagrams are dropped whole (§1.5) */
  readonly metricMaxLength: number;
  /**
   * Series per interval beyond which new series are dropped and counted
   * (`max_series`; 0 = unlimited). Existing series keep aggregating and
   * self-telemetry always gets through: memory stays bounded under a
   * cardinality explosion.
   */
  readonly maxSeries?: number;
  /** Max events kept per interval; more are dropped and counted. */
  readonly maxEventsPerInterval?: number;
  /** Clock in unix seconds (tests inject one). */
  readonly nowSeconds?: () => number;
}

/** Iterates items[first, n), then items[0, first). */
class RotatedIterator implements IterableIterator<AnySeries> {
  #k = 0;
  constructor(
    private readonly items: readonly AnySeries[],
    private readonly n: number,
    private readonly first: number,
  ) {}
  next(): IteratorResult<AnySeries> {
    if (this.#k >= this.n) return { value: undefined, done: true };
    let i = this.first + this.#k++;
    if (i >= this.n) i -= this.n;
    return { value: this.items[i]!, done: false };
  }
  [Symbol.iterator](): IterableIterator<AnySeries> {
    return this;
  }
}

/**
 * One interval's series: items[0, size) in the order they were first touched.
 * Iteration starts at `first`, the series the swap itself recorded (the
 * interval's own ingest counters, `veneur.worker.metrics_processed_total` and the
 * packet errors), then goes on from 0. A flush cut at its deadline loses its last
 * series, and these are what explain the cut; at the end of the list they were
 * always the ones lost.
 */
export class SeriesList implements Iterable<AnySeries> {
  #items: readonly AnySeries[];
  #n: number;
  #first: number;
  constructor(items: readonly AnySeries[], n = items.length, first = n) {
    this.#items = items;
    this.#n = n;
    this.#first = Math.min(first, n);
  }
  get size(): number {
    return this.#n;
  }
  values(): IterableIterator<AnySeries> {
    return new RotatedIterator(this.#items, this.#n, this.#first);
  }
  [Symbol.iterator](): IterableIterator<AnySeries> {
    return this.values();
  }
  /** Series [from, to) as an array. */
  slice(from: number, to: number): AnySeries[] {
    return this.#items.slice(from, Math.min(to, this.#n));
  }
  /** The series with this canonical key (a linear scan: for tests and tools, not hot paths). */
  get(key: string): AnySeries | undefined {
    for (let i = 0; i < this.#n; i++) if (this.#items[i]!.key === key) return this.#items[i];
    return undefined;
  }
  /** Hand the backing array over for reuse; the list is empty afterwards. */
  detach(): readonly AnySeries[] {
    const items = this.#items;
    this.#items = [];
    this.#n = 0;
    this.#first = 0;
    return items;
  }
}

/** What one interval produced, handed to the flusher. */
export interface Snapshot {
  readonly series: SeriesList;
  readonly events: readonly DogStatsdEvent[];
}

/** The scope a series is keyed and flushed under, from its type and magic tag (§2.2, §2.4). */
export function effectiveScope(type: MetricType, magic: 0 | 1 | 2): Scope {
  switch (type) {
    case MetricType.Counter:
    case MetricType.Gauge:
      // local-only and mixed counters/gauges behave identically (flushed here, never forwarded)
      return magic === 2 ? Scope.Global : Scope.Mixed;
    case MetricType.Set:
      // global-only sets behave as mixed (forwarded, flushed by the global)
      return magic === 1 ? Scope.Local : Scope.Mixed;
    case MetricType.Status:
      return Scope.Local;
    default:
      return magic as Scope;
  }
}

export class Aggregator {
  readonly #extendTags: readonly string[];
  readonly #extendKeys: ReadonlySet<string>;
  readonly #maxLength: number;
  readonly #maxEvents: number;
  readonly #maxSeries: number;
  readonly #now: () => number;
  readonly #table = new KeyTable(4096);
  readonly #suffix = new ParsedSuffix();
  readonly #pool = new SeriesPool();
  /** Interned canonical tag sets, by joined text. */
  readonly #tagSets = new Map<string, readonly string[]>();
  /** Canonical key -> slot, across intervals (pruned with the raw-key table). */
  #slots = new Map<string, SeriesSlot>();
  /**
   * This interval's series, in first-touch order: [0, #count) of an array sized
   * from the last interval (one allocation, no growth copies: pushing a million
   * series copied ~30 MB per interval, all of it promoted).
   */
  #list: AnySeries[] = [];
  #count = 0;
  /** A flushed interval's list array, given back by releaseList for the next swap. */
  #spareList: AnySeries[] | null = null;
  #events: DogStatsdEvent[] = [];
  #gen = 0;
  /** Wall-clock ms of the packet being ingested (gauges record it for cross-worker merges). */
  #clock = 0;
  /** errors[packetType * N_CAUSES + cause] */
  readonly #errors = new Float64Array(4 * N_CAUSES);
  #processed = 0;
  #eventsDropped = 0;
  /** packets (datagrams, or lines of stream transports) received per Protocol */
  readonly #packets = new Float64Array(PROTOCOL_NAMES.length);
  /** cache for internal (self-telemetry) metric identities */
  readonly #internalKeys = new Map<string, { name: string; tags: readonly string[]; key: string }>();

  constructor(opts: AggregatorOptions) {
    this.#extendTags = opts.extendTags.filter((t) => t !== '');
    this.#extendKeys = new Set(this.#extendTags.map(tagKey));
    this.#maxLength = opts.metricMaxLength;
    this.#maxEvents = opts.maxEventsPerInterval ?? 10_000;
    this.#maxSeries =
      opts.maxSeries !== undefined && opts.maxSeries > 0 ? opts.maxSeries : Number.POSITIVE_INFINITY;
    this.#now = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Number of series in the current interval. */
  get seriesCount(): number {
    return this.#count;
  }

  /** Samples accepted in the current interval. */
  get processed(): number {
    return this.#processed;
  }

  /** Total errors counted in the current interval for (packetType, cause). */
  errorCount(packetType: PacketType, cause: ParseError): number {
    return this.#errors[packetType * N_CAUSES + cause];
  }

  /** Total errors counted in the current interval. */
  get errorTotal(): number {
    let s = 0;
    for (let i = 0; i < this.#errors.length; i++) s += this.#errors[i];
    return s;
  }

  /** One datagram (UDP, unixgram): `\n`-separated lines, empty lines ignored. */
  ingestPacket(buf: Buffer, len: number = buf.length, protocol: Protocol = Protocol.DogstatsdUdp): void {
    this.#packets[protocol]++;
    if (len > this.#maxLength) {
      this.#errors[PacketType.Unknown * N_CAUSES + ParseError.TooLong]++;
      return;
    }
    this.#clock = Date.now();
    let i = 0;
    while (i < len) i = this.#line(buf, i, len) + 1;
  }

  /** A datagram the transport already found longer than metric_max_length (dropped whole). */
  countTooLong(protocol: Protocol): void {
    this.#packets[protocol]++;
    this.#errors[PacketType.Unknown * N_CAUSES + ParseError.TooLong]++;
  }

  /** One line [start, end) without its newline (stream transports frame lines themselves). */
  ingestLine(buf: Buffer, start: number, end: number, protocol: Protocol = Protocol.DogstatsdTcp): void {
    this.#packets[protocol]++;
    this.#clock = Date.now();
    if (end > start) this.#line(buf, start, end);
  }

  /**
   * Process the line starting at `start` and ending at the first `\n` before `limit`
   * (or at `limit`); returns the index where it ended. One pass finds `:` and `|`
   * and hashes the key bytes (name ++ suffix) on the way: the bench showed the
   * separate scans for newline, pipe, colon and hash each cost as much as the rest.
   */
  #line(buf: Buffer, start: number, limit: number): number {
    let i = start;
    let c = buf[i];
    if (c === NEWLINE) return i; // empty line: ignored
    if (c === 95 /* _ */ && limit - start > 2) {
      const c1 = buf[start + 1];
      const c2 = buf[start + 2];
      if ((c1 === 101 /* e */ && c2 === 123) /* { */ || (c1 === 115 /* s */ && c2 === 99) /* c */) {
        return this.#special(buf, start, limit);
      }
    }
    // name: up to the first `:`; hitting `|` or the end first means there is no colon
    let h = FNV_OFFSET;
    for (; i < limit; i++) {
      c = buf[i];
      if (c === COLON || c === PIPE || c === NEWLINE) break;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    if (i === limit || c !== COLON) {
      const end = c === NEWLINE || i === limit ? i : findEnd(buf, i, limit);
      this.#error(c === PIPE ? ParseError.NoColon : ParseError.NoPipe);
      return end;
    }
    const colon = i;
    // values: up to the first `|`
    for (i = colon + 1; i < limit; i++) {
      c = buf[i];
      if (c === PIPE || c === NEWLINE) break;
    }
    if (i === limit || c !== PIPE) {
      this.#error(ParseError.NoPipe);
      return i;
    }
    const pipe = i;
    // suffix: type and sections, hashed, up to the end of the line
    for (; i < limit; i++) {
      c = buf[i];
      if (c === NEWLINE) break;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    const end = i;
    if (colon === start) {
      this.#error(ParseError.EmptyName);
      return end;
    }
    let entry = this.#table.get(h, buf, start, colon, pipe, end);
    if (entry === undefined) {
      const created = this.#newEntry(h, buf, start, colon, pipe, end);
      if (typeof created === 'number') {
        this.#error(created);
        return end;
      }
      entry = created;
    }
    let series = entry.series;
    if (entry.gen !== this.#gen || series === null) {
      const attached = this.#attach(entry.slot, entry.type, entry.scope, entry.name, entry.tags);
      if (attached === undefined) {
        this.#error(ParseError.SeriesLimit);
        return end;
      }
      series = attached;
      entry.series = series;
      entry.gen = this.#gen;
    }

    // values: [colon+1, pipe), `:`-separated; empty list = no samples, no error (§14.4)
    let vs = colon + 1;
    if (vs === pipe) return end;
    const weight = entry.weight;
    for (;;) {
      let ve = findByte(buf, COLON, vs, pipe);
      if (ve < 0) ve = pipe;
      if (ve === vs) {
        this.#error(ParseError.EmptyValue);
        return end;
      }
      switch (entry.type) {
        case MetricType.Counter: {
          const v = parseNumber(buf, vs, ve);
          if (Number.isNaN(v)) {
            this.#error(ParseError.BadValue);
            return end;
          }
          (series as CounterSeries).value += v * weight;
          break;
        }
        case MetricType.Gauge: {
          const v = parseNumber(buf, vs, ve);
          if (Number.isNaN(v)) {
            this.#error(ParseError.BadValue);
            return end;
          }
          (series as GaugeSeries).value = v;
          (series as GaugeSeries).updatedAt = this.#clock;
          break;
        }
        case MetricType.Histogram:
        case MetricType.Timer: {
          const v = parseNumber(buf, vs, ve);
          if (Number.isNaN(v)) {
            this.#error(ParseError.BadValue);
            return end;
          }
          (series as HistogramSeries).sample(v, weight);
          break;
        }
        case MetricType.Set:
          (series as SetSeries).hll.insertBytes(buf, vs, ve);
          break;
      }
      this.#processed++;
      if (ve === pipe) return end;
      vs = ve + 1;
    }
  }

  /** Events (`_e{`) and service checks (`_sc`): rare, parsed on strings. */
  #special(buf: Buffer, start: number, limit: number): number {
    const end = findEnd(buf, start, limit);
    if (buf[start + 1] === 101) this.#ingestEvent(buf, start, end);
    else this.#ingestServiceCheck(buf, start, end);
    return end;
  }

  #error(cause: ParseError, packetType: PacketType = PacketType.Metric): void {
    this.#errors[packetType * N_CAUSES + cause]++;
  }

  /** Cache miss: validate the suffix, canonicalise, build the strings once. */
  #newEntry(
    h: number,
    buf: Buffer,
    start: number,
    colon: number,
    pipe: number,
    end: number,
  ): KeyEntry | ParseError {
    const sfx = this.#suffix;
    const err = parseSuffix(buf, pipe, end, sfx);
    if (err !== ParseError.None) return err;
    const name = buf.toString('utf8', start, colon);
    const rawTags = sfx.tagsStart >= 0 ? buf.toString('utf8', sfx.tagsStart, sfx.tagsEnd) : null;
    const canon = canonicalizeTags(rawTags, this.#extendTags, this.#extendKeys);
    const scope = effectiveScope(sfx.type, canon.magic);
    const joined = canon.tags.join(',');
    // flat: a template result is a tree of concatenations (3 objects of 32 bytes) that
    // every Map lookup of a new interval would walk
    const key = flatCopy(seriesKey(sfx.type, scope, name, joined));
    // Series share tag sets (name x a few tag combinations): one array per distinct set,
    // not one per series, ~190 bytes less per series at 1M series (BENCHMARKS.md, memory)
    const tags = this.#internTags(joined, canon.tags);
    if (this.#count >= this.#maxSeries && this.#current(key) === undefined) return ParseError.SeriesLimit;
    const slot = this.#slot(key);
    const nameLen = colon - start;
    const [slab, off] = this.#table.store(buf, start, colon, pipe, end);
    const entry = new KeyEntry(
      slot,
      h,
      slab,
      off,
      nameLen + (end - pipe),
      nameLen,
      sfx.type,
      scope,
      1 / sfx.rate,
      name,
      tags,
      key,
    );
    this.#table.insert(entry);
    return entry;
  }

  /** The shared array for a tag set (`tags`, or `joined` split, when it is new). */
  #internTags(joined: string, tags?: readonly string[]): readonly string[] {
    let shared = this.#tagSets.get(joined);
    if (shared === undefined) {
      if (this.#tagSets.size >= MAX_TAG_SETS) this.#tagSets.clear();
      const list = tags ?? (joined === '' ? [] : joined.split(','));
      shared = Object.freeze(list.map(flatCopy));
      this.#tagSets.set(joined, shared);
    }
    return shared;
  }

  /**
   * Merge an ingest worker's interval (a columnar StateBatch) into the current one:
   * the same rules as importStates. Synchronous; importStateBatchSliced yields.
   */
  importStateBatch(b: StateBatch): void {
    for (const _ of this.#importBatch(b, Number.POSITIVE_INFINITY)) {
      // one slice: everything
    }
  }

  /** importStateBatch in slices of IMPORT_SLICE series, yielding to the event loop between them. */
  async importStateBatchSliced(b: StateBatch): Promise<void> {
    for (const _ of this.#importBatch(b, IMPORT_SLICE)) await new Promise<void>((r) => setImmediate(r));
  }

  *#importBatch(b: StateBatch, slice: number): Generator<void> {
    let h = 0;
    let c = 0;
    let set = 0;
    let check = 0;
    const n = b.count;
    const keys = n === 0 ? [] : b.keys.split('\n');
    for (let i = 0; i < n; i++) {
      if (i > 0 && i % slice === 0) yield;
      const key = keys[i];
      const type = b.types[i] as MetricType;
      let s = this.#current(key);
      if (s === undefined && this.#count < this.#maxSeries) {
        const id = parseSeriesKey(key);
        s = this.#attach(this.#slot(flatCopy(key)), type, id.scope, id.name, this.#internTags(id.joinedTags));
      }
      if (s === undefined) this.#errors[PacketType.Unknown * N_CAUSES + ParseError.SeriesLimit]++;
      switch (type) {
        case MetricType.Counter:
          if (s !== undefined) (s as CounterSeries).value += b.values[i];
          break;
        case MetricType.Gauge:
          if (s !== undefined) this.#mergeGauge(s as GaugeSeries, b.values[i], b.updated[i]);
          break;
        case MetricType.Histogram:
        case MetricType.Timer: {
          const f = b.hist;
          const o = h * HIST_FIELDS;
          const count = f[o + 6];
          if (s !== undefined) {
            const hs = s as HistogramSeries;
            if (count > 0) hs.digest.mergeCentroids(b.centroids, c, count, f[o + 5]);
            this.#mergeLocal(hs, f[o], f[o + 1], f[o + 2], f[o + 3], f[o + 4]);
          }
          c += count;
          h++;
          break;
        }
        case MetricType.Set: {
          const from = set === 0 ? 0 : b.hllEnds[set - 1];
          if (s !== undefined) (s as SetSeries).hll.mergeBinary(b.hll.subarray(from, b.hllEnds[set]));
          set++;
          break;
        }
        default:
          if (s !== undefined)
            this.#mergeStatus(
              s as StatusSeries,
              b.values[i],
              b.messages[check],
              b.hosts[check],
              b.updated[i],
            );
          check++;
          break;
      }
    }
  }

  #mergeGauge(s: GaugeSeries, v: number, u: number): void {
    if (u >= s.updatedAt) {
      s.value = v;
      s.updatedAt = u;
    }
  }

  #mergeLocal(
    s: HistogramSeries,
    min: number,
    max: number,
    sum: number,
    weight: number,
    recip: number,
  ): void {
    if (min < s.localMin) s.localMin = min;
    if (max > s.localMax) s.localMax = max;
    s.localSum += sum;
    s.localWeight += weight;
    s.localReciprocalSum += recip;
  }

  #mergeStatus(s: StatusSeries, v: number, message: string, host: string, u: number): void {
    if (u >= s.updatedAt) {
      s.value = v;
      s.message = message;
      s.hostName = host;
      s.updatedAt = u;
    }
  }

  /**
   * The slot's series for this interval: its own if it was touched already, else a
   * new one appended to the interval's list (undefined once the interval holds `limit`).
   */
  #attach(
    slot: SeriesSlot,
    type: MetricType,
    scope: Scope,
    name: string,
    tags: readonly string[],
    limit = this.#maxSeries,
  ): AnySeries | undefined {
    if (slot.gen === this.#gen && slot.series !== null) return slot.series;
    if (this.#count >= limit) return undefined;
    const s = this.#pool.take(type, scope, name, tags, slot.key);
    slot.series = s;
    slot.gen = this.#gen;
    if (this.#count < this.#list.length) this.#list[this.#count] = s;
    else this.#list.push(s);
    this.#count++;
    return s;
  }

  /**
   * This interval's series for a canonical key, created if there is room: no slot is
   * made for a key past the limit, so a cardinality explosion cannot grow the slots.
   */
  #seriesFor(
    key: string,
    type: MetricType,
    scope: Scope,
    name: string,
    tags: readonly string[],
    limit = this.#maxSeries,
  ): AnySeries | undefined {
    const s = this.#current(key);
    if (s !== undefined || this.#count >= limit) return s;
    return this.#attach(this.#slot(key), type, scope, name, tags, limit);
  }

  /** The slot of a canonical key, created if new. */
  #slot(key: string): SeriesSlot {
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = new SeriesSlot(key);
      this.#slots.set(key, slot);
    }
    return slot;
  }

  /** This interval's series for a canonical key, if it has one. */
  #current(key: string): AnySeries | undefined {
    const slot = this.#slots.get(key);
    return slot !== undefined && slot.gen === this.#gen && slot.series !== null ? slot.series : undefined;
  }

  #ingestEvent(buf: Buffer, start: number, end: number): void {
    const ev = parseEvent(buf, start, end, this.#now(), this.#extendTags);
    if (ev === null) {
      this.#error(ParseError.BadEvent, PacketType.Event);
      return;
    }
    if (this.#events.length >= this.#maxEvents) {
      this.#eventsDropped++;
      return;
    }
    this.#events.push(ev);
  }

  #ingestServiceCheck(buf: Buffer, start: number, end: number): void {
    const sc = parseServiceCheck(buf, start, end, this.#extendTags, this.#extendKeys);
    if (sc === null) {
      this.#error(ParseError.BadServiceCheck, PacketType.ServiceCheck);
      return;
    }
    const key = seriesKey(MetricType.Status, Scope.Local, sc.name, sc.tags.join(','));
    const s = this.#seriesFor(key, MetricType.Status, Scope.Local, sc.name, sc.tags) as
      | StatusSeries
      | undefined;
    if (s === undefined) {
      this.#error(ParseError.SeriesLimit, PacketType.ServiceCheck);
      return;
    }
    s.value = sc.status;
    s.message = sc.message;
    s.hostName = sc.hostname;
    s.updatedAt = this.#clock;
    this.#processed++;
  }

  /**
   * Slow path for self-telemetry (`veneur.*`) and other in-process sources:
   * `name` is used as given; tags need not be sorted.
   */
  ingestInternal(
    type: MetricType,
    name: string,
    tags: readonly string[],
    value: number,
    scope: Scope = Scope.Mixed,
  ): void {
    const cacheKey = `${type}${scope}|${name}|${tags.join(',')}`;
    let id = this.#internalKeys.get(cacheKey);
    if (id === undefined) {
      const sorted = [
        ...tags,
        ...this.#extendTags.filter((t) => !tags.some((x) => tagKey(x) === tagKey(t))),
      ].sort(compareBytewise);
      id = { name, tags: sorted, key: seriesKey(type, scope, name, sorted.join(',')) };
      if (this.#internalKeys.size > 10_000) this.#internalKeys.clear();
      this.#internalKeys.set(cacheKey, id);
    }
    // self-telemetry always gets through, even past max_series
    const s = this.#seriesFor(id.key, type, scope, id.name, id.tags, Number.POSITIVE_INFINITY)!;
    switch (s.type) {
      case MetricType.Counter:
        s.value += value;
        break;
      case MetricType.Gauge:
        s.value = value;
        break;
      case MetricType.Histogram:
      case MetricType.Timer:
        if (Number.isFinite(value)) s.sample(value, 1);
        break;
      default:
        break;
    }
  }

  /** Turn this interval's ingest counters into `veneur.*` series of the same interval. */
  #recordSelfMetrics(): void {
    const errs = this.#errors;
    for (let pt = 0; pt < 4; pt++) {
      for (let c = 0; c < N_CAUSES; c++) {
        const n = errs[pt * N_CAUSES + c];
        if (n === 0) continue;
        const reason =
          c === ParseError.TooLong ? 'toolong' : c === ParseError.SeriesLimit ? 'series_limit' : 'parse';
        this.ingestInternal(
          MetricType.Counter,
          'veneur.packet.error_total',
          [`packet_type:${PACKET_TYPE_NAMES[pt]}`, `reason:${reason}`, `cause:${PARSE_ERROR_CAUSES[c]}`],
          n,
        );
      }
    }
    errs.fill(0);
    if (this.#processed > 0)
      this.ingestInternal(MetricType.Counter, 'veneur.worker.metrics_processed_total', [], this.#processed);
    for (let p = 0; p < this.#packets.length; p++) {
      if (this.#packets[p] === 0) continue;
      this.ingestInternal(
        MetricType.Counter,
        'veneur.listen.received_per_protocol_total',
        [`protocol:${PROTOCOL_NAMES[p]}`],
        this.#packets[p],
      );
      this.#packets[p] = 0;
    }
    this.#processed = 0;
    if (this.#eventsDropped > 0) {
      this.ingestInternal(MetricType.Counter, 'veneur.worker.events_dropped_total', [], this.#eventsDropped);
      this.#eventsDropped = 0;
    }
  }

  /**
   * Merge series state produced elsewhere (an ingest worker, later a local
   * veneur) into the current interval: counters add, gauges and checks keep the
   * latest write, digests and HyperLogLogs merge, local stats combine.
   */
  importStates(states: readonly SeriesState[]): void {
    for (const st of states) {
      const s = this.#seriesFor(st.k, st.t, st.s, st.n, st.g);
      if (s === undefined) {
        this.#errors[PacketType.Unknown * N_CAUSES + ParseError.SeriesLimit]++;
        continue;
      }
      switch (s.type) {
        case MetricType.Counter:
          s.value += st.v;
          break;
        case MetricType.Gauge:
          this.#mergeGauge(s, st.v, st.u);
          break;
        case MetricType.Histogram:
        case MetricType.Timer:
          if (st.d !== null) s.digest.merge(MergingDigest.fromData(st.d));
          if (st.l !== null) this.#mergeLocal(s, st.l[0], st.l[1], st.l[2], st.l[3], st.l[4]);
          break;
        case MetricType.Set:
          if (st.h !== null) s.hll.mergeBinary(st.h);
          break;
        case MetricType.Status:
          this.#mergeStatus(s, st.v, st.m, st.o, st.u);
          break;
      }
    }
  }

  /** Events collected elsewhere (an ingest worker) for this interval; bounded like our own. */
  importEvents(events: readonly DogStatsdEvent[]): void {
    for (const ev of events) {
      if (this.#events.length >= this.#maxEvents) this.#eventsDropped++;
      else this.#events.push(ev);
    }
  }

  /**
   * Give a flushed snapshot's series back for reuse. Call it once, when nothing
   * reads the snapshot any more (after the flush has turned it into InterMetrics).
   */
  recycle(snapshot: Snapshot): void {
    this.#pool.refill(snapshot.series.values());
  }

  /** `recycle` for some of a snapshot's series (the rest went back through `release`). */
  recycleSeries(series: readonly AnySeries[]): void {
    this.#pool.refill(series.values());
  }

  /**
   * Give back a flushed snapshot's list array once its series went back through
   * `release`/`recycleSeries` (not with `recycle`, which reads the list later): the
   * next interval fills it instead of allocating one (~8 MB at 1M series).
   */
  releaseList(snapshot: Snapshot): void {
    this.#spareList = snapshot.series.detach() as AnySeries[];
  }

  /** Give back one flushed series nobody reads any more (the flush does, series by series). */
  release(s: AnySeries): void {
    this.#pool.put(s);
  }

  /** End the interval: O(1) hand-off of everything aggregated so far. */
  swap(): Snapshot {
    // the series the self-metrics add come last in the list; the flush emits them first
    const first = this.#count;
    this.#recordSelfMetrics();
    const list = this.#list;
    const n = this.#count;
    const snapshot: Snapshot = { series: new SeriesList(list, n, first), events: this.#events };
    // keep the raw-key cache and the slots across intervals, but not unboundedly: keys
    // that stopped arriving are dropped when either outgrows the series set (together:
    // cache entries point at slots, and a key must never have two slots)
    const bound = 2 * n + 65_536;
    // the pool too: when the series count falls, what it holds for the old count goes
    this.#pool.bound(bound);
    if (this.#table.size > bound || this.#slots.size > bound) {
      this.#table.clear();
      this.#slots = new Map();
    }
    // room for as many series as this interval had: a released list (unless the count
    // fell: its stale entries would keep dropped series alive), or a new holey one
    // (`new Array(n)` is one allocation of n holes; a few more than n to spare the growth copy)
    const spare = this.#spareList;
    this.#spareList = null;
    if (spare !== null && spare.length >= n && spare.length <= bound) this.#list = spare;
    else this.#list = n < 1024 ? [] : new Array<AnySeries>(n + (n >> 4));
    this.#count = 0;
    this.#events = [];
    this.#gen++;
    return snapshot;
  }
}
