/**
 * Hand-written protobuf codec for the forwarding messages (reference §3.1):
 * `metricpb.Metric` and `tdigest.MergingDigestData`.
 *
 * Written by hand instead of generated so there is no codegen step and the
 * encoder can size the whole message first and write it into one buffer with
 * no intermediate objects. The output is byte-identical to what Go Veneur's
 * protoc-gen-go (APIv2) code emits:
 * - fields are written in field-number order, the `value` oneof at its place (5..8);
 * - proto3 implicit presence: zero scalars, empty strings/bytes and empty
 *   repeated fields are omitted; for doubles only +0 is omitted (APIv2 writes -0);
 * - a set oneof member is always written, even when its message is empty
 *   (a zero counter is `2a 00`);
 * - int64 is a plain varint (negative values take 10 bytes);
 * - `Centroid.samples` (debug mode only) is packed.
 */

import type { Centroid, MergingDigestData } from '../../aggregate/sketches/tdigest.js';

export type { Centroid, MergingDigestData };

/** metricpb.Type values. */
export const PbType = { Counter: 0, Gauge: 1, Histogram: 2, Set: 3, Timer: 4 } as const;
/** metricpb.Scope values. */
export const PbScope = { Mixed: 0, Local: 1, Global: 2 } as const;

export type MetricValue =
  | { kind: 'counter'; value: number }
  | { kind: 'gauge'; value: number }
  | { kind: 'histogram'; digest: MergingDigestData }
  | { kind: 'set'; hll: Uint8Array };

export interface MetricMessage {
  name: string;
  tags: string[];
  /** Counter=0, Gauge=1, Histogram=2, Set=3, Timer=4 (metricpb.Type). */
  type: number;
  /** Mixed=0, Local=1, Global=2 (metricpb.Scope). */
  scope: number;
  value: MetricValue | null;
}

// Wire types.
const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

const TWO_32 = 4294967296;
/** 2^63: int64 values at or above it (as doubles) are clamped to 2^63-1. */
const TWO_63 = 2 ** 63;

// Shared scratch for float64 <-> bytes; single-threaded, so one view suffices.
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Decoding

