import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { check, counter, gauge } from '../../../test/helpers/sink-context.js';
import { CsvFieldWriter, formatFloatF, formatTimestamp, RowEncoder } from './format.js';

const TS = 1_700_000_000; // 2023-11-14 22:13:20 UTC
const AFTERNOON = Date.UTC(2006, 0, 2, 15, 4, 5) / 1000; // Go's reference time

function encoder(delimiter = '\t', hostname = 'testhost', intervalSeconds = 10): RowEncoder {
  return new RowEncoder({ delimiter, hostname, intervalSeconds });
}

describe('localfile row format', () => {
  it('writes counters as rates and gauges as they are, in Go column order', () => {
    const e = encoder();
    assert.equal(
      e.encode(counter('a.b.c', 20, ['foo:bar', 'baz:quz'], TS)),
      'a.b.c\t{foo:bar,baz:quz}\trate\ttesthost\t10\t2023-11-14 22:13:20\t2\t20231114\n',
    );
    assert.equal(
      e.encode(gauge('g', 1.5, [], TS)),
      'g\t{}\tgauge\ttesthost\t10\t2023-11-14 22:13:20\t1.5\t20231114\n',
    );
    assert.equal(
      e.encode(counter('c', 15, ['x'], TS)),
      'c\t{x}\trate\ttesthost\t10\t2023-11-14 22:13:20\t1.5\t20231114\n',
    );
  });

  it('divides counters by the real interval (Go divides by 0)', () => {
    assert.equal(
      encoder('\t', 'h', 60).encode(counter('c', 5, [], TS)),
      'c\t{}\trate\th\t60\t2023-11-14 22:13:20\t0.08333333333333333\t20231114\n',
    );
    assert.equal(
      encoder('\t', 'h', 0.5).encode(counter('c', 3, [], TS)),
      'c\t{}\trate\th\t0.5\t2023-11-14 22:13:20\t6\t20231114\n',
    );
    assert.equal(
      encoder('\t', 'h', 60).encode(gauge('g', 5, [], TS)),
      'g\t{}\tgauge\th\t60\t2023-11-14 22:13:20\t5\t20231114\n',
    );
  });

  it('uses a 24-hour clock (Go prints 03:04:05 for 15:04:05)', () => {
    assert.deepEqual(formatTimestamp(AFTERNOON), { timestamp: '2006-01-02 15:04:05', partition: '20060102' });
    assert.deepEqual(formatTimestamp(0), { timestamp: '1970-01-01 00:00:00', partition: '19700101' });
    assert.deepEqual(formatTimestamp(Date.UTC(2024, 11, 31, 23, 59, 59) / 1000), {
      timestamp: '2024-12-31 23:59:59',
      partition: '20241231',
    });
    assert.equal(
      encoder().encode(gauge('g', 1, [], AFTERNOON)),
      'g\t{}\tgauge\ttesthost\t10\t2006-01-02 15:04:05\t1\t20060102\n',
    );
  });

  it("matches Go's own localfile test row, apart from the two fixed bugs", () => {
    // Go's localfile_test expects {"a.b.c.max", "{foo:bar,baz:quz}", "gauge", "hostname", "0",
    // "2016-10-10 05:04:18", "100", <date of the flush>}: 1476119058 is 17:04:18 UTC, which
    // its 12-hour layout prints as 05:04:18; and the interval it passes is 0.
    assert.equal(
      encoder(',', 'hostname').encode(gauge('a.b.c.max', 100, ['foo:bar', 'baz:quz'], 1476119058)),
      'a.b.c.max,"{foo:bar,baz:quz}",gauge,hostname,10,2016-10-10 17:04:18,100,20161010\n',
    );
  });

  it('skips status checks', () => {
    assert.equal(encoder().encode(check('svc.up', 2, { timestamp: TS })), undefined);
  });

  it('renders the hostname column, empty when there is none', () => {
    assert.equal(
      encoder('\t', '').encode(gauge('g', 1, [], TS)),
      'g\t{}\tgauge\t\t10\t2023-11-14 22:13:20\t1\t20231114\n',
    );
  });

  it('quotes as encoding/csv does, with a comma', () => {
    const e = encoder(',', 'host,1');
    assert.equal(
      e.encode(gauge('we"ird', 1, ['a:1', 'b:2'], TS)),
      '"we""ird","{a:1,b:2}",gauge,"host,1",10,2023-11-14 22:13:20,1,20231114\n',
    );
    assert.equal(
      e.encode(gauge('one', -2, ['only'], TS)),
      'one,{only},gauge,"host,1",10,2023-11-14 22:13:20,-2,20231114\n',
    );
  });

  it('quotes as encoding/csv does, with a tab', () => {
    const e = encoder('\t', 'h');
    assert.equal(
      e.encode(gauge('tab\there', 1, ['a:1', 'b:2', 'q:"x"'], TS)),
      '"tab\there"\t"{a:1,b:2,q:""x""}"\tgauge\th\t10\t2023-11-14 22:13:20\t1\t20231114\n',
    );
    assert.equal(
      e.encode(gauge('line\nbreak', 1, ['cr:\r'], TS)),
      '"line\nbreak"\t"{cr:\r}"\tgauge\th\t10\t2023-11-14 22:13:20\t1\t20231114\n',
    );
  });

  it('quotes fields starting with a space character, and \\.', () => {
    const csv = new CsvFieldWriter(',');
    assert.equal(csv.field(' lead'), '" lead"');
    assert.equal(csv.field('\u00a0nbsp'), '"\u00a0nbsp"');
    assert.equal(csv.field('\u3000ideo'), '"\u3000ideo"');
    assert.equal(csv.field('\u000bvt'), '"\u000bvt"');
    assert.equal(csv.field('trail '), 'trail ');
    assert.equal(csv.field('\ufeffbom'), '\ufeffbom', 'not a Go space');
    assert.equal(csv.field('\\.'), '"\\."');
    assert.equal(csv.field('\\.x'), '\\.x');
    assert.equal(csv.field(''), '');
    assert.equal(csv.field('plain'), 'plain');
    assert.equal(csv.row(['a', 'b c', 'd,e', '']), 'a,b c,"d,e",\n');
    assert.equal(new CsvFieldWriter('\t').field('\tlead'), '"\tlead"');
  });

  it('quotes any field that contains the delimiter, including the fixed columns', () => {
    assert.equal(
      encoder('-', 'h').encode(gauge('n', -1, [], TS)),
      'n-{}-gauge-h-10-"2023-11-14 22:13:20"-"-1"-20231114\n',
    );
    assert.equal(
      encoder('a', 'h').encode(counter('n', 10, [], TS)),
      'na{}a"rate"aha10a2023-11-14 22:13:20a1a20231114\n',
    );
    assert.equal(
      encoder('😀', 'h').encode(gauge('x😀y', 1, [], TS)),
      '"x😀y"😀{}😀gauge😀h😀10😀2023-11-14 22:13:20😀1😀20231114\n',
    );
    assert.equal(
      encoder(' ', 'h').encode(gauge('n', 1, [], TS)),
      'n {} gauge h 10 "2023-11-14 22:13:20" 1 20231114\n',
    );
  });

  it("formats numbers as strconv.FormatFloat(v, 'f', -1, 64)", () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '-0'],
      [1, '1'],
      [100, '100'],
      [-2.5, '-2.5'],
      [0.1 + 0.2, '0.30000000000000004'],
      [1 / 3, '0.3333333333333333'],
      [1e-6, '0.000001'],
      [1e-7, '0.0000001'],
      [1.5e-7, '0.00000015'],
      [-1.25e-10, '-0.000000000125'],
      [1e20, '100000000000000000000'],
      [1e21, '1000000000000000000000'],
      [2.5e21, '2500000000000000000000'],
      [1.2345678901234568e25, '12345678901234568000000000'],
      [-1e22, '-10000000000000000000000'],
      [2 ** 53 + 2, '9007199254740994'],
      [5e-324, `0.${'0'.repeat(323)}5`],
      [Number.MAX_VALUE, `17976931348623157${'0'.repeat(292)}`],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, '+Inf'],
      [Number.NEGATIVE_INFINITY, '-Inf'],
    ];
    for (const [v, want] of cases) assert.equal(formatFloatF(v), want, String(v));
  });

  it('reformats the timestamp when it changes within a batch', () => {
    const e = encoder(',', 'h');
    assert.match(e.encode(gauge('a', 1, [], TS))!, /,2023-11-14 22:13:20,1,20231114\n$/);
    assert.match(e.encode(gauge('b', 1, [], AFTERNOON))!, /,2006-01-02 15:04:05,1,20060102\n$/);
    assert.match(e.encode(gauge('c', 1, [], TS))!, /,2023-11-14 22:13:20,1,20231114\n$/);
  });
});
