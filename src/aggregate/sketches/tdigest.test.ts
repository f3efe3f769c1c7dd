import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decodeMetric, type MetricMessage } from '../../protocol/forward/metricpb.js';
import { goAsin, MergingDigest, type MergingDigestData } from './tdigest.js';

const FIXTURES = new URL('../../../test/fixtures/forward-from-go/', import.meta.url);

/** The metricpb messages Go Veneur forwarded, by metric name. */
function goldenMessages(): Map<string, MetricMessage> {
  const out = new Map<string, MetricMessage>();
  for (const line of readFileSync(new URL('messages.jsonl', FIXTURES), 'utf8').trim().split('\n')) {
    const m = decodeMetric(Buffer.from((JSON.parse(line) as { b64: string }).b64, 'base64'));
    if (m.name.startsWith('fwd.')) out.set(m.name, m);
  }
  return out;
}

/** The numeric values sent for `name` in input.txt, in order. */
function goldenSamples(name: string): number[] {
  const out: number[] = [];
  for (const line of readFileSync(new URL('input.txt', FIXTURES), 'utf8').trim().split('\n')) {
    const head = line.split('|')[0];
    const colon = head.indexOf(':');
    if (head.slice(0, colon) === name) out.push(Number(head.slice(colon + 1)));
  }
  return out;
}

function goDigest(m: MetricMessage | undefined): MergingDigestData {
  assert.ok(m?.value?.kind === 'histogram', 'expected a histogram message');
  return m.value.digest;
}

/** Exact (bitwise, via Object.is) equality of two digest states. */
function assertSameData(actual: MergingDigestData, expected: MergingDigestData): void {
  assert.equal(actual.mainCentroids.length, expected.mainCentroids.length, 'centroid count');
  for (let i = 0; i < expected.mainCentroids.length; i++) {
    const a = actual.mainCentroids[i];
    const e = expected.mainCentroids[i];
    assert.ok(Object.is(a.mean, e.mean), `centroid ${i} mean ${a.mean} !== ${e.mean}`);
    assert.ok(Object.is(a.weight, e.weight), `centroid ${i} weight ${a.weight} !== ${e.weight}`);
  }
  assert.ok(Object.is(actual.compression, expected.compression), 'compression');
  assert.ok(Object.is(actual.min, expected.min), 'min');
  assert.ok(Object.is(actual.max, expected.max), 'max');
  assert.ok(Object.is(actual.reciprocalSum, expected.reciprocalSum), 'reciprocalSum');
}

/**
 * A direct transcription of Go's algorithm (objects, a stable sort, the exact
 * k-scale test for every centroid), used to check that the optimised
 * implementation gives bit-identical digests.
 */
class ReferenceDigest {
  main: { mean: number; weight: number }[] = [];
  temp: { mean: number; weight: number }[] = [];
  mainWeight = 0;
  tempWeight = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  reciprocalSum = 0;
  readonly tempCap: number;
  constructor(readonly compression: number) {
    const tc = Math.min(925, Math.max(20, compression));
    this.tempCap = Math.trunc(7.5 + 0.37 * tc - 2e-4 * tc * tc);
  }
  k(q: number): number {
    return this.compression * (goAsin(2 * q - 1) / Math.PI + 0.5);
  }
  add(v: number, w: number): void {
    if (this.temp.length === this.tempCap) this.mergeAll();
    this.min = Math.min(this.min, v);
    this.max = Math.max(this.max, v);
    this.reciprocalSum += (1 / v) * w;
    this.temp.push({ mean: v, weight: w });
    this.tempWeight += w;
  }
  mergeAll(): void {
    if (this.temp.length === 0) return;
    this.temp.sort((a, b) => (a.mean < b.mean ? -1 : a.mean > b.mean ? 1 : 0));
    const total = this.mainWeight + this.tempWeight;
    const out: { mean: number; weight: number }[] = [];
    let merged = 0;
    let last = 0;
    let i = 0;
    let j = 0;
    while (i < this.main.length || j < this.temp.length) {
      const next =
        i < this.main.length && (j >= this.temp.length || this.main[i].mean < this.temp[j].mean)
          ? this.main[i++]
          : this.temp[j++];
      const nextIndex = this.k((merged + next.weight) / total);
      if (nextIndex - last > 1 || out.length === 0) {
        out.push({ ...next });
        last = this.k(merged / total);
      } else {
        const c = out[out.length - 1];
        c.weight += next.weight;
        c.mean += ((next.mean - c.mean) * next.weight) / c.weight;
      }
      merged += next.weight;
    }
    this.main = out;
    this.temp = [];
    this.tempWeight = 0;
    this.mainWeight = total;
  }
  data(): MergingDigestData {
    this.mergeAll();
    return {
      mainCentroids: this.main.map((c) => ({ ...c })),
      compression: this.compression,
      min: this.min,
      max: this.max,
      reciprocalSum: this.reciprocalSum,
    };
  }
}

