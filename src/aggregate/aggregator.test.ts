import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateSync } from '../flush/generate.js';
import { makePolicy } from '../flush/policy.js';
import { type InterMetric, InterMetricType, MetricType, Scope } from '../model/metric.js';
import { PacketType, ParseError } from '../protocol/dogstatsd/errors.js';
import { Aggregator } from './aggregator.js';
import { type AnySeries, type CounterSeries, type HistogramSeries, newSeries, SeriesPool } from './series.js';

function agg(extendTags: string[] = []): Aggregator {
  return new Aggregator({ extendTags, metricMaxLength: 4096, nowSeconds: () => 1000 });
}

function send(a: Aggregator, ...lines: string[]): void {
  a.ingestPacket(Buffer.from(lines.join('\n')));
}

function userSeries(a: Aggregator): AnySeries[] {
  return [...a.swap().series.values()].filter((s) => !s.name.startsWith('veneur.'));
}

function flushed(
  a: Aggregator,
  percentiles: number[] = [],
  aggregates = ['min', 'max', 'count'] as const,
): InterMetric[] {
  const policy = makePolicy({ isLocal: false, percentiles, aggregates: [...aggregates] });
  return generateSync(a.swap().series.values(), policy, 1234).metrics.filter(
    (m) => !m.name.startsWith('veneur.'),
  );
}

function byName(ms: InterMetric[]): Record<string, number> {
  return Object.fromEntries(ms.map((m) => [m.name, m.value]));
}