/** Cursor over a message; `end` is the end of the current (sub)message. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    /** End of the message being read; narrowed while a nested message is read. */
    public end: number,
  ) {
    this.pos = start;
  }

  fail(what: string): never {
    throw new Error(`metricpb: ${what} at offset ${this.pos}`);
  }

  /** A varint that must fit in 32 bits unsigned (tags, lengths, enums). Larger values are rejected. */
  uint32(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = buf[this.pos++];
      if (shift < 28) {
        result |= (b & 0x7f) << shift;
      } else if (shift === 28) {
        // Only 4 bits fit; the rest must be zero for a value below 2^32.
        if ((b & 0x70) !== 0) this.fail('varint too large');
        result |= (b & 0x0f) << 28;
      } else if ((b & 0x7f) !== 0) {
        this.fail('varint too large');
      }
      if (b < 0x80) return result >>> 0;
      shift += 7;
      if (shift >= 70) this.fail('varint too long');
    }
  }

  /**
   * A varint as a signed 64-bit integer (int64/enum fields). Precise up to
   * 2^53; beyond that the nearest double, which is what a JS number can hold.
   */
  int64(): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let b = 0;
    let i = 0;
    // Bytes 0..3 carry bits 0..27.
    for (; i < 4; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      b = buf[this.pos++];
      lo |= (b & 0x7f) << (7 * i);
      if (b < 0x80) return lo >>> 0;
    }
    // Byte 4 carries bits 28..34: 4 into lo, 3 into hi.
    if (this.pos >= this.end) this.fail('truncated varint');
    b = buf[this.pos++];
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      // Bytes 5..9 carry bits 35..63 into hi.
      for (i = 0; i < 5; i++) {
        if (this.pos >= this.end) this.fail('truncated varint');
        b = buf[this.pos++];
        hi |= (b & 0x7f) << (7 * i + 3);
        if (b < 0x80) break;
      }
      if (b >= 0x80) this.fail('varint too long');
    }
    // hi | 0 reinterprets bit 63 as the sign (two's complement).
    return (hi | 0) * TWO_32 + (lo >>> 0);
  }

  double(): number {
    if (this.pos + 8 > this.end) this.fail('truncated fixed64');
    const buf = this.buf;
    const p = this.pos;
    if (LITTLE_ENDIAN) {
      for (let i = 0; i < 8; i++) f64Bytes[i] = buf[p + i];
    } else {
      for (let i = 0; i < 8; i++) f64Bytes[7 - i] = buf[p + i];
    }
    this.pos = p + 8;
    return f64[0];
  }

  /** Reads a length prefix and returns the end offset of the delimited payload. */
  delimitedEnd(): number {
    const len = this.uint32();
    const end = this.pos + len;
    if (end > this.end) this.fail('length exceeds message');
    return end;
  }

  string(): string {
    const end = this.delimitedEnd();
    const s = decodeUtf8(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }

  /** Skips an unknown field, as protobuf requires. */
  skip(wireType: number): void {
    switch (wireType) {
      case WT_VARINT:
        this.int64();
        return;
      case WT_I64:
        if (this.pos + 8 > this.end) this.fail('truncated fixed64');
        this.pos += 8;
        return;
      case WT_LEN:
        this.pos = this.delimitedEnd();
        return;
      case WT_I32:
        if (this.pos + 4 > this.end) this.fail('truncated fixed32');
        this.pos += 4;
        return;
      default:
        // Groups (3, 4) are not used by these proto3 schemas; 6 and 7 do not exist.
        this.fail(`unsupported wire type ${wireType}`);
    }
  }

  /** Reads a field key; returns field number << 3 | wire type, validating the field number. */
  key(): number {
    const k = this.uint32();
    if (k >>> 3 === 0) this.fail('illegal field number 0');
    return k;
  }
}

function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  // Metric names and tags are short ASCII almost always; fromCharCode beats
  // TextDecoder's call overhead for those.
  if (end - start <= 64) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c >= 0x80) return utf8Decoder.decode(buf.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8Decoder.decode(buf.subarray(start, end));
}

function expectWire(r: Reader, wireType: number, expected: number, field: string): void {
  if (wireType !== expected) r.fail(`wrong wire type ${wireType} for ${field}`);
}

function readCentroid(r: Reader, end: number): Centroid {
  let mean = 0;
  let weight = 0;
  while (r.pos < end) {
    const k = r.key();
    const wt = k & 7;
    switch (k >>> 3) {
      case 1:
        expectWire(r, wt, WT_I64, 'Centroid.mean');
        mean = r.double();
        break;
      case 2:
        expectWire(r, wt, WT_I64, 'Centroid.weight');
        weight = r.double();
        break;
      default:
        // Includes field 3 (debug samples), which nothing downstream uses.
        r.skip(wt);
    }
  }
  return { mean, weight };
}

function readDigest(r: Reader, end: number): MergingDigestData {
  const d: MergingDigestData = { mainCentroids: [], compression: 0, min: 0, max: 0, reciprocalSum: 0 };
  while (r.pos < end) {
    const k = r.key();
    const wt = k & 7;
    switch (k >>> 3) {
      case 1: {
        expectWire(r, wt, WT_LEN, 'MergingDigestData.main_centroids');
        const cEnd = r.delimitedEnd();
        const saved = r.end;
        d.mainCentroids.push(readCentroid(withEnd(r, cEnd), cEnd));
        restoreEnd(r, saved);
        break;
      }
      case 2:
        expectWire(r, wt, WT_I64, 'MergingDigestData.compression');
        d.compression = r.double();
        break;
      case 3:
        expectWire(r, wt, WT_I64, 'MergingDigestData.min');
        d.min = r.double();
        break;
      case 4:
        expectWire(r, wt, WT_I64, 'MergingDigestData.max');
        d.max = r.double();
        break;
      case 5:
        expectWire(r, wt, WT_I64, 'MergingDigestData.reciprocalSum');
        d.reciprocalSum = r.double();
        break;
      default:
        r.skip(wt);
    }
  }
  return d;
}

