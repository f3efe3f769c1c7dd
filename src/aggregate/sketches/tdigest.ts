/**
 * Merging t-digest, bit-compatible with Go Veneur's `tdigest.MergingDigest`
 * (reference §2.6). Every floating-point operation is done in the same order
 * as the Go code so that the same samples, added in the same order, give the
 * same centroids to the last bit (checked against digests a Go Veneur
 * forwarded, see tdigest.test.ts).
 *
 * Layout: centroids are stored interleaved (mean, weight, mean, weight, ...)
 * in JS double arrays (`doubles`, not typed arrays: see doubles.ts), allocated
 * lazily and grown on demand, because a process may hold a million of these and
 * most see only a handful of samples per interval. Merging writes into a
 * module-level scratch buffer (JS is single-threaded) and copies back, so `add`
 * allocates nothing in steady state. The merge avoids most asin evaluations
 * without changing any result (see mergeAllTemps), which is where Go spends most
 * of its Add time.
 */

import { doubles } from './doubles.js';

export interface Centroid {
  mean: number;
  weight: number;
}

/** The serialisable state: what Go's `MergingDigest.Data()` returns (`tdigest.MergingDigestData`). */
export interface MergingDigestData {
  mainCentroids: Centroid[];
  compression: number;
  min: number;
  max: number;
  reciprocalSum: number;
}

// --- Go's math.Asin, reproduced exactly -------------------------------------
// V8's Math.asin (fdlibm) and Go's pure-Go asin (Cephes) can differ in the last
// ulp, and the k-scale comparison `k(q) - lastIndex > 1` decides whether a
// centroid is folded or split, so a one-ulp difference could change the digest.
// Go has no assembly asin on amd64/arm64, and does not fuse multiply-adds on
// amd64, so plain JS double arithmetic in the same order gives the same bits.

const PI_2 = Math.PI / 2; // Go's constant Pi/2 rounded once == round(Pi)/2 (power-of-two scaling is exact)
const PI_4 = Math.PI / 4;
const MOREBITS = 6.123233995736766e-17; // pi/2 = PIO2 + Morebits
const HALF_MOREBITS = 0.5 * MOREBITS;
const TAN_3PI_8 = 2.414213562373095; // tan(3*pi/8)

// Cephes atan rational approximation coefficients, valid on [0, 0.66].
const P0 = -0.8750608600031904;
const P1 = -16.157537187333652;
const P2 = -75.00855792314705;
const P3 = -122.88666844901361;
const P4 = -64.85021904942025;
const Q0 = 24.858464901423062;
const Q1 = 165.02700983169885;
const Q2 = 432.88106049129027;
const Q3 = 485.3903996359137;
const Q4 = 194.5506571482614;

