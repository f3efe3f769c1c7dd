/**
 * HyperLogLog compatible with github.com/axiomhq/hyperloglog as Veneur pins
 * it (commit 8300947202c9, Nov 2017; reference §2.7): same hashing, same
 * sparse and dense representations, same conversion points, same estimator
 * and the same MarshalBinary byte format, so sets can be forwarded to and
 * from Go Veneurs.
 *
 * Representation (p = 14 by default, m = 2^p registers):
 * - sparse (the start state): hashes are encoded at precision pp = 25 into
 *   uint32 values and collected in a temp set; every time the temp set holds
 *   more than m/100 values it is sorted and merged into a delta+varint
 *   compressed list; once that list is longer than m bytes the sketch
 *   converts to dense.
 * - dense: m 4-bit registers, two per byte (even index in the high nibble),
 *   holding rank − b where b is a shared base ("tailcut" HLL).
 *
 * Library quirks reproduced on purpose, because Go peers and Go's own output
 * depend on them:
 * - Go iterates the temp set (a map) in random order when marshalling; we keep
 *   insertion order, so our bytes are one of the orders Go could produce (Go
 *   accepts any), and unmarshal → marshal reproduces Go's input byte for byte.
 * - the compressed list's "length" that triggers densification is its size
 *   in bytes, not its entry count (checked: Go's 5,000-member set is still
 *   sparse, with an 11,288-byte list);
 * - Estimate() on a sparse sketch first folds the temp set into the list (so
 *   it changes what marshalBinary() returns next), as in Go.
 * - register arithmetic is uint8 (wrapping), registers below a rebase delta
 *   are left alone, and the library's approximate zero-register count `nz`
 *   drives when a rebase may happen.
 *
 * The exact source of 8300947202c9 was not available here; the dense
 * estimator follows the newest copy Veneur vendored that could be found
 * (late 2017, library revision 67c63c17): beta14 bias correction for p < 16, the
 * zero-register count taken by testing the even register of each pair twice
 * (and never the odd one), and 0.5 added twice before truncating. The golden
 * data only covers the sparse form (whose estimator, linear counting at
 * precision 25, is unambiguous), so these dense details are unverified.
 *
 * One deliberate difference: in that vendored copy Merge cloned the other
 * sketch's dense registers into a nil slice and so silently ignored a dense
 * operand; we always merge the registers (register-wise maximum after
 * aligning the bases), as later versions of the library do.
 */

import { doubles } from './doubles.js';
import { metroHash64 } from './metrohash.js';

const VERSION = 1;
/** Largest value a 4-bit register can hold, plus one. */
const CAPACITY = 16;
/** Sparse precision. */
const PP = 25;
const MP = 2 ** PP;
/** Initial temp-set capacity (values); grows by doubling. */
const INITIAL_TMP = 8;
/** The library's hash seed. */
const SEED = 1337;

// Hash output scratch ([lo, hi]); the hot path allocates nothing.
const hashOut = new Uint32Array(2);

// UTF-8 scratch for insertString.
let strBuf = new Uint8Array(256);
/** mergeSparse's sorted keys and its output, copied into the sketch's own list (JS is single-threaded). */
let keyScratch = new Uint32Array(256);
let mergeOut = new Uint8Array(256);
const utf8 = new TextEncoder();

// --- Go's math.Log and integer math.Pow, reproduced exactly ---------------------
// The estimator feeds these into a float that is truncated to an integer; using
// V8's Math.log/Math.pow (different algorithms) could move the result across an
// integer boundary in rare cases.

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // index of the high word

const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const L1 = 0.6666666666666735;
const L2 = 0.3999999999940942;
const L3 = 0.2857142874366239;
const L4 = 0.22222198432149784;
const L5 = 0.1818357216161805;
const L6 = 0.15313837699209373;
const L7 = 0.14798198605116586;