// Nested messages narrow the reader's bound so a bad inner length cannot read
// past the enclosing message.
function withEnd(r: Reader, end: number): Reader {
  r.end = end;
  return r;
}
function restoreEnd(r: Reader, end: number): void {
  r.end = end;
}

/** Reads the single field-1 payload of a wrapper message (CounterValue, GaugeValue, ...). */
function readWrapped(r: Reader, end: number, kind: MetricValue['kind']): MetricValue {
  let counter = 0;
  let gauge = 0;
  let digest: MergingDigestData | null = null;
  let hll: Uint8Array = new Uint8Array(0);
  while (r.pos < end) {
    const k = r.key();
    const wt = k & 7;
    if (k >>> 3 !== 1) {
      r.skip(wt);
      continue;
    }
    switch (kind) {
      case 'counter':
        expectWire(r, wt, WT_VARINT, 'CounterValue.value');
        counter = r.int64();
        break;
      case 'gauge':
        expectWire(r, wt, WT_I64, 'GaugeValue.value');
        gauge = r.double();
        break;
      case 'histogram': {
        expectWire(r, wt, WT_LEN, 'HistogramValue.t_digest');
        const dEnd = r.delimitedEnd();
        const saved = r.end;
        digest = readDigest(withEnd(r, dEnd), dEnd);
        restoreEnd(r, saved);
        break;
      }
      case 'set': {
        expectWire(r, wt, WT_LEN, 'SetValue.hyper_log_log');
        const bEnd = r.delimitedEnd();
        // Copy, never a view (on a Node Buffer, slice() aliases the reused receive buffer).
        hll = Uint8Array.prototype.slice.call(r.buf, r.pos, bEnd);
        r.pos = bEnd;
        break;
      }
    }
  }
  switch (kind) {
    case 'counter':
      return { kind, value: counter };
    case 'gauge':
      return { kind, value: gauge };
    case 'histogram':
      // A histogram without a digest is never sent by Go; treat it as empty.
      return {
        kind,
        digest: digest ?? { mainCentroids: [], compression: 0, min: 0, max: 0, reciprocalSum: 0 },
      };
    case 'set':
      return { kind, hll };
  }
}

/** The `value` oneof's member kinds, indexed by field number - 5. */
const ONEOF_KINDS: readonly MetricValue['kind'][] = ['counter', 'gauge', 'histogram', 'set'];

/** Decodes one `metricpb.Metric`. Throws a plain Error on malformed input. */
export function decodeMetric(buf: Uint8Array): MetricMessage {
  const r = new Reader(buf, 0, buf.length);
  const m: MetricMessage = { name: '', tags: [], type: 0, scope: 0, value: null };
  while (r.pos < r.end) {
    const k = r.key();
    const wt = k & 7;
    const field = k >>> 3;
    switch (field) {
      case 1:
        expectWire(r, wt, WT_LEN, 'Metric.name');
        m.name = r.string();
        break;
      case 2:
        expectWire(r, wt, WT_LEN, 'Metric.tags');
        m.tags.push(r.string());
        break;
      case 3:
        expectWire(r, wt, WT_VARINT, 'Metric.type');
        m.type = int32(r.int64());
        break;
      case 5:
      case 6:
      case 7:
      case 8: {
        expectWire(r, wt, WT_LEN, 'Metric.value');
        const end = r.delimitedEnd();
        const saved = r.end;
        // A later oneof member replaces an earlier one, as in protobuf.
        m.value = readWrapped(withEnd(r, end), end, ONEOF_KINDS[field - 5]);
        restoreEnd(r, saved);
        break;
      }
      case 9:
        expectWire(r, wt, WT_VARINT, 'Metric.scope');
        m.scope = int32(r.int64());
        break;
      default:
        r.skip(wt);
    }
  }
  return m;
}

