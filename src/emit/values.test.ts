import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFloat, formatNsAsMs, parseGoDurationNs, parseGoFloat, parseGoInt64 } from './values.js';

describe('veneur-emit value syntax', () => {
  it('parses -count like Go flag.Int64 (base 0, int64 range)', () => {
    const ok: [string, bigint][] = [
      ['3', 3n],
      ['-5', -5n],
      ['+7', 7n],
      ['0', 0n],
      ['0x1F', 31n],
      ['0b101', 5n],
      ['0o17', 15n],
      ['017', 15n],
      ['1_000', 1000n],
      ['0x_ff', 255n],
      ['9223372036854775807', 9223372036854775807n],
      ['-9223372036854775808', -9223372036854775808n],
    ];
    for (const [text, want] of ok) assert.equal(parseGoInt64(text), want, text);
    for (const bad of [
      '',
      '-',
      '1.5',
      '1e3',
      'abc',
      '08',
      '0x',
      '1__0',
      '_1',
      '1_',
      '9223372036854775808',
      ' 1',
    ])
      assert.equal(parseGoInt64(bad), null, JSON.stringify(bad));
  });

  it('parses -gauge like strconv.ParseFloat, rejecting non-finite values', () => {
    const ok: [string, number][] = [
      ['1.5', 1.5],
      ['42', 42],
      ['-0.25', -0.25],
      ['.5', 0.5],
      ['5.', 5],
      ['1e3', 1000],
      ['+2E-2', 0.02],
      ['0x1p-2', 0.25],
      ['0x1.8p1', 3],
      ['-0X.8p0', -0.5],
    ];
    for (const [text, want] of ok) assert.equal(parseGoFloat(text), want, text);
    for (const bad of [
      '',
      'abc',
      'NaN',
      'nan',
      'Inf',
      '+inf',
      '-Infinity',
      '1e400',
      '1_0',
      '0x1',
      '1.2.3',
      ' 1',
    ])
      assert.equal(parseGoFloat(bad), null, JSON.stringify(bad));
  });

  it("formats floats like datadog-go's gauges (shortest round-trip, 'f' -1)", () => {
    const cases: [number, string][] = [
      [1.5, '1.5'],
      [42, '42'],
      [-3, '-3'],
      [0, '0'],
      [-0, '-0'],
      [0.1, '0.1'],
      [1 / 3, '0.3333333333333333'],
      [1e21, '1000000000000000000000'],
      [1.5e22, '15000000000000000000000'],
      [123456789.125, '123456789.125'],
      [1e-6, '0.000001'],
      [1.25e-7, '0.000000125'],
      [-2.5e-10, '-0.00000000025'],
      [2 ** 53 + 2, '9007199254740994'],
      [Number.MAX_VALUE, `17976931348623157${'0'.repeat(292)}`],
    ];
    for (const [v, want] of cases) assert.equal(formatFloat(v), want, String(v));
    // always parses back to the same float
    for (const v of [Math.PI, 1e-300, 5e-324, 6.02214076e23, 0.1 + 0.2])
      assert.equal(Number(formatFloat(v)), v);
    assert.throws(() => formatFloat(Number.NaN));
  });

  it('parses -timing like time.ParseDuration, exactly, in nanoseconds', () => {
    const ok: [string, bigint][] = [
      ['0', 0n],
      ['300ms', 300_000_000n],
      ['1.5s', 1_500_000_000n],
      ['-1.5h', -5_400_000_000_000n],
      ['2h45m', 9_900_000_000_000n],
      ['1us', 1_000n],
      ['1µs', 1_000n],
      ['1μs', 1_000n],
      ['7ns', 7n],
      ['.5ms', 500_000n],
      ['1.ms', 1_000_000n],
      ['1m0.000000001s', 60_000_000_001n],
      ['+10s', 10_000_000_000n],
      ['2562047h47m16.854775807s', 9_223_372_036_854_775_807n],
    ];
    for (const [text, want] of ok) assert.equal(parseGoDurationNs(text), want, text);
    for (const bad of [
      '',
      '1',
      '-',
      's',
      '.s',
      '1x',
      '1.5',
      '10 s',
      '1sm',
      '2562047h47m16.854775808s',
      '0s0',
    ])
      assert.equal(parseGoDurationNs(bad), null, JSON.stringify(bad));
  });

  it('writes nanoseconds as exact milliseconds', () => {
    assert.equal(formatNsAsMs(0n), '0');
    assert.equal(formatNsAsMs(1_500_000n), '1.5');
    assert.equal(formatNsAsMs(300_000_000n), '300');
    assert.equal(formatNsAsMs(3n), '0.000003');
    assert.equal(formatNsAsMs(-12_345_678n), '-12.345678');
  });
});
