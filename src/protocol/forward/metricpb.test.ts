import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeDigestData,
  decodeMetric,
  encodeDigestData,
  encodeMetric,
  type MetricMessage,
  PbScope,
  PbType,
} from './metricpb.js';

const FIXTURES = new URL('../../../test/fixtures/forward-from-go/', import.meta.url);

function goldenBuffers(): Buffer[] {
  return readFileSync(new URL('messages.jsonl', FIXTURES), 'utf8')
    .trim()
    .split('\n')
    .map((line) => Buffer.from((JSON.parse(line) as { b64: string }).b64, 'base64'));
}

function byName(name: string): MetricMessage {
  for (const b of goldenBuffers()) {
    const m = decodeMetric(b);
    if (m.name === name) return m;
  }
  throw new Error(`no message ${name}`);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('metricpb', () => {
  it('decodes every message Go forwarded and re-encodes it byte for byte', () => {
    const bufs = goldenBuffers();
    assert.ok(bufs.length >= 20);
    for (const b of bufs) {
      const m = decodeMetric(b);
      assert.ok(m.name.length > 0);
      assert.equal(hex(encodeMetric(m)), hex(b), m.name);
    }
  });

  it('reads the global counter and gauge', () => {
    const c = byName('fwd.counter.global');
    assert.equal(c.type, PbType.Counter);
    assert.equal(c.scope, PbScope.Global);
    assert.deepEqual(c.tags, ['case:counter']);
    assert.deepEqual(c.value, { kind: 'counter', value: 21 });

    const g = byName('fwd.gauge.global');
    assert.equal(g.type, PbType.Gauge);
    assert.equal(g.scope, PbScope.Global);
    assert.deepEqual(g.value, { kind: 'gauge', value: 42.5 });
  });

  it('reads histograms, timers and sets', () => {
    const h = byName('fwd.hist.global');
    assert.equal(h.type, PbType.Histogram);
    assert.equal(h.scope, PbScope.Global);
    assert.ok(h.value?.kind === 'histogram');
    assert.deepEqual(h.value.digest, {
      mainCentroids: [{ mean: 5, weight: 1 }],
      compression: 100,
      min: 5,
      max: 5,
      reciprocalSum: 0.2,
    });

    const five = byName('fwd.tdigest.five');
    assert.equal(five.type, PbType.Histogram);
    assert.equal(five.scope, PbScope.Mixed);
    assert.ok(five.value?.kind === 'histogram');
    assert.deepEqual(
      five.value.digest.mainCentroids.map((c) => c.mean),
      [1, 2, 7, 8, 100],
    );

    const thousand = byName('fwd.tdigest.thousand');
    assert.equal(thousand.type, PbType.Timer);
    assert.ok(thousand.value?.kind === 'histogram');
    assert.equal(
      thousand.value.digest.mainCentroids.reduce((s, c) => s + c.weight, 0),
      1000,
    );

    const set = byName('fwd.set.small');
    assert.equal(set.type, PbType.Set);
    assert.ok(set.value?.kind === 'set');
    assert.deepEqual([...set.value.hll.subarray(0, 4)], [1, 14, 0, 1]);
  });

  it('keeps the proto3 zero-value rules of Go', () => {
    // Zero counter: the oneof member is present but empty.
    const zero = encodeMetric({
      name: 'a',
      tags: [],
      type: 0,
      scope: 0,
      value: { kind: 'counter', value: 0 },
    });
    assert.equal(hex(zero), '0a01612a00');
    // No value at all.
    assert.equal(hex(encodeMetric({ name: '', tags: [], type: 0, scope: 0, value: null })), '');
    // +0 gauge is omitted, -0 is written (protoc-gen-go APIv2 behaviour).
    assert.equal(
      hex(encodeMetric({ name: '', tags: [], type: 1, scope: 0, value: { kind: 'gauge', value: 0 } })),
      '18013200',
    );
    const negZero = decodeMetric(
      encodeMetric({ name: '', tags: [], type: 1, scope: 0, value: { kind: 'gauge', value: -0 } }),
    );
    assert.ok(negZero.value?.kind === 'gauge' && Object.is(negZero.value.value, -0));
    // Empty tags are kept (repeated fields have no implicit presence per element).
    assert.deepEqual(
      decodeMetric(encodeMetric({ name: 'x', tags: ['', 'a'], type: 0, scope: 0, value: null })).tags,
      ['', 'a'],
    );
  });

  it('round-trips int64 counters, negative ones as 10-byte varints', () => {
    for (const v of [1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, -1, -300, -(2 ** 40)]) {
      const b = encodeMetric({
        name: 'c',
        tags: [],
        type: 0,
        scope: 2,
        value: { kind: 'counter', value: v },
      });
      const m = decodeMetric(b);
      assert.deepEqual(m.value, { kind: 'counter', value: v });
      if (v < 0) assert.equal(b[4], 11, 'wrapper length: tag + 10 varint bytes');
    }
    const minus1 = encodeMetric({
      name: '',
      tags: [],
      type: 0,
      scope: 0,
      value: { kind: 'counter', value: -1 },
    });
    assert.equal(hex(minus1), '2a0b08ffffffffffffffffff01');
    // Fractions are truncated as a Go int64 conversion would.
    const frac = decodeMetric(
      encodeMetric({ name: '', tags: [], type: 0, scope: 0, value: { kind: 'counter', value: 2.9 } }),
    );
    assert.deepEqual(frac.value, { kind: 'counter', value: 2 });
  });

  it('round-trips UTF-8 names and tags', () => {
    const m: MetricMessage = {
      name: 'métrique.名前',
      tags: ['ключ:значение', 'emoji:🎉', 'plain'],
      type: 2,
      scope: 1,
      value: {
        kind: 'histogram',
        digest: {
          mainCentroids: [{ mean: -1.5, weight: 2 }],
          compression: 100,
          min: -1.5,
          max: -1.5,
          reciprocalSum: -4 / 3,
        },
      },
    };
    assert.deepEqual(decodeMetric(encodeMetric(m)), m);
  });

  it('encodes and decodes standalone digests', () => {
    const d = {
      mainCentroids: [
        { mean: 0, weight: 1 },
        { mean: 2.5, weight: 3 },
      ],
      compression: 100,
      min: 0,
      max: 2.5,
      reciprocalSum: Number.POSITIVE_INFINITY,
    };
    const b = encodeDigestData(d);
    // A zero mean is omitted inside the centroid, as Go does.
    assert.equal(hex(b.subarray(0, 11)), '0a0911000000000000f03f');
    assert.deepEqual(decodeDigestData(b), d);
  });

  it('skips unknown fields', () => {
    const base = encodeMetric({ name: 'n', tags: [], type: 1, scope: 0, value: { kind: 'gauge', value: 1 } });
    // field 15 varint, field 16 fixed32, field 17 length-delimited
    const extra = Buffer.from([0x78, 0x96, 0x01, 0x85, 0x01, 1, 2, 3, 4, 0x8a, 0x01, 2, 0xaa, 0xbb]);
    const m = decodeMetric(Buffer.concat([base, extra]));
    assert.equal(m.name, 'n');
    assert.deepEqual(m.value, { kind: 'gauge', value: 1 });
  });

  it('throws plain Errors on malformed input', () => {
    const cases = [
      Buffer.from([0x0a, 0x05, 0x61]), // string longer than the buffer
      Buffer.from([0x0a]), // missing length
      Buffer.from([0x08, 0x01]), // name with varint wire type
      Buffer.from([0x2a, 0x02, 0x09, 0x00]), // counter value with fixed64 wire type, truncated
      Buffer.from([0x32, 0x02, 0x09, 0x00]), // truncated double
      Buffer.from([0x00]), // field 0
      Buffer.from([0x0b]), // start group
      Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11-byte varint
      Buffer.from([0x3a, 0x03, 0x0a, 0x05, 0x0a]), // inner digest longer than its wrapper
    ];
    for (const b of cases) assert.throws(() => decodeMetric(b), Error, hex(b));
    for (const b of goldenBuffers()) {
      for (let cut = 1; cut < b.length; cut += Math.max(1, b.length >> 6)) {
        try {
          decodeMetric(b.subarray(0, cut));
        } catch (e) {
          assert.ok(e instanceof Error);
        }
      }
    }
  });

  it('never throws anything but Error on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const m = decodeMetric(bytes);
          // Whatever decodes must re-encode and decode to the same message.
          assert.deepEqual(decodeMetric(encodeMetric(m)), m);
        } catch (e) {
          if (!(e instanceof Error) || !e.message.startsWith('metricpb:')) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
