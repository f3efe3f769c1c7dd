import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decodeMetric } from '../../protocol/forward/metricpb.js';
import { goLog, HyperLogLog } from './hll.js';

const FIXTURES = new URL('../../../test/fixtures/forward-from-go/', import.meta.url);

/** HLL bytes Go Veneur forwarded for a set metric. */
function goSetBytes(name: string): Uint8Array {
  for (const line of readFileSync(new URL('messages.jsonl', FIXTURES), 'utf8').trim().split('\n')) {
    const m = decodeMetric(Buffer.from((JSON.parse(line) as { b64: string }).b64, 'base64'));
    if (m.name === name) {
      assert.ok(m.value?.kind === 'set');
      return m.value.hll;
    }
  }
  throw new Error(`no message for ${name}`);
}

/** Members sent for a set metric in input.txt, in order. */
function goSetMembers(name: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync(new URL('input.txt', FIXTURES), 'utf8').trim().split('\n')) {
    const head = line.split('|')[0];
    const colon = head.indexOf(':');
    if (head.slice(0, colon) === name) out.push(head.slice(colon + 1));
  }
  return out;
}

/**
 * The sparse format's temp set is a Go map that Go writes in random iteration
 * order; sorting that region gives a canonical form two encodings of the same
 * sketch share.
 */
function canonical(b: Uint8Array): Buffer {
  const c = Buffer.from(b);
  if (c[3] !== 1) return c;
  const n = c.readUInt32BE(4);
  const vals: number[] = [];
  for (let i = 0; i < n; i++) vals.push(c.readUInt32BE(8 + 4 * i));
  vals.sort((x, y) => x - y);
  vals.forEach((v, i) => {
    c.writeUInt32BE(v, 8 + 4 * i);
  });
  return c;
}

function build(members: Iterable<string>): HyperLogLog {
  const h = new HyperLogLog();
  for (const m of members) h.insertString(m);
  return h;
}