function xatan(x: number): number {
  let z = x * x;
  z =
    (z * ((((P0 * z + P1) * z + P2) * z + P3) * z + P4)) /
    (((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4);
  return x * z + x;
}

function satan(x: number): number {
  if (x <= 0.66) return xatan(x);
  if (x > TAN_3PI_8) return PI_2 - xatan(1 / x) + MOREBITS;
  return PI_4 + xatan((x - 1) / (x + 1)) + HALF_MOREBITS;
}

/** Bit-exact port of Go's `math.Asin` (exported for tests). */
export function goAsin(x: number): number {
  if (x === 0) return x;
  let sign = false;
  if (x < 0) {
    x = -x;
    sign = true;
  }
  if (x > 1) return Number.NaN;
  let temp = Math.sqrt(1 - x * x);
  if (x > 0.7) temp = PI_2 - satan(temp / x);
  else temp = satan(x / temp);
  return sign ? -temp : temp;
}

// --- sizes --------------------------------------------------------------------

/** Go's provable bound on the main list: int(pi*c/2 + 0.5). Used only as a growth target. */
function sizeBound(compression: number): number {
  return Math.trunc((Math.PI * compression) / 2 + 0.5);
}

/** Go's `estimateTempBuffer`: the temp list capacity; a merge happens when it is full. */
function tempCapacity(compression: number): number {
  const c = Math.min(925, Math.max(20, compression));
  return Math.trunc(7.5 + 0.37 * c - 2e-4 * c * c);
}

/**
 * Half-width, in q, of the band around the split threshold inside which the
 * exact k-scale test is used (see mergeAllTemps). The closed-form threshold
 * is accurate to ~1e-8 in the worst case (sqrt near q = 0 or 1) and the
 * exact test's rounding is ~1e-13 in k, i.e. far less in q.
 */
const QBAND = 1e-6;

/** Initial temp allocation in centroids: most series see only a few samples per interval. */
const INITIAL_TEMP = 8;

// Shared merge output buffer, interleaved like the digests' own arrays.
let scratch = doubles(2 * 256);

/**
 * Stable insertion sort of `n` interleaved (mean, weight) pairs by mean.
 * Go uses sort.Sort, which is an insertion sort (so stable) for up to 12
 * elements and an unstable sort (pdqsort since Go 1.19) above; the two can
 * only disagree on the order of equal means, which changes the digest only
 * if those equal means carry different weights (e.g. the same value sampled
 * at different rates within one interval).
 */
function sortPairs(a: number[], n: number): void {
  for (let i = 1; i < n; i++) {
    const m = a[2 * i];
    if (!(m < a[2 * i - 2])) continue; // already in place (common for rising values)
    const w = a[2 * i + 1];
    let j = i - 1;
    while (j >= 0 && m < a[2 * j]) {
      a[2 * j + 2] = a[2 * j];
      a[2 * j + 3] = a[2 * j + 1];
      j--;
    }
    a[2 * j + 2] = m;
    a[2 * j + 3] = w;
  }
}

export class MergingDigest {
  private readonly compression: number;
  private readonly tempCap: number;

  /** Merged centroids, sorted by mean, interleaved (mean, weight); null until the first merge. */
  private main: number[] | null = null;
  private mainCount = 0;
  private mainWeight = 0;

  /** Unmerged samples in arrival order, interleaved; null until the first add. */
  private temp: number[] | null = null;
  private tempCount = 0;
  private tempWeight = 0;

  private _min = Number.POSITIVE_INFINITY;
  private _max = Number.NEGATIVE_INFINITY;
  private _reciprocalSum = 0;

  constructor(compression = 100) {
    this.compression = compression;
    this.tempCap = tempCapacity(compression);
  }

  /** Empty the digest, keeping its arrays for reuse (series are recycled between intervals). */
  reset(): void {
    this.mainCount = 0;
    this.mainWeight = 0;
    this.tempCount = 0;
    this.tempWeight = 0;
    this._min = Number.POSITIVE_INFINITY;
    this._max = Number.NEGATIVE_INFINITY;
    this._reciprocalSum = 0;
  }

  /** Adds a sample. The caller guarantees a finite value and weight > 0 (Go panics otherwise). */
  add(value: number, weight: number): void {
    let n = this.tempCount;
    // Go merges when the temp list is full *before* appending, so a digest
    // that received exactly tempCap samples still holds them unmerged.
    if (n === this.tempCap) {
      this.mergeAllTemps();
      n = 0;
    }
    let t = this.temp;
    if (t === null || 2 * n === t.length) t = this.growTemp();
    this._min = Math.min(this._min, value);
    this._max = Math.max(this._max, value);
    this._reciprocalSum += (1 / value) * weight;
    t[2 * n] = value;
    t[2 * n + 1] = weight;
    this.tempCount = n + 1;
    this.tempWeight += weight;
  }

  private growTemp(): number[] {
    const old = this.temp;
    const oldCap = old === null ? 0 : old.length >> 1;
    const cap = oldCap === 0 ? Math.min(INITIAL_TEMP, this.tempCap) : Math.min(2 * oldCap, this.tempCap);
    const t = doubles(2 * cap);
    if (old !== null) for (let k = 0; k < old.length; k++) t[k] = old[k];
    this.temp = t;
    return t;
  }

  /** Go's `mergeAllTemps`: folds the temp list into the main list. */
  private mergeAllTemps(): void {
    const tn = this.tempCount;
    if (tn === 0) return;
    const t = this.temp as number[];
    sortPairs(t, tn);

    const mn = this.mainCount;
    const m = this.main;
    const need = 2 * (mn + tn);
    if (scratch.length < need) scratch = doubles(Math.max(need, 2 * scratch.length));
    const out = scratch;

    const c = this.compression;
    const totalWeight = this.mainWeight + this.tempWeight;
    // Go computes k(q) = c·(asin(2q−1)/π + 0.5) for every centroid it merges
    // and splits when k(q) − lastMergedIndex > 1. asin dominates the cost, so
    // we decide most items without it: k is increasing, and the q at which it
    // reaches lastMergedIndex + 1 has a closed form (sin(a + π/c) expanded,
    // so only a sqrt is needed). Items clearly below or above that threshold
    // (by QBAND, far more than the rounding error of either side) get the
    // same answer as Go's exact test; only items inside the band, and the
    // lastMergedIndex they compare against, are computed with goAsin exactly
    // as Go does. The result is bit-identical to Go's.
    const useBand = c > 0 && Number.isFinite(c);
    const cosD = Math.cos(Math.PI / c);
    const sinD = Math.sin(Math.PI / c);
    let qLo = Number.NEGATIVE_INFINITY;
    let qHi = Number.POSITIVE_INFINITY;
    let mergedWeight = 0;
    let lastMergedIndex = 0;
    let lastQ = 0; // q whose k is lastMergedIndex
    let lastKnown = true; // lastMergedIndex computed for lastQ
    let outN = 0;
    let i = 0;
    let j = 0;
    while (i < mn || j < tn) {
      let mean: number;
      let weight: number;
      // Main is taken only when strictly smaller, so ties go to temp first (as in Go,
      // whose in-place merge walks the main list in its original order too).
      if (i < mn && (j >= tn || (m as number[])[2 * i] < t[2 * j])) {
        mean = (m as number[])[2 * i];
        weight = (m as number[])[2 * i + 1];
        i++;
      } else {
        mean = t[2 * j];
        weight = t[2 * j + 1];
        j++;
      }
      // Go's mergeOne.
      const q = (mergedWeight + weight) / totalWeight;
      let split: boolean;
      if (outN === 0) split = true;
      else if (q < qLo) split = false;
      else if (q > qHi && q <= 1) split = true;
      else {
        if (!lastKnown) {
          lastMergedIndex = c * (goAsin(2 * lastQ - 1) / Math.PI + 0.5);
          lastKnown = true;
        }
        split = c * (goAsin(2 * q - 1) / Math.PI + 0.5) - lastMergedIndex > 1;
      }
      if (split) {
        out[2 * outN] = mean;
        out[2 * outN + 1] = weight;
        outN++;
        // Go: lastMergedIndex = k(mergedWeight / totalWeight); computed lazily.
        lastQ = mergedWeight / totalWeight;
        lastKnown = false;
        if (useBand) {
          const s = 2 * lastQ - 1;
          // k(lastQ) + 1 >= c: the threshold is at or past q = 1.
          const qStar = s >= cosD ? 1 : (s * cosD + Math.sqrt(1 - s * s) * sinD + 1) / 2;
          qLo = qStar - QBAND;
          qHi = qStar + QBAND;
        }
      } else {
        // Welford update; weight before mean, as in Go.
        const k = 2 * outN - 2;
        const w = out[k + 1] + weight;
        out[k + 1] = w;
        out[k] += ((mean - out[k]) * weight) / w;
      }
      mergedWeight += weight;
    }

    let dst = m;
    if (dst === null || dst.length < 2 * outN) {
      const bound = sizeBound(c);
      const grown = dst === null ? outN : Math.max(outN, Math.min(2 * (dst.length >> 1), bound));
      dst = doubles(2 * grown);
      this.main = dst;
    }
    for (let k = 0; k < 2 * outN; k++) dst[k] = out[k];
    this.mainCount = outN;
    this.mainWeight = totalWeight;
    this.tempCount = 0;
    this.tempWeight = 0;
  }

  /** Upper bound of centroid i: midpoint to the next one, or max for the last (Go's centroidUpperBound). */
  private upperBound(i: number): number {
    const m = this.main as number[];
    return i !== this.mainCount - 1 ? (m[2 * i + 2] + m[2 * i]) / 2 : this._max;
  }

  /**
   * Value below which a fraction q of the samples fall; NaN when empty.
   * Go panics for q outside [0, 1]; we throw a RangeError.
   */
  quantile(q: number): number {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile out of bounds: ${q}`);
    this.mergeAllTemps();
    const m = this.main;
    if (m === null) return Number.NaN;
    const target = q * this.mainWeight;
    let weightSoFar = 0;
    let lowerBound = this._min;
    for (let i = 0; i < this.mainCount; i++) {
      const w = m[2 * i + 1];
      const upperBound = this.upperBound(i);
      if (target <= weightSoFar + w) {
        const proportion = (target - weightSoFar) / w;
        return lowerBound + proportion * (upperBound - lowerBound);
      }
      weightSoFar += w;
      lowerBound = upperBound;
    }
    return Number.NaN;
  }

  /** Fraction of samples below x; NaN when empty. */
  cdf(x: number): number {
    this.mergeAllTemps();
    const m = this.main;
    if (m === null || this.mainCount === 0) return Number.NaN;
    if (x <= this._min) return 0;
    if (x >= this._max) return 1;
    let weightSoFar = 0;
    let lowerBound = this._min;
    for (let i = 0; i < this.mainCount; i++) {
      const w = m[2 * i + 1];
      const upperBound = this.upperBound(i);
      if (x < upperBound) {
        weightSoFar += (w * (x - lowerBound)) / (upperBound - lowerBound);
        return weightSoFar / this.mainWeight;
      }
      weightSoFar += w;
      lowerBound = upperBound;
    }
    return Number.NaN;
  }

  /** Total weight added (merged and unmerged). */
  count(): number {
    return this.mainWeight + this.tempWeight;
  }

  /** Σ mean·weight over the merged centroids (merges pending samples first, as Go does). */
  sum(): number {
    this.mergeAllTemps();
    const m = this.main;
    let s = 0;
    if (m === null) return s;
    for (let i = 0; i < this.mainCount; i++) s += m[2 * i] * m[2 * i + 1];
    return s;
  }

  get min(): number {
    return this._min;
  }

  get max(): number {
    return this._max;
  }

  get reciprocalSum(): number {
    return this._reciprocalSum;
  }

  /**
   * Adds other's centroids to this digest, as Go's `Merge`: main centroids
   * then unmerged temps go through `add` (so min/max follow the centroid
   * means, not other's min/max — a Go quirk kept for compatibility), and the
   * reciprocal sum becomes own + other's.
   *
   * Go adds other's main centroids in a random permutation; we add them in
   * order. Determinism means sharding series over N workers gives exactly the
   * same output as one worker, and tests can compare exact values.
   */
  merge(other: MergingDigest): void {
    if (other === this) other = this.clone();
    const oldReciprocalSum = this._reciprocalSum;
    const om = other.main;
    if (om !== null) {
      for (let i = 0; i < other.mainCount; i++) this.add(om[2 * i], om[2 * i + 1]);
    }
    const ot = other.temp;
    if (ot !== null) {
      for (let i = 0; i < other.tempCount; i++) this.add(ot[2 * i], ot[2 * i + 1]);
    }
    this._reciprocalSum = oldReciprocalSum + other._reciprocalSum;
  }

  /** Merges pending samples (as `toData` does) and returns the number of centroids. */
  centroidCount(): number {
    this.mergeAllTemps();
    return this.mainCount;
  }

  /**
   * Writes the centroids as interleaved (mean, weight) pairs into out[at...]
   * (what `toData` lists as objects; call centroidCount first).
   */
  copyCentroids(out: Float64Array, at: number): void {
    const m = this.main;
    if (m === null) return;
    for (let k = 0; k < 2 * this.mainCount; k++) out[at + k] = m[k];
  }

  /**
   * `merge` of a digest given as `count` interleaved centroids of `pairs` from
   * centroid `from` (its `mainCentroids()`) and its reciprocal sum: the same adds in
   * the same order, without building the digest.
   */
  mergeCentroids(pairs: Float64Array, from: number, count: number, reciprocalSum: number): void {
    const oldReciprocalSum = this._reciprocalSum;
    for (let i = from; i < from + count; i++) this.add(pairs[2 * i], pairs[2 * i + 1]);
    this._reciprocalSum = oldReciprocalSum + reciprocalSum;
  }

  private clone(): MergingDigest {
    const d = new MergingDigest(this.compression);
    d.main = this.main === null ? null : this.main.slice();
    d.mainCount = this.mainCount;
    d.mainWeight = this.mainWeight;
    d.temp = this.temp === null ? null : this.temp.slice();
    d.tempCount = this.tempCount;
    d.tempWeight = this.tempWeight;
    d._min = this._min;
    d._max = this._max;
    d._reciprocalSum = this._reciprocalSum;
    return d;
  }

  /**
   * The serialisable state, as Go's `Data()`: pending samples are merged
   * first (this mutates the digest exactly as Go's does, so later results
   * stay identical to Go's).
   */
  toData(): MergingDigestData {
    this.mergeAllTemps();
    const centroids: Centroid[] = new Array(this.mainCount);
    const m = this.main;
    for (let i = 0; i < this.mainCount; i++) {
      centroids[i] = { mean: (m as number[])[2 * i], weight: (m as number[])[2 * i + 1] };
    }
    return {
      mainCentroids: centroids,
      compression: this.compression,
      min: this._min,
      max: this._max,
      reciprocalSum: this._reciprocalSum,
    };
  }

  /**
   * Rebuilds a digest from its serialised state, as Go's `NewMergingFromData`
   * (centroids taken as they are, main weight = Σ weights in order).
   * Throws on centroids Go could never have produced (non-finite mean, weight
   * not > 0), where Go would panic later on merge.
   */
  static fromData(d: MergingDigestData): MergingDigest {
    const td = new MergingDigest(d.compression);
    const cs = d.mainCentroids;
    const n = cs.length;
    if (n > 0) {
      const m = doubles(2 * n);
      let weight = 0;
      for (let i = 0; i < n; i++) {
        const c = cs[i];
        if (!Number.isFinite(c.mean) || !(c.weight > 0) || c.weight === Number.POSITIVE_INFINITY) {
          throw new Error(`tdigest: invalid centroid ${i} (mean ${c.mean}, weight ${c.weight})`);
        }
        m[2 * i] = c.mean;
        m[2 * i + 1] = c.weight;
        weight += c.weight;
      }
      td.main = m;
      td.mainCount = n;
      td.mainWeight = weight;
    }
    td._min = d.min;
    td._max = d.max;
    td._reciprocalSum = d.reciprocalSum;
    return td;
  }
}