/** Decodes a standalone `tdigest.MergingDigestData`. Throws on malformed input. */
export function decodeDigestData(buf: Uint8Array): MergingDigestData {
  const r = new Reader(buf, 0, buf.length);
  return readDigest(r, buf.length);
}

/** Enums are int32 on the wire; protobuf truncates wider varints. */
function int32(v: number): number {
  if (v >= -2147483648 && v <= 2147483647) return v;
  // Out of range (never sent by Go): keep the low 32 bits like a Go int32() conversion.
  return Number(BigInt.asIntN(32, BigInt(v)));
}

// ---------------------------------------------------------------------------
// Encoding

function varintSize(v: number): number {
  // v is a non-negative integer < 2^32 here (lengths, tags, enums >= 0).
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Size of an int64 varint; negative numbers always take 10 bytes. */
function int64Size(v: number): number {
  if (v < 0) return 10;
  if (v >= TWO_63) return 9; // written as 2^63-1 (see Writer.int64)
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** UTF-8 byte length without allocating. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3; // lone surrogate -> U+FFFD
    } else n += 3;
  }
  return n;
}

/** Clamps a JS number to the int64 range and truncates it, like a Go int64 conversion of an in-range value. */
function toInt64(v: number): number {
  if (!Number.isFinite(v)) return v > 0 ? TWO_63 : v < 0 ? -TWO_63 : 0;
  v = Math.trunc(v);
  if (v >= TWO_63) return TWO_63; // written as 2^63-1 by Writer.int64
  if (v < -TWO_63) return -TWO_63;
  return v === 0 ? 0 : v; // drop -0
}

function doubleSet(v: number): boolean {
  // proto3 implicit presence as protoc-gen-go (APIv2) implements it: omit only +0.
  return v !== 0 || Object.is(v, -0);
}

class Writer {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  uint32(v: number): void {
    const buf = this.buf;
    while (v >= 0x80) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }

  int64(v: number): void {
    let lo: number;
    let hi: number;
    if (v >= TWO_63) {
      lo = 0xffffffff;
      hi = 0x7fffffff;
    } else {
      // Exact: dividing by a power of two and flooring is exact for any double.
      const h = Math.floor(v / TWO_32);
      lo = v - h * TWO_32;
      hi = h >>> 0;
    }
    const buf = this.buf;
    while (hi !== 0 || lo >= 0x80) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  double(v: number): void {
    f64[0] = v;
    const buf = this.buf;
    const p = this.pos;
    if (LITTLE_ENDIAN) {
      for (let i = 0; i < 8; i++) buf[p + i] = f64Bytes[i];
    } else {
      for (let i = 0; i < 8; i++) buf[p + i] = f64Bytes[7 - i];
    }
    this.pos = p + 8;
  }

  string(s: string, byteLen: number): void {
    this.uint32(byteLen);
    if (byteLen === s.length) {
      // Pure ASCII (byte length equals UTF-16 length only then).
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + byteLen));
      this.pos += written;
    }
  }
}

function centroidSize(c: Centroid): number {
  return (doubleSet(c.mean) ? 9 : 0) + (doubleSet(c.weight) ? 9 : 0);
}

function digestSize(d: MergingDigestData): number {
  let n = 0;
  const cs = d.mainCentroids;
  for (let i = 0; i < cs.length; i++) {
    const l = centroidSize(cs[i]);
    n += 1 + varintSize(l) + l;
  }
  if (doubleSet(d.compression)) n += 9;
  if (doubleSet(d.min)) n += 9;
  if (doubleSet(d.max)) n += 9;
  if (doubleSet(d.reciprocalSum)) n += 9;
  return n;
}