/** Bit-exact port of Go's math.Log (the algorithm of both its Go and amd64 assembly versions). */
export function goLog(x: number): number {
  if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x;
  if (x < 0) return Number.NaN;
  if (x === 0) return Number.NEGATIVE_INFINITY;
  // Frexp: x = f1 * 2^ki with f1 in [0.5, 1).
  let ki = 0;
  if (x < 2.2250738585072014e-308) {
    // Subnormal: normalise first, as Go's Frexp does.
    x *= 4503599627370496; // 2^52
    ki = -52;
  }
  f64[0] = x;
  const hi = u32[HI];
  ki += ((hi >>> 20) & 0x7ff) - 1022;
  u32[HI] = (hi & 0x800fffff) | (1022 << 20);
  let f1 = f64[0];
  if (f1 < Math.SQRT2 / 2) {
    f1 *= 2;
    ki--;
  }
  const f = f1 - 1;
  const k = ki;
  const s = f / (2 + f);
  const s2 = s * s;
  const s4 = s2 * s2;
  const t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
  const t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
  const R = t1 + t2;
  const hfsq = 0.5 * f * f;
  return k * LN2_HI - (hfsq - (s * (hfsq + R) + k * LN2_LO) - f);
}

/**
 * Go's math.Pow(x, n) for a small positive integer n: binary exponentiation on
 * the mantissa, which (away from subnormals) rounds exactly like this.
 */
function goPowInt(x: number, n: number): number {
  let a = 1;
  let p = x;
  for (let i = n; i !== 0; i >>= 1) {
    if (i & 1) a *= p;
    p *= p;
  }
  return a;
}

function beta14(ez: number): number {
  const zl = goLog(ez + 1);
  return (
    -0.370393911 * ez +
    0.070471823 * zl +
    0.17393686 * goPowInt(zl, 2) +
    0.16339839 * goPowInt(zl, 3) +
    -0.09237745 * goPowInt(zl, 4) +
    0.03738027 * goPowInt(zl, 5) +
    -0.005384159 * goPowInt(zl, 6) +
    0.00042419 * goPowInt(zl, 7)
  );
}

function beta16(ez: number): number {
  const zl = goLog(ez + 1);
  return (
    -0.37331876643753059 * ez +
    -1.41704077448123 * zl +
    0.40729184796612533 * goPowInt(zl, 2) +
    1.5615203390658416 * goPowInt(zl, 3) +
    -0.99242233534286128 * goPowInt(zl, 4) +
    0.26064681399483092 * goPowInt(zl, 5) +
    -0.03053811369682807 * goPowInt(zl, 6) +
    0.00155770210179105 * goPowInt(zl, 7)
  );
}

function alpha(m: number): number {
  switch (m) {
    case 16:
      return 0.673;
    case 32:
      return 0.697;
    case 64:
      return 0.709;
  }
  return 0.7213 / (1 + 1.079 / m);
}

function linearCount(m: number, v: number): number {
  return m * goLog(m / v);
}