function range(n: number, prefix = 'member-'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

describe('HyperLogLog', () => {
  it('counts Veneur TestSet members', () => {
    assert.equal(build(['5', '5', '123', '2147483647', '-2147483648']).estimate(), 4);
    assert.equal(new HyperLogLog().estimate(), 0);
  });

  for (const [name, expected] of [
    ['fwd.set.small', 10],
    ['fwd.set.large', 5000],
  ] as const) {
    it(`encodes ${name} as Go does`, () => {
      const go = goSetBytes(name);
      const members = goSetMembers(name);
      assert.equal(members.length, expected);
      const ours = build(members).marshalBinary();
      // Header: version 1, p 14, b 0, sparse.
      assert.deepEqual([...ours.subarray(0, 4)], [1, 14, 0, 1]);
      assert.equal(ours.length, go.length);
      // Same temp-set values (Go's map order is random) and the same compressed list byte for byte.
      assert.deepEqual(canonical(ours), canonical(go));
      const n = Buffer.from(go).readUInt32BE(4);
      const listStart = 8 + 4 * n;
      assert.deepEqual(Buffer.from(ours.subarray(listStart)), Buffer.from(go.subarray(listStart)));
    });

    it(`round-trips Go's ${name} bytes exactly and estimates ${expected}`, () => {
      const go = goSetBytes(name);
      const h = HyperLogLog.unmarshalBinary(go);
      assert.deepEqual(Buffer.from(h.marshalBinary()), Buffer.from(go));
      const est = h.estimate();
      assert.ok(Math.abs(est - expected) <= expected * 0.02, `estimate ${est}`);
      assert.equal(est, build(goSetMembers(name)).estimate());
    });
  }

  it('estimates the golden sets exactly as the sparse estimator must', () => {
    assert.equal(HyperLogLog.unmarshalBinary(goSetBytes('fwd.set.small')).estimate(), 10);
    assert.equal(HyperLogLog.unmarshalBinary(goSetBytes('fwd.set.large')).estimate(), 5000);
  });

  it('merges two sparse halves into the whole', () => {
    const members = goSetMembers('fwd.set.large');
    const a = build(members.filter((_, i) => i % 2 === 0));
    const b = HyperLogLog.unmarshalBinary(build(members.filter((_, i) => i % 2 === 1)).marshalBinary());
    a.merge(b);
    const whole = build(members);
    assert.equal(a.estimate(), whole.estimate());
    assert.deepEqual(canonical(a.marshalBinary()), canonical(whole.marshalBinary()));
    // other is untouched
    assert.ok(Math.abs(b.estimate() - 2500) < 60);
  });

  it('converts to dense when the sparse list outgrows m bytes', () => {
    const h = build(range(20000));
    const bytes = h.marshalBinary();
    assert.equal(bytes[3], 0, 'dense');
    assert.equal(bytes.length, 8 + 8192);
    assert.equal(Buffer.from(bytes).readUInt32BE(4), 8192);
    const est = h.estimate();
    assert.ok(Math.abs(est - 20000) < 20000 * 0.03, `estimate ${est}`);
    const back = HyperLogLog.unmarshalBinary(bytes);
    assert.deepEqual(Buffer.from(back.marshalBinary()), Buffer.from(bytes));
    assert.equal(back.estimate(), est);
  });

  it('merges dense, sparse and mixed operands', () => {
    const all = range(30000, 'u');
    const whole = build(all);
    const denseA = build(all.slice(0, 15000));
    const denseB = build(all.slice(15000));
    denseA.merge(denseB);
    // With no rebasing (b = 0) the register-wise max is exactly the whole.
    assert.deepEqual(Buffer.from(denseA.marshalBinary()), Buffer.from(whole.marshalBinary()));

    const sparse = build(all.slice(0, 100));
    const dense = build(all.slice(100));
    const s1 = HyperLogLog.unmarshalBinary(sparse.marshalBinary());
    s1.merge(dense); // sparse receiver converts to dense
    assert.deepEqual(Buffer.from(s1.marshalBinary()), Buffer.from(whole.marshalBinary()));
    dense.merge(sparse); // dense receiver takes the sparse entries
    assert.deepEqual(Buffer.from(dense.marshalBinary()), Buffer.from(whole.marshalBinary()));
  });

  it('keeps estimating sensibly at high cardinality (tailcut rebasing)', () => {
    const h = new HyperLogLog();
    const buf = new Uint8Array(8);
    const view = new DataView(buf.buffer);
    for (let i = 0; i < 400000; i++) {
      view.setUint32(0, i);
      view.setUint32(4, i ^ 0x5bd1e995);
      h.insertBytes(buf, 0, 8);
    }
    const est = h.estimate();
    assert.ok(Math.abs(est - 400000) < 400000 * 0.03, `estimate ${est}`);
    const back = HyperLogLog.unmarshalBinary(h.marshalBinary());
    assert.equal(back.estimate(), est);
  });

  it('hashes byte ranges in place and strings as UTF-8', () => {
    const a = new HyperLogLog();
    const buf = new TextEncoder().encode('xx héllo→wörld yy');
    a.insertBytes(buf, 3, buf.length - 3);
    const b = new HyperLogLog();
    b.insertString('héllo→wörld');
    assert.deepEqual(Buffer.from(a.marshalBinary()), Buffer.from(b.marshalBinary()));
  });

  it('merges with itself without changing the estimate', () => {
    const h = build(range(50));
    h.merge(h);
    assert.equal(h.estimate(), 50);
  });

  it('mergeBinary equals merge(unmarshalBinary), sparse and dense, and refuses bad bytes untouched', () => {
    const sizes = [0, 1, 5, 40, 170, 400, 3000, 30000];
    const sketch = (n: number, tag: string): HyperLogLog => {
      const h = new HyperLogLog();
      for (let i = 0; i < n; i++) h.insertString(`${tag}-${i}`);
      return h;
    };
    for (const a of sizes) {
      for (const b of sizes) {
        const bytes = sketch(b, 'b').marshalBinary();
        const viaObject = sketch(a, 'a');
        viaObject.merge(HyperLogLog.unmarshalBinary(bytes));
        const viaBytes = sketch(a, 'a');
        viaBytes.mergeBinary(bytes);
        assert.deepEqual(viaBytes.marshalBinary(), viaObject.marshalBinary(), `${a} <- ${b}`);
        assert.equal(viaBytes.estimate(), viaObject.estimate());
      }
    }
    const target = sketch(5, 'x');
    const before = target.marshalBinary();
    const bad = sketch(40, 'y').marshalBinary().slice();
    bad[bad.length - 1] = 0x80; // the list ends inside a varint
    assert.throws(() => target.mergeBinary(bad), Error);
    assert.throws(() => target.mergeBinary(new HyperLogLog(12).marshalBinary()), /precisions/);
    assert.deepEqual(target.marshalBinary(), before);
  });

  it('refuses to merge different precisions', () => {
    assert.throws(() => new HyperLogLog(14).merge(new HyperLogLog(12)), /precisions must be equal/);
  });

  it('throws plain Errors on malformed input', () => {
    const good = build(range(300)).marshalBinary();
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([1, 14, 0]),
      new Uint8Array([1, 3, 0, 1, 0, 0, 0, 0]),
      new Uint8Array([1, 19, 0, 1, 0, 0, 0, 0]),
      new Uint8Array([1, 14, 0, 1, 0, 0, 0, 5, 0, 0, 0, 1]), // temp set truncated
      new Uint8Array([1, 14, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1]), // list truncated
      new Uint8Array([1, 14, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x80]), // open varint
      new Uint8Array([1, 14, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]), // dense size mismatch
      new Uint8Array([1, 14, 0, 0, 0, 0, 32, 0, 1]), // dense truncated
    ];
    for (let cut = 0; cut < good.length; cut += 7) bad.push(good.subarray(0, cut));
    for (const b of bad) {
      assert.throws(
        () => HyperLogLog.unmarshalBinary(b),
        (e: unknown) => e instanceof Error,
      );
    }
  });
});

describe('goLog', () => {
  it('is a faithful natural logarithm', () => {
    for (const x of [1, 2, 3, 10, 1234.5, 16385, 2 ** 25 / (2 ** 25 - 4920), 1e-300, 5e-324, 1e300]) {
      const a = goLog(x);
      const b = Math.log(x);
      assert.ok(Math.abs(a - b) <= 2.3e-16 * Math.max(1, Math.abs(b)), `log(${x}) ${a} vs ${b}`);
    }
    assert.equal(goLog(1), 0);
    assert.equal(goLog(0), Number.NEGATIVE_INFINITY);
    assert.ok(Number.isNaN(goLog(-1)));
    assert.equal(goLog(Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
  });
});