function writeDigest(w: Writer, d: MergingDigestData): void {
  const cs = d.mainCentroids;
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i];
    w.byte(0x0a);
    w.uint32(centroidSize(c));
    if (doubleSet(c.mean)) {
      w.byte(0x09);
      w.double(c.mean);
    }
    if (doubleSet(c.weight)) {
      w.byte(0x11);
      w.double(c.weight);
    }
  }
  if (doubleSet(d.compression)) {
    w.byte(0x11);
    w.double(d.compression);
  }
  if (doubleSet(d.min)) {
    w.byte(0x19);
    w.double(d.min);
  }
  if (doubleSet(d.max)) {
    w.byte(0x21);
    w.double(d.max);
  }
  if (doubleSet(d.reciprocalSum)) {
    w.byte(0x29);
    w.double(d.reciprocalSum);
  }
}

/** Encodes a standalone `tdigest.MergingDigestData`. */
export function encodeDigestData(d: MergingDigestData): Uint8Array {
  const out = new Uint8Array(digestSize(d));
  writeDigest(new Writer(out), d);
  return out;
}

/** Size of the wrapper message's body (CounterValue etc.). */
function valueBodySize(v: MetricValue, counter: number, digestLen: number): number {
  switch (v.kind) {
    case 'counter':
      return counter === 0 ? 0 : 1 + int64Size(counter);
    case 'gauge':
      return doubleSet(v.value) ? 9 : 0;
    case 'histogram':
      return 1 + varintSize(digestLen) + digestLen;
    case 'set':
      return v.hll.length === 0 ? 0 : 1 + varintSize(v.hll.length) + v.hll.length;
  }
}

const ONEOF_TAG = { counter: 0x2a, gauge: 0x32, histogram: 0x3a, set: 0x42 } as const;

/** Encodes one `metricpb.Metric`, byte-identical to Go Veneur's encoding of the same message. */
export function encodeMetric(m: MetricMessage): Uint8Array {
  const nameLen = utf8Length(m.name);
  const tagLens = new Array<number>(m.tags.length);
  let size = 0;
  if (nameLen > 0) size += 1 + varintSize(nameLen) + nameLen;
  for (let i = 0; i < m.tags.length; i++) {
    const l = utf8Length(m.tags[i]);
    tagLens[i] = l;
    // Repeated strings keep empty elements (only the whole list can be absent).
    size += 1 + varintSize(l) + l;
  }
  const type = m.type | 0;
  const scope = m.scope | 0;
  if (type !== 0) size += 1 + int64Size(type);
  const v = m.value;
  const counter = v !== null && v.kind === 'counter' ? toInt64(v.value) : 0;
  const digestLen = v !== null && v.kind === 'histogram' ? digestSize(v.digest) : 0;
  let bodySize = 0;
  if (v !== null) {
    bodySize = valueBodySize(v, counter, digestLen);
    size += 1 + varintSize(bodySize) + bodySize;
  }
  if (scope !== 0) size += 1 + int64Size(scope);

  const out = new Uint8Array(size);
  const w = new Writer(out);
  if (nameLen > 0) {
    w.byte(0x0a);
    w.string(m.name, nameLen);
  }
  for (let i = 0; i < m.tags.length; i++) {
    w.byte(0x12);
    w.string(m.tags[i], tagLens[i]);
  }
  if (type !== 0) {
    w.byte(0x18);
    w.int64(type);
  }
  if (v !== null) {
    w.byte(ONEOF_TAG[v.kind]);
    w.uint32(bodySize);
    switch (v.kind) {
      case 'counter':
        if (counter !== 0) {
          w.byte(0x08);
          w.int64(counter);
        }
        break;
      case 'gauge':
        if (doubleSet(v.value)) {
          w.byte(0x09);
          w.double(v.value);
        }
        break;
      case 'histogram':
        w.byte(0x0a);
        w.uint32(digestLen);
        writeDigest(w, v.digest);
        break;
      case 'set':
        if (v.hll.length > 0) {
          w.byte(0x0a);
          w.uint32(v.hll.length);
          out.set(v.hll, w.pos);
          w.pos += v.hll.length;
        }
        break;
    }
  }
  if (scope !== 0) {
    w.byte(0x48);
    w.int64(scope);
  }
  return out;
}