/** Leading zeros of the 64-bit value hi:lo. */
function clz64(hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

/** Register index of a sparse-encoded value (the library's getIndex). */
function sparseIndex(k: number, p: number): number {
  return k & 1 ? k >>> (32 - p) : (k >>> (PP - p + 1)) & ((1 << p) - 1);
}

/** Rank of a sparse-encoded value (the library's decodeHash). */
function sparseRank(k: number, p: number): number {
  if (k & 1) return ((k >>> 1) & 63) + PP - p;
  // clz of the 32-bit value widened to 64 bits, minus 31.
  return Math.clz32((k << (32 - PP + p - 1)) >>> 0) + 1;
}

function readU32BE(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

function writeU32BE(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = (v >>> 16) & 0xff;
  b[i + 2] = (v >>> 8) & 0xff;
  b[i + 3] = v & 0xff;
}

/** Appends uint32 delta as the library's 7-bit little-endian varint; returns the new length. */
function putVarint(buf: Uint8Array, pos: number, x: number): number {
  while ((x & 0xffffff80) !== 0) {
    buf[pos++] = (x & 0x7f) | 0x80;
    x >>>= 7;
  }
  buf[pos++] = x & 0x7f;
  return pos;
}

// Varint decoder state (module scratch: single-threaded, no allocation).
let vValue = 0;
let vNext = 0;

/** Decodes the varint at i of a list whose entries were validated; sets vValue, vNext. */
function getVarint(buf: Uint8Array, i: number): void {
  let x = 0;
  let shift = 0;
  let j = i;
  while (buf[j] & 0x80) {
    x |= (buf[j] & 0x7f) << shift;
    shift += 7;
    j++;
  }
  x |= buf[j] << shift;
  vValue = x >>> 0;
  vNext = j + 1;
}

export class HyperLogLog {
  private readonly p: number;
  private readonly m: number;
  /** Base added to every dense register (tailcut). */
  private b = 0;
  private isSparse = true;

  // Sparse temp set, allocated lazily: one double array of 3·cap slots (`doubles`: on
  // the JS heap, see doubles.ts), the values in insertion order in [0, cap) and an
  // open-addressing index in [cap, 3·cap) (0 marks an empty slot; encoded values are
  // never 0).
  private tmp: number[] | null = null;
  private tmpCount = 0;

  // Sparse compressed list: sorted values as varint deltas.
  private list: Uint8Array | null = null;
  private listLen = 0;
  private listCount = 0;
  private listLast = 0;

  // Dense registers, two per byte, and the library's count of zero registers.
  private regs: Uint8Array | null = null;
  private nz = 0;
  /** Registers kept by reset() for the next conversion to dense (no 8 KiB allocation per interval). */
  private spareRegs: Uint8Array | null = null;

  constructor(precision = 14) {
    if (!(precision >= 4 && precision <= 18) || !Number.isInteger(precision)) {
      throw new Error('p has to be >= 4 and <= 18');
    }
    this.p = precision;
    this.m = 2 ** precision;
  }

  // --- insertion -----------------------------------------------------------------

  /** Adds the member buf[start, end). Hot path: hashes in place, allocates nothing in the common case. */
  insertBytes(buf: Uint8Array, start: number, end: number): void {
    metroHash64(buf, start, end, SEED, hashOut);
    const lo = hashOut[0];
    const hi = hashOut[1];
    if (this.isSparse) {
      this.tmpAdd(encodeHash(hi, lo, this.p));
      // The library checks after every insert, even of a duplicate.
      if (this.tmpCount * 100 > this.m) {
        this.mergeSparse();
        if (this.listLen > this.m) this.toNormal();
      }
    } else {
      const p = this.p;
      const i = hi >>> (32 - p);
      // rank = clz(x << p | 1 << (p-1)) + 1
      const wHi = ((hi << p) | (lo >>> (32 - p))) >>> 0;
      const wLo = ((lo << p) | (1 << (p - 1))) >>> 0;
      this.insertReg(i, clz64(wHi, wLo) + 1);
    }
  }

  /** Adds a string member (its UTF-8 bytes, as Go's []byte(s)). */
  insertString(s: string): void {
    if (strBuf.length < s.length * 3) strBuf = new Uint8Array(Math.max(s.length * 3, strBuf.length * 2));
    let n = 0;
    const len = s.length;
    for (; n < len; n++) {
      const c = s.charCodeAt(n);
      if (c >= 0x80) break;
      strBuf[n] = c;
    }
    if (n < len) n += utf8.encodeInto(s.slice(n), strBuf.subarray(n)).written;
    this.insertBytes(strBuf, 0, n);
  }

  private tmpAdd(v: number): void {
    let t = this.tmp;
    if (t === null || this.tmpCount * 3 === t.length) t = this.growTmp();
    const cap = t.length / 3;
    const mask = 2 * cap - 1;
    let slot = Math.imul(v, 0x9e3779b1) >>> Math.clz32(mask);
    for (;;) {
      const cur = t[cap + slot];
      if (cur === v) return;
      if (cur === 0) break;
      slot = (slot + 1) & mask;
    }
    t[cap + slot] = v;
    t[this.tmpCount++] = v;
  }

  /** Doubles the temp set's capacity (list and index together: one allocation). */
  private growTmp(): number[] {
    const old = this.tmp;
    const cap = old === null ? INITIAL_TMP : (old.length / 3) * 2;
    const t = doubles(3 * cap);
    const mask = 2 * cap - 1;
    for (let i = 0; i < this.tmpCount; i++) {
      const v = (old as number[])[i];
      t[i] = v;
      let slot = Math.imul(v, 0x9e3779b1) >>> Math.clz32(mask);
      while (t[cap + slot] !== 0) slot = (slot + 1) & mask;
      t[cap + slot] = v;
    }
    this.tmp = t;
    return t;
  }

  /**
   * Back to an empty sparse sketch, keeping allocated buffers for reuse: the
   * aggregator recycles series between intervals so steady-state ingest
   * allocates nothing (BENCHMARKS.md, "GC and loss").
   */
  reset(): void {
    this.b = 0;
    this.clearTmp();
    // the list's buffer is kept (listLen = 0 empties it)
    this.listLen = 0;
    this.listCount = 0;
    this.listLast = 0;
    if (this.regs !== null) this.spareRegs = this.regs;
    this.regs = null;
    this.nz = 0;
    this.isSparse = true;
  }

  private clearTmp(): void {
    const t = this.tmp;
    if (t !== null && this.tmpCount > 0) t.fill(0, t.length / 3);
    this.tmpCount = 0;
  }

  /** The library's mergeSparse: folds the sorted temp set into the compressed list. */
  private mergeSparse(): void {
    const n = this.tmpCount;
    if (n === 0) return;
    // sorted numerically in a shared scratch (a view of it: no new buffer)
    if (keyScratch.length < n) keyScratch = new Uint32Array(Math.max(n, 2 * keyScratch.length));
    const tl = this.tmp as number[];
    for (let i = 0; i < n; i++) keyScratch[i] = tl[i];
    const keys = keyScratch.subarray(0, n).sort();

    const old = this.list;
    const oldLen = this.listLen;
    // Each new entry takes at most 5 bytes. Written to a shared scratch buffer and
    // copied back into the list's own buffer, which is kept across reset(): a new
    // list per merge was promoted with the (pooled, old) sketch that held it.
    if (mergeOut.length < oldLen + 5 * n)
      mergeOut = new Uint8Array(Math.max(oldLen + 5 * n, 2 * mergeOut.length));
    const out = mergeOut;
    let pos = 0;
    let count = 0;
    let last = 0;
    let i = 0; // into keys
    let j = 0; // byte offset into old
    let prev = 0; // last value decoded from old
    while (j < oldLen || i < n) {
      let x: number;
      if (j >= oldLen) {
        x = keys[i++];
      } else {
        getVarint(old as Uint8Array, j);
        const x1 = (vValue + prev) >>> 0;
        if (i >= n || x1 <= keys[i]) {
          if (i < n && x1 === keys[i]) i++;
          x = x1;
          prev = x1;
          j = vNext;
        } else {
          x = keys[i++];
        }
      }
      pos = putVarint(out, pos, (x - last) >>> 0);
      last = x;
      count++;
    }
    let list = old;
    if (list === null || list.length < pos) {
      list = new Uint8Array(list === null ? pos : Math.max(pos, 2 * list.length));
      this.list = list;
    }
    list.set(out.subarray(0, pos));
    this.listLen = pos;
    this.listCount = count;
    this.listLast = last;
    this.clearTmp();
  }

  /** The library's toNormal: replays the sparse entries into dense registers. */
  private toNormal(): void {
    if (this.tmpCount > 0) this.mergeSparse();
    const spare = this.spareRegs;
    this.spareRegs = null;
    this.regs = spare !== null ? spare.fill(0) : new Uint8Array(this.m >>> 1);
    this.nz = this.m;
    const list = this.list;
    const p = this.p;
    let prev = 0;
    for (let j = 0; j < this.listLen; ) {
      getVarint(list as Uint8Array, j);
      j = vNext;
      prev = (vValue + prev) >>> 0;
      this.insertReg(sparseIndex(prev, p), sparseRank(prev, p));
    }
    this.isSparse = false;
    this.tmp = null;
    this.tmpCount = 0;
    this.list = null;
    this.listLen = 0;
    this.listCount = 0;
    this.listLast = 0;
  }

  // --- dense registers (tailcut) -----------------------------------------------------

  private getReg(i: number): number {
    const r = (this.regs as Uint8Array)[i >>> 1];
    return i & 1 ? r & 0x0f : r >>> 4;
  }

  private setReg(i: number, val: number): void {
    const regs = this.regs as Uint8Array;
    const k = i >>> 1;
    const r = regs[k];
    let wasZero: boolean;
    if (i & 1) {
      wasZero = (r & 0x0f) === 0;
      regs[k] = (r & 0xf0) | val;
    } else {
      wasZero = r >>> 4 === 0;
      regs[k] = (r & 0x0f) | (val << 4);
    }
    if (wasZero) this.nz--;
  }

  /** The library's insert: rank r into register i, rebasing when it overflows. */
  private insertReg(i: number, r: number): void {
    // uint8 arithmetic: r - b wraps when r < b.
    if (((r - this.b) & 0xff) >= CAPACITY) {
      const db = this.regsMin();
      if (db > 0) {
        this.b = (this.b + db) & 0xff;
        this.rebase(db);
      }
    }
    if (r > this.b) {
      const val = Math.min(r - this.b, CAPACITY - 1);
      if (val > this.getReg(i)) this.setReg(i, val);
    }
  }

  /**
   * Lowers every register that is >= delta by delta (registers below delta are
   * left as they are, as in the library) and recounts nz the library's way.
   */
  private rebase(delta: number): void {
    rebaseRegs(this.regs as Uint8Array, delta);
    this.nz = rebaseNz;
  }

  /** The library's registers.min(): 0 while it believes a register is zero. */
  private regsMin(): number {
    if (this.nz > 0) return 0;
    const regs = this.regs as Uint8Array;
    let min = 255;
    for (let k = 0; k < regs.length; k++) {
      const r = regs[k];
      if ((r & 0x0f) < min) min = r & 0x0f;
      if (r >>> 4 < min) min = r >>> 4;
      if (min === 0) break;
    }
    return min;
  }

  // --- estimate --------------------------------------------------------------------

  /** Cardinality estimate, as the library's Estimate() (including its side effects). */
  estimate(): number {
    if (this.isSparse) {
      this.mergeSparse();
      return Math.trunc(linearCount(MP, MP - this.listCount));
    }
    const regs = this.regs as Uint8Array;
    const base = this.b;
    let sum = 0;
    let ez = 0;
    for (let k = 0; k < regs.length; k++) {
      const r = regs[k];
      const v1 = (base + (r >>> 4)) & 0xff;
      if (v1 === 0) ez++;
      sum += 1 / 2 ** v1;
      // The library tests the even register again here instead of the odd one.
      if (v1 === 0) ez++;
      sum += 1 / 2 ** ((base + (r & 0x0f)) & 0xff);
    }
    this.nz = ez;
    const m = this.m;
    const beta = this.p < 16 ? beta14 : beta16;
    // The library adds 0.5 here and again before truncating.
    const est =
      base === 0 ? (alpha(m) * m * (m - ez)) / (sum + beta(ez)) + 0.5 : (alpha(m) * m * m) / sum + 0.5;
    return Math.trunc(est + 0.5);
  }

  // --- merge -----------------------------------------------------------------------

  /** Adds other's members to this sketch (the library's Merge). Throws if precisions differ. */
  merge(other: HyperLogLog): void {
    if (other === this) other = this.clone();
    if (this.p !== other.p) throw new Error('precisions must be equal');

    if (this.isSparse && other.isSparse) {
      const ot = other.tmp;
      for (let i = 0; i < other.tmpCount; i++) this.tmpAdd((ot as number[])[i]);
      if (other.listLen > 0) this.addListValues(other.list as Uint8Array, 0, other.listLen);
      this.maybeToNormal();
      return;
    }

    if (this.isSparse) this.toNormal();
    const p = this.p;

    if (other.isSparse) {
      const ot = other.tmp;
      for (let i = 0; i < other.tmpCount; i++) {
        const k = (ot as number[])[i];
        this.insertReg(sparseIndex(k, p), sparseRank(k, p));
      }
      let prev = 0;
      for (let j = 0; j < other.listLen; ) {
        getVarint(other.list as Uint8Array, j);
        j = vNext;
        prev = (vValue + prev) >>> 0;
        this.insertReg(sparseIndex(prev, p), sparseRank(prev, p));
      }
      return;
    }

    // Both dense: bring both to the larger base, then take the register-wise max.
    let oregs = other.regs as Uint8Array;
    if (this.b < other.b) {
      this.rebase(other.b - this.b);
      this.b = other.b;
    } else if (this.b > other.b) {
      // The library rebases a clone of other; leave other untouched.
      oregs = oregs.slice();
      rebaseRegs(oregs, this.b - other.b);
    }
    for (let k = 0; k < oregs.length; k++) {
      const o = oregs[k];
      if (o === 0) continue;
      const hi = o >>> 4;
      if (hi > this.getReg(2 * k)) this.setReg(2 * k, hi);
      const lo = o & 0x0f;
      if (lo > this.getReg(2 * k + 1)) this.setReg(2 * k + 1, lo);
    }
  }

  private clone(): HyperLogLog {
    const c = new HyperLogLog(this.p);
    c.b = this.b;
    c.isSparse = this.isSparse;
    c.tmp = this.tmp === null ? null : this.tmp.slice();
    c.tmpCount = this.tmpCount;
    c.list = this.list === null ? null : this.list.slice(0, this.listLen);
    c.listLen = this.listLen;
    c.listCount = this.listCount;
    c.listLast = this.listLast;
    c.regs = this.regs === null ? null : this.regs.slice();
    c.nz = this.nz;
    return c;
  }

  // --- serialisation ---------------------------------------------------------------

  /** The library's MarshalBinary format (reference §2.7). */
  marshalBinary(): Uint8Array {
    if (this.isSparse) {
      const n = this.tmpCount;
      const out = new Uint8Array(4 + 4 + 4 * n + 12 + this.listLen);
      out[0] = VERSION;
      out[1] = this.p;
      out[2] = this.b;
      out[3] = 1;
      writeU32BE(out, 4, n);
      const tl = this.tmp;
      let pos = 8;
      for (let i = 0; i < n; i++, pos += 4) writeU32BE(out, pos, (tl as number[])[i]);
      writeU32BE(out, pos, this.listCount);
      writeU32BE(out, pos + 4, this.listLast);
      writeU32BE(out, pos + 8, this.listLen);
      pos += 12;
      if (this.listLen > 0) out.set((this.list as Uint8Array).subarray(0, this.listLen), pos);
      return out;
    }
    const regs = this.regs as Uint8Array;
    const out = new Uint8Array(8 + regs.length);
    out[0] = VERSION;
    out[1] = this.p;
    out[2] = this.b;
    out[3] = 0;
    writeU32BE(out, 4, regs.length);
    out.set(regs, 8);
    return out;
  }

  /** Decodes the delta-varint list bytes [from, to) and adds each value to the temp set. */
  private addListValues(list: Uint8Array, from: number, to: number): void {
    let prev = 0;
    for (let j = from; j < to; ) {
      getVarint(list, j);
      j = vNext;
      prev = (vValue + prev) >>> 0;
      this.tmpAdd(prev);
    }
  }

  /** The library's maybeToNormal after a merge into a sparse sketch. */
  private maybeToNormal(): void {
    if (this.tmpCount * 100 > this.m) {
      this.mergeSparse();
      if (this.listLen > this.m) this.toNormal();
    }
  }

  /**
   * `merge(HyperLogLog.unmarshalBinary(data))` without building the other sketch
   * when both are sparse (the common case of an import: no garbage per set). Throws
   * as unmarshalBinary does, before changing anything.
   */
  mergeBinary(data: Uint8Array): void {
    if (!(this.isSparse && data.length >= 8 && data[3] === 1)) {
      this.merge(HyperLogLog.unmarshalBinary(data));
      return;
    }
    const p = data[1];
    if (p < 4 || p > 18) throw new Error('hll: p has to be >= 4 and <= 18');
    if (p !== this.p) throw new Error('precisions must be equal');
    checkSparse(data);
    // as merge: the other's temp set in order, then its list
    for (let i = 8; i < spTsEnd; i += 4) this.tmpAdd(readU32BE(data, i));
    this.addListValues(data, spStart, spStart + spSize);
    this.maybeToNormal();
  }

  /**
   * Parses the library's MarshalBinary format. Throws a plain Error on
   * anything malformed (Go would panic on most of these).
   */
  static unmarshalBinary(data: Uint8Array): HyperLogLog {
    if (data.length < 8) throw new Error(`hll: truncated header (${data.length} bytes)`);
    // data[0] is the format version; the library ignores it.
    const p = data[1];
    if (p < 4 || p > 18) throw new Error('hll: p has to be >= 4 and <= 18');
    const sk = new HyperLogLog(p);
    sk.b = data[2];

    if (data[3] === 1) {
      checkSparse(data);
      for (let i = 8; i < spTsEnd; i += 4) sk.tmpAdd(readU32BE(data, i));
      sk.list = data.slice(spStart, spStart + spSize);
      sk.listLen = spSize;
      sk.listCount = readU32BE(data, spTsEnd);
      sk.listLast = readU32BE(data, spTsEnd + 4);
      return sk;
    }

    const dsz = readU32BE(data, 4);
    if (dsz !== sk.m >>> 1) throw new Error(`hll: dense size ${dsz} does not match precision ${p}`);
    if (data.length - 8 !== dsz) throw new Error('hll: dense register length mismatch');
    sk.isSparse = false;
    sk.regs = data.slice(8, 8 + dsz);
    let nz = 2 * dsz;
    for (let k = 0; k < dsz; k++) {
      const r = sk.regs[k];
      if (r & 0x0f) nz--;
      if (r >>> 4) nz--;
    }
    sk.nz = nz;
    return sk;
  }
}

/** Encodes a 64-bit hash for the sparse representation (the library's encodeHash). */
function encodeHash(hi: number, lo: number, p: number): number {
  // idx: the top pp bits.
  const idx = hi >>> (64 - PP - 32);
  if ((idx & ((1 << (PP - p)) - 1)) === 0) {
    // The bits between p and pp are all zero: keep the rank of the rest.
    // zeros = clz((low 39 bits << 25) | (2^25 - 1)) + 1
    const wHi = (((hi & 0x7f) << 25) | (lo >>> 7)) >>> 0;
    const wLo = ((lo << 25) | 0x1ffffff) >>> 0;
    const zeros = clz64(wHi, wLo) + 1;
    return ((idx << 7) | (zeros << 1) | 1) >>> 0;
  }
  return (idx << 1) >>> 0;
}

// Result of rebaseRegs: the library's recount of "zero" registers.
let rebaseNz = 0;

// Layout of the sparse MarshalBinary that checkSparse last validated.
let spTsEnd = 0;
let spStart = 0;
let spSize = 0;

/**
 * Validates a sparse MarshalBinary (header already read) and records its layout in
 * spTsEnd (end of the temp set, at byte 8), spStart and spSize (the list). Throws
 * plain Errors: 0 is not a valid encoded hash (and is our empty-slot marker), and
 * every list entry must be a complete varint of at most 5 bytes, so that iterating
 * the list can never run past its end.
 */
function checkSparse(data: Uint8Array): void {
  const tsEnd = 8 + 4 * readU32BE(data, 4);
  if (tsEnd + 12 > data.length) throw new Error('hll: truncated sparse temp set');
  for (let i = 8; i < tsEnd; i += 4) {
    if (readU32BE(data, i) === 0) throw new Error('hll: invalid sparse value 0');
  }
  const sz = readU32BE(data, tsEnd + 8);
  const start = tsEnd + 12;
  if (start + sz > data.length) throw new Error('hll: truncated sparse list');
  let run = 0;
  for (let i = start; i < start + sz; i++) {
    if (data[i] & 0x80) {
      if (++run >= 5) throw new Error('hll: sparse list varint too long');
    } else run = 0;
  }
  if (run !== 0) throw new Error('hll: sparse list ends inside a varint');
  spTsEnd = tsEnd;
  spStart = start;
  spSize = sz;
}

function rebaseRegs(regs: Uint8Array, delta: number): void {
  let nz = regs.length * 2;
  for (let k = 0; k < regs.length; k++) {
    let r = regs[k];
    const hi = r >>> 4;
    if (hi >= delta) {
      r = (r & 0x0f) | ((hi - delta) << 4);
      if (hi - delta > 0) nz--;
    }
    const lo = r & 0x0f;
    if (lo >= delta) {
      r = (r & 0xf0) | (lo - delta);
      if (lo - delta > 0) nz--;
    }
    regs[k] = r;
  }
  rebaseNz = nz;
}
