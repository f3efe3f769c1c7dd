import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { encodeMetric, type MetricMessage } from '../protocol/forward/metricpb.js';
import { crc32Bytes, crc32String } from './crc32.js';
import { HashRing, hashKey, keyHash, keyHashFromBytes } from './ring.js';
import { compileTagMatcher } from './tag-matcher.js';

const A = '10.0.0.1:8128';
const B = '10.0.0.2:8128';
const C = '10.0.0.3:8128';

function ring(...members: string[]): HashRing {
  const r = new HashRing();
  for (const m of members) r.add(m);
  return r;
}

function metric(name: string, type: number, tags: string[] = []): MetricMessage {
  return { name, type, tags, scope: 0, value: { kind: 'counter', value: 1 } };
}

describe('crc32', () => {
  it('matches the standard check value and Go/zlib on known strings', () => {
    assert.equal(crc32String('123456789'), 0xcbf43926);
    assert.equal(crc32String(''), 0);
    assert.equal(crc32String('café.latencytimer'), 0x62a97456);
  });

  it('agrees with node:zlib crc32 on arbitrary strings and bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (s) => {
        assert.equal(crc32String(s), zlibCrc32(Buffer.from(s, 'utf8')));
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        assert.equal(crc32Bytes(b), zlibCrc32(b));
      }),
    );
  });
});

describe('HashRing: golden vectors (derived by hand from CRC-32 values computed with Python zlib)', () => {
  // Point i of a member is CRC-32("<i><address>"); e.g. "010.0.0.1:8128" -> 0xa93d9690.
  it('places 20 points per member at CRC-32(strconv(i) + address)', () => {
    const pts = HashRing.pointsOf(A);
    assert.equal(pts.length, 20);
    assert.deepEqual(pts.slice(0, 3), [0xa93d9690, 0x343277e6, 0x4853523d]);
    const r = ring(A, B, C);
    const all = r.points();
    assert.equal(all.length, 60);
    // the sorted circle of the three members, first and last few points
    assert.deepEqual(all.slice(0, 5), [
      { point: 0x059bf336, member: C },
      { point: 0x076b69d0, member: A },
      { point: 0x0aced6f4, member: C },
      { point: 0x136259ef, member: C },
      { point: 0x1c377c2d, member: C },
    ]);
    assert.deepEqual(all.slice(57), [
      { point: 0xf20c9d42, member: C },
      { point: 0xf2cb1b67, member: B },
      { point: 0xfd59b880, member: C },
    ]);
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.point < all[i]!.point);
  });

  it('owner = first point strictly greater than the key hash', () => {
    const r = ring(A, B, C);
    // key "api.requestscounterenv:prod,host:a": CRC 0x7fe8af23 lies between
    // point 29 (0x79fad6ed, C) and point 30 (0x81389d5b, C) -> C
    const m1 = metric('api.requests', 0, ['env:prod', 'host:a']);
    assert.equal(hashKey(m1), 'api.requestscounterenv:prod,host:a');
    assert.equal(keyHash(m1), 0x7fe8af23);
    assert.equal(r.ownerOfHash(keyHash(m1)), C);
    // "api.requestscounterenv:prod,host:b": 0xe6e1fe99 between 0xe4f5379b (C) and 0xe95088bf (A) -> A
    const m2 = metric('api.requests', 0, ['env:prod', 'host:b']);
    assert.equal(keyHash(m2), 0xe6e1fe99);
    assert.equal(r.ownerOfHash(keyHash(m2)), A);
    // "queue.depthgaugeregion:us-east-1": 0xc79d46a5 between 0xc3a51992 (A) and 0xccf03c50 (A) -> A
    assert.equal(r.get('queue.depthgaugeregion:us-east-1'), A);
    // "café.latencytimer" (UTF-8 bytes): 0x62a97456 between 0x605659f6 (C) and 0x6f037c34 (C) -> C
    assert.equal(r.ownerOfHash(keyHash(metric('café.latency', 4))), C);
    // an unknown type enum prints as its number: "m5" = 0xc739c336 -> point 0xccf03c50 (A)
    assert.equal(hashKey(metric('m', 5)), 'm5');
    assert.equal(r.ownerOfHash(keyHash(metric('m', 5))), A);
  });

  it('a key hash equal to a point goes to the NEXT point (strictly greater)', () => {
    const r = ring(A, B, C);
    // "010.0.0.1:8128" hashes exactly to A's point 0 (0xa93d9690); the next point 0xab0a8a53 is B's
    assert.equal(crc32String('010.0.0.1:8128'), 0xa93d9690);
    assert.equal(r.get('010.0.0.1:8128'), B);
    // "010.0.0.2:8128" = B's point 0x2fa9e43e; next is 0x343277e6 (A)
    assert.equal(r.get('010.0.0.2:8128'), A);
  });

  it('wraps to the first point past the largest', () => {
    // With A and B only, the smallest point is 0x076b69d0 (A) and the largest 0xf2cb1b67 (B).
    const r = ring(A, B);
    assert.deepEqual(r.points()[0], { point: 0x076b69d0, member: A });
    assert.deepEqual(r.points().at(-1), { point: 0xf2cb1b67, member: B });
    // "wrap.test.54counter" = 0xff1c927f > every point -> wraps to A (not B, the last point)
    assert.equal(crc32String('wrap.test.54counter'), 0xff1c927f);
    assert.equal(r.get('wrap.test.54counter'), A);
    // hash 0 (the empty key) -> the smallest point
    assert.equal(r.get(''), A);
    assert.equal(r.ownerOfHash(0xffffffff), A);
  });

  it('ignore_tags removes tags from the key only', () => {
    const ignore = [compileTagMatcher({ kind: 'prefix', value: 'host:', unset: false })];
    const r = ring(A, B, C);
    const a = metric('api.requests', 0, ['env:prod', 'host:a']);
    const b = metric('api.requests', 0, ['env:prod', 'host:b']);
    assert.equal(hashKey(a, ignore), 'api.requestscounterenv:prod');
    // "api.requestscounterenv:prod" = 0x1af8c224 between 0x136259ef (C) and 0x1c377c2d (C) -> C
    assert.equal(keyHash(a, ignore), 0x1af8c224);
    assert.equal(r.ownerOfHash(keyHash(a, ignore)), C);
    assert.equal(r.ownerOfHash(keyHash(b, ignore)), C);
    const exact = [compileTagMatcher({ kind: 'exact', value: 'env:prod', unset: false })];
    assert.equal(hashKey(a, exact), 'api.requestscounterhost:a');
    const regex = [compileTagMatcher({ kind: 'regex', value: '^(env|host):', unset: false })];
    assert.equal(hashKey(a, regex), 'api.requestscounter');
  });

  it('empty ring has no owner', () => {
    assert.equal(new HashRing().get('x'), undefined);
    const r = ring(A);
    r.remove(A);
    assert.equal(r.get('x'), undefined);
    assert.equal(r.size, 0);
  });
});

