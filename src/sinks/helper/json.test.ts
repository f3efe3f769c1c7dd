import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goFloat, goString, goStringArray, numberText } from './json.js';

describe('numberText (Number to String off the number-string cache)', () => {
  it('writes what String(n) writes, for every kind of finite double', () => {
    const bits = new Float64Array(1);
    const words = new Uint32Array(bits.buffer);
    // a fixed LCG: random bit patterns (all exponents, subnormals), decimals, integers
    let s = 12345;
    const next = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s;
    };
    const values: number[] = [
      0,
      -0,
      1,
      -1,
      0.1,
      1e21,
      1e-7,
      2 ** 31,
      -(2 ** 31) - 1,
      2 ** 53,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
    ];
    for (let i = 0; i < 50_000; i++) {
      words[0] = next();
      words[1] = next();
      if (Number.isFinite(bits[0])) values.push(bits[0]!);
      values.push(next() / 1000, next() - 2 ** 31, (next() / 2 ** 32) * 10 ** ((i % 40) - 20));
    }
    for (const v of values) assert.equal(numberText(v), String(v), `numberText(${v})`);
  });
});

describe('goFloat (Go encoding/json float64)', () => {
  it('matches Go for the usual and the boundary cases', () => {
    // Expected strings are what Go's encoding/json writes for these float64 values.
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '-0'],
      [21, '21'],
      [6.333333333333333, '6.333333333333333'],
      [19 / 3, '6.333333333333333'],
      [76 / 3, '25.333333333333332'],
      [0.1 + 0.2, '0.30000000000000004'],
      [1795240252, '1795240252'],
      [1e20, '100000000000000000000'],
      [123456789012345680000, '123456789012345680000'],
      [1e21, '1e+21'],
      [1.5e21, '1.5e+21'],
      [1e-6, '0.000001'],
      [1e-7, '1e-7'],
      [1.5e-7, '1.5e-7'],
      [-2.5e-10, '-2.5e-10'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [-1e100, '-1e+100'],
    ];
    for (const [n, want] of cases) assert.equal(goFloat(n), want, `goFloat(${n})`);
  });
});

describe('goString (Go encoding/json string)', () => {
  it('escapes what Go escapes', () => {
    assert.equal(goString('plain.metric'), '"plain.metric"');
    assert.equal(goString('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(goString('a\nb\tc\rd'), '"a\\nb\\tc\\rd"');
    assert.equal(goString('<tag>&'), '"\\u003ctag\\u003e\\u0026"');
    assert.equal(goString('\u0001\u001f'), '"\\u0001\\u001f"');
    assert.equal(goString('x\u2028y\u2029'), '"x\\u2028y\\u2029"');
    assert.equal(goString('é ✓ 😀'), '"é ✓ 😀"');
    assert.equal(goString('bad\ud800x'), '"bad\\ufffdx"');
    assert.equal(goString('\udc00'), '"\\ufffd"');
    // a literal backslash-u sequence is data, not an escape
    assert.equal(goString('\\ud800'), '"\\\\ud800"');
  });

  it('agrees with JSON.parse on round trip', () => {
    for (const s of ['a"b', 'x\\y', '<>&', '\u0000\b\f', 'ok 😀']) assert.equal(JSON.parse(goString(s)), s);
    assert.equal(goStringArray(['a', 'b:c']), '["a","b:c"]');
    assert.equal(goStringArray([]), '[]');
  });
});
