/**
 * A hash table keyed by the raw bytes of a metric line's identity
 * (name bytes ++ suffix bytes, i.e. the line without its values), so the hot path
 * finds its series without building a string (DESIGN.md "The hot path").
 *
 * Open addressing, linear probing, power-of-two capacity; the 32-bit hashes live
 * in an Int32Array so most probes never touch the entry object.
 */
import type { MetricType, Scope } from '../model/metric.js';
import type { AnySeries } from './series.js';

/**
 * One canonical series key, kept across intervals: it points at the key's series
 * of interval `gen` (stale when gen differs from the aggregator's). Raw keys that
 * canonicalise alike (tags in another order) share one slot, so an interval needs
 * no map of its own: the first touch of a key in an interval is a generation check
 * and an append, not a Map insert (BENCHMARKS.md, "Flush under load").
 */
export class SeriesSlot {
  series: AnySeries | null = null;
  gen = -1;
  constructor(readonly key: string) {}
}

export class KeyEntry {
  /** A copy of slot.series for interval `gen`: the hot path reads it without the extra hop. */
  series: AnySeries | null = null;
  gen = -1;
  constructor(
    readonly slot: SeriesSlot,
    readonly hash: number,
    /** Slab holding the key bytes: name bytes followed by suffix bytes, at [off, off + len). */
    readonly slab: Buffer,
    readonly off: number,
    readonly len: number,
    readonly nameLen: number,
    readonly type: MetricType,
    readonly scope: Scope,
    /** 1 / sample rate */
    readonly weight: number,
    readonly name: string,
    readonly tags: readonly string[],
    readonly key: string,
  ) {}
}

/**
 * Key bytes live in shared slabs, not one Uint8Array per key: a typed array and
 * its ArrayBuffer cost ~190 bytes of heap each, more than the bytes they hold
 * (BENCHMARKS.md, memory per series).
 */
const SLAB_BYTES = 1 << 20;

/** Suffix length above which the comparison uses Buffer#compare (measured: BENCHMARKS.md). */
const LONG_SUFFIX = 64;

export class KeyTable {
  #hashes: Int32Array;
  #entries: (KeyEntry | undefined)[];
  #mask: number;
  #size = 0;
  #slab: Buffer = Buffer.allocUnsafeSlow(0);
  #slabUsed = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap <<= 1;
    this.#hashes = new Int32Array(cap);
    this.#entries = new Array<KeyEntry | undefined>(cap).fill(undefined);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** Find the entry whose bytes equal buf[a0,a1) ++ buf[b0,b1). */
  get(h: number, buf: Buffer, a0: number, a1: number, b0: number, b1: number): KeyEntry | undefined {
    const hashes = this.#hashes;
    const entries = this.#entries;
    const mask = this.#mask;
    const nameLen = a1 - a0;
    const total = nameLen + (b1 - b0);
    let idx = h & mask;
    for (;;) {
      const e = entries[idx];
      if (e === undefined) return undefined;
      if (hashes[idx] === h && e.nameLen === nameLen && e.len === total) {
        const slab = e.slab;
        const off = e.off;
        let ok = true;
        for (let i = 0; i < nameLen; i++) {
          if (slab[off + i] !== buf[a0 + i]) {
            ok = false;
            break;
          }
        }
        if (ok) {
          const sufLen = b1 - b0;
          const so = off + nameLen;
          if (sufLen > LONG_SUFFIX) {
            // long tag lists (e.g. 30 tags): native memcmp beats a JS byte loop past its call overhead
            if (buf.compare(slab, so, so + sufLen, b0, b1) === 0) return e;
          } else {
            const d = so - b0;
            for (let i = b0; i < b1; i++) {
              if (slab[d + i] !== buf[i]) {
                ok = false;
                break;
              }
            }
            if (ok) return e;
          }
        }
      }
      idx = (idx + 1) & mask;
    }
  }

  /** Copy buf[a0,a1) ++ buf[b0,b1) into the current slab; returns [slab, offset]. */
  store(buf: Buffer, a0: number, a1: number, b0: number, b1: number): [Buffer, number] {
    const len = a1 - a0 + (b1 - b0);
    if (this.#slabUsed + len > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, len));
      this.#slabUsed = 0;
    }
    const slab = this.#slab;
    const off = this.#slabUsed;
    buf.copy(slab, off, a0, a1);
    buf.copy(slab, off + (a1 - a0), b0, b1);
    this.#slabUsed += len;
    return [slab, off];
  }

  /** Insert an entry known to be absent. */
  insert(e: KeyEntry): void {
    if ((this.#size + 1) * 2 > this.#entries.length) this.#grow();
    this.#place(e);
    this.#size++;
  }

  clear(): void {
    this.#hashes.fill(0);
    this.#entries.fill(undefined);
    this.#size = 0;
    // entries still referenced elsewhere keep their slabs; new keys start a new one
    this.#slab = Buffer.allocUnsafeSlow(0);
    this.#slabUsed = 0;
  }

  #place(e: KeyEntry): void {
    const mask = this.#mask;
    let idx = e.hash & mask;
    while (this.#entries[idx] !== undefined) idx = (idx + 1) & mask;
    this.#entries[idx] = e;
    this.#hashes[idx] = e.hash;
  }

  #grow(): void {
    const old = this.#entries;
    const cap = old.length * 2;
    this.#hashes = new Int32Array(cap);
    this.#entries = new Array<KeyEntry | undefined>(cap).fill(undefined);
    this.#mask = cap - 1;
    for (const e of old) if (e !== undefined) this.#place(e);
  }
}