describe('HashRing: stability', () => {
  const keys = Array.from(
    { length: 20_000 },
    (_, i) => `metric.${i % 97}.name${i}counterenv:prod,shard:${i % 13}`,
  );
  const dests = Array.from({ length: 6 }, (_, i) => `10.1.0.${i + 1}:8128`);

  it('owners are a pure function of the member set (insertion order does not matter)', () => {
    const r1 = ring(...dests);
    const r2 = ring(...[...dests].reverse());
    for (const k of keys.slice(0, 2000)) assert.equal(r1.get(k), r2.get(k));
  });

  it('adding a member moves only keys to it, about 1/N of them', () => {
    const before = ring(...dests.slice(0, 5));
    const after = ring(...dests);
    let moved = 0;
    for (const k of keys) {
      const o1 = before.get(k);
      const o2 = after.get(k);
      if (o1 !== o2) {
        moved++;
        assert.equal(o2, dests[5], 'a moved key must move to the new member');
      }
    }
    const frac = moved / keys.length;
    // 1/6 expected; 20 virtual nodes give a coarse spread
    assert.ok(frac > 0.05 && frac < 0.35, `moved ${frac}`);
  });

  it("removing a member moves only that member's keys", () => {
    const full = ring(...dests);
    const less = ring(...dests);
    less.remove(dests[2]!);
    for (const k of keys) {
      const o1 = full.get(k);
      const o2 = less.get(k);
      if (o1 === dests[2]) assert.notEqual(o2, dests[2]);
      else assert.equal(o2, o1);
    }
  });

  it('every member owns some keys', () => {
    const r = ring(...dests);
    const counts = new Map<string, number>();
    for (const k of keys) counts.set(r.get(k)!, (counts.get(r.get(k)!) ?? 0) + 1);
    assert.equal(counts.size, dests.length);
  });
});

describe('keyHashFromBytes', () => {
  it('equals keyHash of the decoded message', () => {
    const ignore = [compileTagMatcher({ kind: 'prefix', value: 'host:', unset: false })];
    fc.assert(
      fc.property(
        fc.string({ maxLength: 30 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }),
        fc.integer({ min: 0, max: 2 }),
        (name, type, tags, scope) => {
          const m: MetricMessage = {
            name,
            type,
            tags,
            scope,
            value:
              type === 1
                ? { kind: 'gauge', value: 1.5 }
                : type === 3
                  ? { kind: 'set', hll: new Uint8Array([1, 2]) }
                  : { kind: 'counter', value: 7 },
          };
          const bytes = encodeMetric(m);
          assert.equal(keyHashFromBytes(bytes), keyHash(m));
          assert.equal(keyHashFromBytes(bytes, ignore), keyHash(m, ignore));
        },
      ),
    );
  });

  it('takes the last name/type and rejects truncated input', () => {
    // name "a" (0a 01 61), type 1 (18 01), name "b" (0a 01 62) -> key "bgauge"
    const buf = new Uint8Array([0x0a, 0x01, 0x61, 0x18, 0x01, 0x0a, 0x01, 0x62]);
    assert.equal(keyHashFromBytes(buf), crc32String('bgauge'));
    assert.equal(keyHashFromBytes(new Uint8Array([0x0a, 0x05, 0x61])), -1);
    assert.equal(keyHashFromBytes(new Uint8Array([0x0b])), -1);
  });
});