const QS = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

describe('MergingDigest', () => {
  it('reproduces the reference vector (1, 2, 7, 8, 100)', () => {
    const d = new MergingDigest();
    for (const v of [1, 2, 7, 8, 100]) d.add(v, 1);
    assert.equal(d.quantile(0.5), 6);
    assert.equal(d.quantile(0.75), 42.375);
    assert.ok(Math.abs(d.quantile(0.99) - 97.7) < 1e-9);
    assert.equal(d.min, 1);
    assert.equal(d.max, 100);
    assert.equal(d.count(), 5);
    assert.equal(d.sum(), 118);
    assert.equal(d.reciprocalSum, 1 / 1 + 1 / 2 + 1 / 7 + 1 / 8 + 1 / 100);
    assert.ok(Math.abs(d.reciprocalSum - 1.7778571) < 1e-6);
    assert.equal(d.toData().mainCentroids.length, 5);
  });

  it('is empty-safe', () => {
    const d = new MergingDigest();
    assert.ok(Number.isNaN(d.quantile(0.5)));
    assert.ok(Number.isNaN(d.cdf(1)));
    assert.equal(d.count(), 0);
    assert.equal(d.sum(), 0);
    assert.equal(d.min, Number.POSITIVE_INFINITY);
    assert.equal(d.max, Number.NEGATIVE_INFINITY);
    const data = d.toData();
    assert.deepEqual(data.mainCentroids, []);
    assert.equal(data.compression, 100);
  });

  it('rejects quantiles outside [0, 1] like Go (which panics)', () => {
    const d = new MergingDigest();
    d.add(1, 1);
    assert.throws(() => d.quantile(1.5), RangeError);
    assert.throws(() => d.quantile(-0.1), RangeError);
    assert.throws(() => d.quantile(Number.NaN), RangeError);
  });

  for (const name of ['fwd.tdigest.five', 'fwd.tdigest.thousand']) {
    it(`builds the same digest as Go for ${name}`, () => {
      const go = goDigest(goldenMessages().get(name));
      const samples = goldenSamples(name);
      assert.ok(samples.length === 5 || samples.length === 1000);
      const d = new MergingDigest();
      for (const v of samples) d.add(v, 1);
      assertSameData(d.toData(), go);

      const fromGo = MergingDigest.fromData(go);
      for (const q of QS) assert.ok(Object.is(d.quantile(q), fromGo.quantile(q)), `quantile ${q}`);
      for (const x of [0, 1, 1.5, 50, 333, 999.5, 1000, 2000]) {
        assert.ok(Object.is(d.cdf(x), fromGo.cdf(x)), `cdf ${x}`);
      }
      assert.equal(fromGo.count(), samples.length);
      assert.ok(Object.is(d.sum(), fromGo.sum()));
    });
  }

  it('agrees with Go on the thousand-sample quantiles', () => {
    const d = MergingDigest.fromData(goDigest(goldenMessages().get('fwd.tdigest.thousand')));
    assert.ok(Math.abs(d.quantile(0.5) - 500.5) < 2);
    assert.ok(Math.abs(d.quantile(0.99) - 990) < 2);
    assert.equal(d.min, 1);
    assert.equal(d.max, 1000);
    assert.equal(d.count(), 1000);
    assert.equal(d.sum(), 500500);
  });

  it('is bit-identical to a direct transcription of the Go algorithm', () => {
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const streams: [string, number, (i: number) => [number, number]][] = [
      ['uniform', 100, () => [rnd() * 1000, 1]],
      ['weighted', 100, () => [rnd() * 10 - 5, 1 / (0.1 + rnd())]],
      ['duplicates', 100, () => [Math.floor(rnd() * 20), 1]],
      ['rising', 100, (i) => [i, 1]],
      ['falling', 100, (i) => [-i, 2]],
      ['exponential', 100, () => [Math.exp(rnd() * 30), 1]],
      ['tiny compression', 5, () => [rnd(), 1]],
      ['small compression', 20, () => [rnd() * 100, 1 + Math.floor(rnd() * 3)]],
      ['large compression', 1000, () => [rnd() * 1e6, 1]],
    ];
    for (const [name, compression, gen] of streams) {
      const ours = new MergingDigest(compression);
      const ref = new ReferenceDigest(compression);
      for (let i = 0; i < 30000; i++) {
        const [v, w] = gen(i);
        ours.add(v, w);
        ref.add(v, w);
        if (i % 7919 === 0) assertSameData(ours.toData(), ref.data());
      }
      assertSameData(ours.toData(), ref.data());
      assert.ok(true, name);
    }
  });

  it('round-trips through toData/fromData', () => {
    const d = new MergingDigest();
    let x = 1;
    for (let i = 0; i < 5000; i++) {
      x = (x * 16807) % 2147483647;
      d.add(x / 1e6, 1 + (i % 3));
    }
    const data = d.toData();
    const back = MergingDigest.fromData(data);
    assertSameData(back.toData(), data);
    for (const q of QS) assert.ok(Object.is(back.quantile(q), d.quantile(q)));
    assert.equal(back.count(), d.count());
    assert.equal(back.reciprocalSum, d.reciprocalSum);
    // The copy is independent of the source data.
    back.add(1e9, 1);
    assert.equal(data.max, d.max);
  });

  it('fromData rejects centroids Go could not have produced', () => {
    const ok = { compression: 100, min: 1, max: 1, reciprocalSum: 1 };
    assert.throws(
      () => MergingDigest.fromData({ ...ok, mainCentroids: [{ mean: Number.NaN, weight: 1 }] }),
      Error,
    );
    assert.throws(() => MergingDigest.fromData({ ...ok, mainCentroids: [{ mean: 1, weight: 0 }] }), Error);
    assert.throws(() => MergingDigest.fromData({ ...ok, mainCentroids: [{ mean: 1, weight: -1 }] }), Error);
    assert.throws(
      () => MergingDigest.fromData({ ...ok, mainCentroids: [{ mean: Number.POSITIVE_INFINITY, weight: 1 }] }),
      Error,
    );
  });

  it('merges like Go (min/max from centroid means, reciprocal sums added)', () => {
    const a = new MergingDigest();
    const b = new MergingDigest();
    const whole = new MergingDigest();
    for (let i = 1; i <= 1000; i++) {
      (i <= 500 ? a : b).add(i, 1);
      whole.add(i, 1);
    }
    const ra = a.reciprocalSum;
    const rb = b.reciprocalSum;
    a.merge(b);
    assert.equal(a.count(), 1000);
    assert.equal(a.reciprocalSum, ra + rb);
    assert.equal(a.min, 1);
    assert.equal(a.max, 1000);
    for (const q of [0.1, 0.5, 0.9, 0.99]) {
      assert.ok(Math.abs(a.quantile(q) - whole.quantile(q)) / whole.quantile(q) < 0.01, `q${q}`);
    }
    // other is not modified
    assert.equal(b.count(), 500);
  });

  it('merges deterministically (same inputs, same bits)', () => {
    const build = () => {
      const parts = [new MergingDigest(), new MergingDigest(), new MergingDigest()];
      for (let i = 0; i < 3000; i++) parts[i % 3].add(Math.sin(i) * 1000, 1);
      const total = new MergingDigest();
      for (const p of parts) total.merge(MergingDigest.fromData(p.toData()));
      return total.toData();
    };
    assertSameData(build(), build());
  });

  it('merges a digest with itself', () => {
    const d = new MergingDigest();
    for (let i = 1; i <= 10; i++) d.add(i, 1);
    d.merge(d);
    assert.equal(d.count(), 20);
    assert.equal(d.quantile(0), 1);
  });

  it('computes a monotone CDF bounded by min and max', () => {
    const d = new MergingDigest();
    for (let i = 0; i < 10000; i++) d.add((i * 7919) % 10007, 1);
    assert.equal(d.cdf(d.min), 0);
    assert.equal(d.cdf(d.max), 1);
    let prev = 0;
    for (let x = 0; x < 10007; x += 97) {
      const c = d.cdf(x);
      assert.ok(c >= prev && c <= 1);
      prev = c;
    }
    assert.ok(Math.abs(d.cdf(5000) - 0.5) < 0.01);
  });

  it('stays within the centroid bound under load', () => {
    const d = new MergingDigest();
    for (let i = 0; i < 200000; i++) d.add(Math.cos(i) * 1e3, 1);
    const n = d.toData().mainCentroids.length;
    assert.ok(n <= Math.trunc((Math.PI * 100) / 2 + 0.5), `${n} centroids`);
    assert.equal(d.count(), 200000);
  });
});

describe('goAsin', () => {
  it('matches Math.asin to within an ulp or two and handles the special cases', () => {
    for (let i = -1000; i <= 1000; i++) {
      const x = i / 1000;
      const a = goAsin(x);
      const b = Math.asin(x);
      assert.ok(Math.abs(a - b) <= 4e-16 * Math.max(1, Math.abs(b)), `asin(${x}): ${a} vs ${b}`);
    }
    assert.ok(Object.is(goAsin(0), 0));
    assert.ok(Object.is(goAsin(-0), -0));
    assert.ok(Number.isNaN(goAsin(1.0000001)));
    assert.equal(goAsin(1), Math.PI / 2);
    assert.equal(goAsin(-1), -Math.PI / 2);
  });
});