describe('aggregator', () => {
  it('scales counters by sample rate and keeps fractions', () => {
    const a = agg();
    send(a, 'c:5|c|@0.5', 'f:0.5|c', 'f:0.25|c', 'r:1|c|@0.1', 'r:1|c|@0.1', 'r:1|c|@0.1');
    const m = byName(flushed(a));
    assert.equal(m.c, 10);
    assert.equal(m.f, 0.75);
    assert.equal(m.r, 30);
  });

  it('keeps the last gauge and counts distinct set members', () => {
    const a = agg();
    send(a, 'g:1|g', 'g:7.5|g', 'g:3|g|@0.5');
    for (const v of ['5', '5', '123', '2147483647', '-2147483648']) send(a, `s:${v}|s`);
    const m = byName(flushed(a));
    assert.equal(m.g, 3);
    assert.equal(m.s, 4);
  });

  it('reproduces Veneur percentiles for 1, 2, 7, 8, 100', () => {
    const a = agg();
    send(a, 'h:1|h', 'h:2|h', 'h:7|h', 'h:8|h', 'h:100|h');
    const ms = flushed(a, [0.5, 0.75, 0.99], [
      'min',
      'max',
      'count',
      'median',
      'sum',
      'avg',
      'hmean',
    ] as never);
    assert.deepEqual(
      ms.map((x) => x.name),
      [
        'h.max',
        'h.min',
        'h.sum',
        'h.avg',
        'h.count',
        'h.median',
        'h.hmean',
        'h.50percentile',
        'h.75percentile',
        'h.99percentile',
      ],
    );
    const m = byName(ms);
    assert.equal(m['h.50percentile'], 6);
    assert.equal(m['h.75percentile'], 42.375);
    assert.ok(Math.abs(m['h.99percentile'] - 97.7) < 1e-9);
    assert.equal(m['h.max'], 100);
    assert.equal(m['h.min'], 1);
    assert.equal(m['h.count'], 5);
    assert.equal(m['h.sum'], 118);
    assert.equal(ms.find((x) => x.name === 'h.count')?.type, InterMetricType.Counter);
  });

  it('splits multi-value lines into samples with the same identity', () => {
    const a = agg();
    send(a, 'a.b.c:1:2:3:4|ms|@0.1|#result:success,op:frob');
    const [s] = userSeries(a) as HistogramSeries[];
    assert.equal(s.type, MetricType.Timer);
    assert.deepEqual(s.tags, ['op:frob', 'result:success']);
    assert.equal(s.localWeight, 40);
    assert.equal(s.digest.count(), 40);
  });

  it('treats differently ordered tags as one series', () => {
    const a = agg();
    send(a, 'x:1|c|#foo:bar,baz:gorch', 'x:2|c|#baz:gorch,foo:bar');
    const s = userSeries(a);
    assert.equal(s.length, 1);
    assert.equal((s[0] as CounterSeries).value, 3);
  });

  it('applies magic tags as scopes', () => {
    const a = agg();
    send(
      a,
      'h:1|h|#veneurlocalonly',
      'h:1|h|#veneurglobalonly:true',
      'h:1|h',
      'c:1|c|#veneurlocalonly',
      'c:1|c',
    );
    const s = userSeries(a);
    const scopes = s.map((x) => `${x.name}/${x.type}/${x.scope}/${x.tags.join(',')}`).sort();
    assert.deepEqual(scopes, [
      `c/${MetricType.Counter}/${Scope.Mixed}/`,
      `h/${MetricType.Histogram}/${Scope.Mixed}/`,
      `h/${MetricType.Histogram}/${Scope.Local}/`,
      `h/${MetricType.Histogram}/${Scope.Global}/`,
    ]);
    assert.equal((s.find((x) => x.name === 'c') as CounterSeries).value, 2);
  });

  it('counts every malformed line by cause and still takes good lines of the same datagram', () => {
    const a = agg();
    send(
      a,
      'foo',
      'foo:1',
      'good:1|c',
      'foo:1||',
      'foo:|c|',
      'x:nan|g|#shell',
      'x:+inf|g|#shell',
      'foo:1|foo|',
      'foo:1|c|foo',
      'foo:1|c|@1.1',
      'a.b.c:fart|c',
      ':1|c',
      'p:1::2|c',
      'e:|c',
      '_e{3,3}:foo',
      '_sc|foo.bar|5',
    );
    assert.equal(a.errorCount(PacketType.Metric, ParseError.NoPipe), 2);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.EmptyType), 1);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.EmptySection), 1);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.BadValue), 3);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.UnknownType), 1);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.UnknownSection), 1);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.BadSampleRate), 1);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.EmptyName), 1);
    assert.equal(a.errorCount(PacketType.Metric, ParseError.EmptyValue), 1);
    assert.equal(a.errorCount(PacketType.Event, ParseError.BadEvent), 1);
    assert.equal(a.errorCount(PacketType.ServiceCheck, ParseError.BadServiceCheck), 1);
    assert.equal(a.errorTotal, 14);
    const snap = a.swap();
    const good = snap.series.get(`${MetricType.Counter}${Scope.Mixed}|good|`) as CounterSeries;
    assert.equal(good.value, 1);
    // partial acceptance of a multi-value line: the value before the empty piece counts
    const p = snap.series.get(`${MetricType.Counter}${Scope.Mixed}|p|`) as CounterSeries;
    assert.equal(p.value, 1);
    const errs = [...snap.series.values()].filter((s) => s.name === 'veneur.packet.error_total');
    assert.equal(
      errs.reduce((n, s) => n + (s as CounterSeries).value, 0),
      14,
    );
    assert.ok(errs.some((s) => s.tags.includes('cause:bad_value') && s.tags.includes('reason:parse')));
  });

  it('drops a datagram longer than metric_max_length whole', () => {
    const a = new Aggregator({ extendTags: [], metricMaxLength: 20 });
    send(a, 'a:1|c', 'b:1|c', 'c:1|c', 'd:1|c');
    assert.equal(a.errorCount(PacketType.Unknown, ParseError.TooLong), 1);
    assert.equal(userSeries(a).length, 0);
  });

  it('starts every interval empty: absent series are not sent', () => {
    const a = agg();
    send(a, 'x:1|c');
    assert.equal(userSeries(a).length, 1);
    assert.equal(userSeries(a).length, 0);
    send(a, 'x:2|c');
    const s = userSeries(a) as CounterSeries[];
    assert.equal(s[0].value, 2);
  });

  it('applies extend_tags to metrics, events and checks', () => {
    const a = agg(['env:prod']);
    send(a, 'x:1|c|#env:dev,a:b', '_sc|chk|0|#env:dev', '_e{1,1}:t|x|#env:dev,k');
    const snap = a.swap();
    const tags = [...snap.series.values()]
      .filter((s) => !s.name.startsWith('veneur.'))
      .map((s) => s.tags.join(','));
    assert.deepEqual(tags.sort(), ['a:b,env:prod', 'env:prod']);
    assert.deepEqual(
      [...snap.events[0].tags],
      [
        ['env', 'prod'],
        ['k', ''],
      ],
    );
  });

  it('keeps the last service check per name and tags', () => {
    const a = agg();
    send(a, '_sc|chk|0|h:a|m:first', '_sc|chk|2|h:b|m:second');
    const ms = flushed(a);
    assert.equal(ms.length, 1);
    assert.equal(ms[0].type, InterMetricType.Status);
    assert.equal(ms[0].value, 2);
    assert.equal(ms[0].message, 'second');
    assert.equal(ms[0].hostName, 'b');
    assert.equal(ms[0].timestamp, 1234);
  });

  it('recycles flushed series without leaking state into the next interval', () => {
    const a = agg();
    for (let round = 0; round < 3; round++) {
      const lines = ['c:1|c', 'g:5|g', 'h:10|h', 'h:20|h', '_sc|chk|1|m:x'];
      for (let i = 0; i < 30_000; i++) lines.push(`s:m${i + round * 100_000}|s`); // dense HLL
      send(a, ...lines.slice(0, 5));
      for (let i = 5; i < lines.length; i += 100) send(a, ...lines.slice(i, i + 100));
      const snap = a.swap();
      const policy = makePolicy({ isLocal: false, percentiles: [0.5], aggregates: ['min', 'max', 'count'] });
      const m = byName(generateSync(snap.series.values(), policy, 1).metrics);
      assert.equal(m.c, 1, `round ${round}`);
      assert.equal(m.g, 5);
      assert.equal(m['h.count'], 2);
      assert.equal(m['h.min'], 10);
      assert.equal(m['h.50percentile'], 15);
      assert.ok(Math.abs(m.s - 30_000) / 30_000 < 0.02, `set estimate ${m.s}`);
      a.recycle(snap);
    }
  });

  it('raw keys that canonicalise alike share one series, in every interval, also after the key cache is pruned', () => {
    const a = agg();
    const key = `${MetricType.Counter}${Scope.Mixed}|c|a:1,b:2`;
    for (let round = 0; round < 3; round++) {
      send(a, 'c:1|c|#a:1,b:2', 'c:2|c|#b:2,a:1', 'c:4|c|#a:1,b:2');
      const snap = a.swap();
      assert.equal(
        snap.series.size - [...snap.series.values()].filter((s) => s.name.startsWith('veneur.')).length,
        1,
      );
      assert.equal((snap.series.get(key) as CounterSeries).value, 7, `round ${round}`);
      a.recycle(snap);
    }
    // an interval with many keys, then a quiet one: the cache and the slots are pruned together
    const many: string[] = [];
    for (let i = 0; i < 70_000; i++) many.push(`k${i}:1|c`);
    for (let i = 0; i < many.length; i += 500) send(a, ...many.slice(i, i + 500));
    a.recycle(a.swap());
    a.recycle(a.swap());
    send(a, 'c:1|c|#b:2,a:1', 'c:1|c|#a:1,b:2');
    a.importStates([
      {
        k: key,
        t: MetricType.Counter,
        s: Scope.Mixed,
        n: 'c',
        g: ['a:1', 'b:2'],
        v: 5,
        u: 0,
        d: null,
        l: null,
        h: null,
        m: '',
        o: '',
      },
    ]);
    const snap = a.swap();
    assert.equal((snap.series.get(key) as CounterSeries).value, 7);
    assert.equal([...snap.series.values()].filter((s) => s.key === key).length, 1);
  });

  it('the series pool looks at a bounded number of pooled series per take', () => {
    const pool = new SeriesPool();
    let read = 0;
    const counters: AnySeries[] = [];
    for (let i = 0; i < 10_000; i++)
      counters.push(newSeries(MetricType.Counter, Scope.Mixed, `c${i}`, [], `k${i}`));
    pool.refill({
      *[Symbol.iterator]() {
        for (const c of counters) {
          read++;
          yield c;
        }
      },
    });
    // no histogram in the snapshot: a new one, after a short look
    const h = pool.take(MetricType.Histogram, Scope.Mixed, 'h', [], 'kh');
    assert.equal(h.type, MetricType.Histogram);
    assert.ok(read <= 64, `read ${read}`);
    // what it looked at is not lost: counters come from the pool, not new
    const c = pool.take(MetricType.Counter, Scope.Mixed, 'x', [], 'kx');
    assert.ok(counters.includes(c));
    assert.equal(c.name, 'x');
  });

  it('the series pool sorts a snapshot into free lists in the background, in steps', async () => {
    const pool = new SeriesPool();
    // grouped by type, and asked for in another order: the bounded look alone would miss
    const timers: AnySeries[] = [];
    const counters: AnySeries[] = [];
    for (let i = 0; i < 20_000; i++)
      timers.push(newSeries(MetricType.Timer, Scope.Mixed, `t${i}`, [], `t${i}`));
    for (let i = 0; i < 20_000; i++)
      counters.push(newSeries(MetricType.Counter, Scope.Mixed, `c${i}`, [], `c${i}`));
    const all = [...timers, ...counters];
    pool.refill(all);
    assert.ok(pool.sorting);
    let turns = 0;
    while (pool.sorting) {
      await new Promise<void>((r) => setImmediate(r));
      turns++;
    }
    assert.ok(turns > 1, `sorted in ${turns} turns`);
    const pooled = new Set(all);
    for (let i = 0; i < 20_000; i++) {
      assert.ok(pooled.has(pool.take(MetricType.Counter, Scope.Mixed, `x${i}`, [], `x${i}`)));
      assert.ok(pooled.has(pool.take(MetricType.Timer, Scope.Mixed, `y${i}`, [], `y${i}`)));
    }
    // empty now: new series
    assert.ok(!pooled.has(pool.take(MetricType.Counter, Scope.Mixed, 'z', [], 'z')));
  });

  it('the series pool starts over when the series count falls', () => {
    const pool = new SeriesPool();
    const big: AnySeries[] = [];
    for (let i = 0; i < 200_000; i++)
      big.push(newSeries(MetricType.Counter, Scope.Mixed, `c${i}`, [], `c${i}`));
    for (const s of big) pool.put(s);
    pool.bound(400_000); // two intervals of 200k: kept
    assert.ok(big.includes(pool.take(MetricType.Counter, Scope.Mixed, 'x', [], 'x')));
    pool.bound(2 * 1 + 65_536); // the count fell to 1: dropped
    const c = pool.take(MetricType.Counter, Scope.Mixed, 'y', [], 'y');
    assert.ok(!big.includes(c));
    assert.equal(c.name, 'y');
  });

  it('a released list array is refilled by a later interval without showing its old entries', () => {
    const a = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
    const user = (snap: { series: Iterable<AnySeries> }) =>
      [...snap.series].filter((s) => !s.name.startsWith('veneur.')).map((s) => s.name);
    send(a, 'a:1|c', 'b:1|c', 'c:1|c', 'd:1|c', 'e:1|c');
    const one = a.swap();
    assert.deepEqual(user(one), ['a', 'b', 'c', 'd', 'e']);
    for (const s of one.series) a.release(s);
    a.releaseList(one);
    assert.equal(one.series.size, 0);
    send(a, 'f:1|c', 'g:1|c');
    const two = a.swap(); // the next interval gets the released array
    assert.deepEqual(user(two), ['f', 'g']);
    send(a, 'h:2|c');
    const three = a.swap();
    assert.deepEqual(user(three), ['h']);
    assert.equal((three.series.get(`${MetricType.Counter}${Scope.Mixed}|h|`) as CounterSeries).value, 2);
  });

  it("a snapshot yields the swap's own counters first, then the interval's series in first-touch order", () => {
    const a = agg();
    send(a, 'a:1|c', 'b:1|g', 'bad line', 'c:1|ms');
    const snap = a.swap();
    const names = [...snap.series].map((s) => s.name);
    // a flush cut at its deadline loses the tail of this order: the counters that
    // explain the interval come before every user series
    const firstUser = names.indexOf('a');
    assert.ok(firstUser > 0, names.join(' '));
    assert.ok(names.slice(0, firstUser).includes('veneur.worker.metrics_processed_total'));
    assert.ok(names.slice(0, firstUser).includes('veneur.packet.error_total'));
    assert.deepEqual(
      names.slice(firstUser).filter((n) => !n.startsWith('veneur.')),
      ['a', 'b', 'c'],
    );
    assert.equal(names.length, snap.series.size);
    assert.equal(new Set(names).size, names.length);
  });

  it('a flush gives series back as it goes: the next interval reuses them', async () => {
    const a = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
    send(a, 'a:1|c', 'b:2|h', 'c:x|s', 'd:4|g');
    const snap = a.swap();
    const before = new Set(snap.series.values());
    for (const s of snap.series.values()) a.release(s);
    send(a, 'e:1|c', 'f:2|h', 'g:y|s', 'h:4|g');
    const next = a.swap();
    const user = [...next.series.values()].filter((s) => !s.name.startsWith('veneur.'));
    assert.equal(user.length, 4);
    for (const s of user) assert.ok(before.has(s), `${s.name} reused`);
    const f = next.series.get(`${MetricType.Histogram}${Scope.Mixed}|f|`) as HistogramSeries;
    assert.equal(f.digest.count(), 1);
  });

  it('max_series: new series beyond the cap are dropped and counted, existing ones keep aggregating', () => {
    const a = new Aggregator({ extendTags: [], metricMaxLength: 4096, maxSeries: 3 });
    send(a, 'a:1|c', 'b:1|c', 'c:1|h', 'd:1|c', 'e:1|g', 'a:2|c', '_sc|chk|0');
    assert.equal(a.errorCount(PacketType.Metric, ParseError.SeriesLimit), 2);
    assert.equal(a.errorCount(PacketType.ServiceCheck, ParseError.SeriesLimit), 1);
    const snap = a.swap();
    const user = [...snap.series.values()].filter((s) => !s.name.startsWith('veneur.'));
    assert.deepEqual(user.map((s) => s.name).sort(), ['a', 'b', 'c']);
    assert.equal((snap.series.get(`${MetricType.Counter}${Scope.Mixed}|a|`) as CounterSeries).value, 3);
    // self-telemetry always gets through, with the drops counted
    const drops = [...snap.series.values()].filter(
      (s) => s.name === 'veneur.packet.error_total' && s.tags.includes('reason:series_limit'),
    );
    assert.equal(
      drops.reduce((n, s) => n + (s as CounterSeries).value, 0),
      3,
    );
    // a new interval has a fresh budget
    send(a, 'd:1|c');
    assert.equal(a.errorCount(PacketType.Metric, ParseError.SeriesLimit), 0);
  });
});
