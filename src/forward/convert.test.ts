import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Aggregator, type SeriesList } from '../aggregate/aggregator.js';
import { HyperLogLog } from '../aggregate/sketches/hll.js';
import { MergingDigest } from '../aggregate/sketches/tdigest.js';
import type { SeriesState } from '../aggregate/state.js';
import { generateSync } from '../flush/generate.js';
import { makePolicy } from '../flush/policy.js';
import { MetricType, Scope } from '../model/metric.js';
import {
  decodeMetric,
  encodeMetric,
  type MetricMessage,
  PbScope,
  PbType,
} from '../protocol/forward/metricpb.js';
import {
  encodeSeries,
  encodeSeriesSliced,
  importMetric,
  metricsToStates,
  metricToState,
  roundHalfAwayFromZero,
  seriesToMetric,
} from './convert.js';

const FIXTURES = new URL('../../test/fixtures/forward-from-go/', import.meta.url);

function golden(): Buffer[] {
  return readFileSync(new URL('messages.jsonl', FIXTURES), 'utf8')
    .trim()
    .split('\n')
    .map((l) => Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64'));
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Messages compared byte for byte, except a set's HLL: Go's sparse temp set is a
 * map, serialised in random iteration order, and a merge may reorganise it; for
 * sets the estimate must be equal instead.
 */
function sameMessage(ours: Uint8Array, theirs: Uint8Array, what: string): void {
  const a = decodeMetric(ours);
  const b = decodeMetric(theirs);
  if (a.value?.kind === 'set' && b.value?.kind === 'set') {
    assert.equal(
      HyperLogLog.unmarshalBinary(a.value.hll).estimate(),
      HyperLogLog.unmarshalBinary(b.value.hll).estimate(),
      what,
    );
    const strip = (m: MetricMessage): Uint8Array =>
      encodeMetric({ ...m, value: { kind: 'set', hll: new Uint8Array(0) } });
    assert.equal(hex(strip(a)), hex(strip(b)), what);
    return;
  }
  assert.equal(hex(ours), hex(theirs), what);
}
const newAgg = (): Aggregator => new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });

const localPolicy = makePolicy({
  isLocal: true,
  percentiles: [0.5, 0.99],
  aggregates: ['min', 'max', 'count'],
});
const globalPolicy = makePolicy({
  isLocal: false,
  percentiles: [0.5, 0.99],
  aggregates: ['min', 'max', 'count', 'sum', 'avg', 'hmean', 'median'],
});

function mustState(m: MetricMessage): SeriesState {
  const r = importMetric(m);
  assert.ok(typeof r !== 'string', `${m.name}: rejected (${String(r)})`);
  return r;
}

/** Import states into a fresh aggregator and return its series by key. */
function imported(states: readonly SeriesState[]): SeriesList {
  const a = newAgg();
  a.importStates(states);
  return a.swap().series;
}

function ingest(lines: string): SeriesList {
  const a = newAgg();
  for (const l of lines.split('\n')) if (l !== '') a.ingestPacket(Buffer.from(l));
  return a.swap().series;
}

function msg(over: Partial<MetricMessage>): MetricMessage {
  return { name: 'x', tags: [], type: PbType.Counter, scope: PbScope.Global, value: null, ...over };
}

describe('seriesToMetric (local side)', () => {
  it('reproduces byte for byte what Go forwarded for the same input', () => {
    // test/fixtures/forward-from-go/input.txt was sent to a Go local; messages.jsonl
    // is what it forwarded. Feed the same lines to our aggregator, keep what a local
    // forwards, encode, and compare (veneur.* self-metrics differ by design).
    const input = readFileSync(new URL('input.txt', FIXTURES), 'utf8');
    const series = ingest(input);
    const gen = generateSync(series.values(), localPolicy, 0);
    const ours = new Map<string, Uint8Array>();
    for (const s of gen.forward) {
      const m = seriesToMetric(s);
      assert.ok(m !== null, s.key);
      ours.set(m.name, encodeMetric(m));
    }
    let compared = 0;
    for (const b of golden()) {
      const m = decodeMetric(b);
      if (m.name.startsWith('veneur.')) continue;
      const o = ours.get(m.name);
      assert.ok(o !== undefined, m.name);
      sameMessage(o, b, m.name);
      compared++;
    }
    assert.equal(compared, 7);
    assert.equal(
      [...ours.keys()].filter((n) => !n.startsWith('veneur.')).length,
      compared,
      'nothing extra forwarded',
    );
  });

  it('rounds counter sums half away from zero for the int64 wire field', () => {
    assert.equal(roundHalfAwayFromZero(2.5), 3);
    assert.equal(roundHalfAwayFromZero(-2.5), -3);
    assert.equal(roundHalfAwayFromZero(2.4999), 2);
    assert.equal(roundHalfAwayFromZero(-0.4), 0);
    const series = ingest('c:0.5|c|#veneurglobalonly\nc:2|c|@0.8|#veneurglobalonly');
    const [s] = [...series.values()].filter((x) => x.name === 'c');
    const m = seriesToMetric(s);
    assert.deepEqual(m?.value, { kind: 'counter', value: 3 }); // 0.5 + 2.5
    assert.equal(m?.scope, PbScope.Global);
    // -0 must not become a negative varint
    assert.equal(
      hex(encodeMetric(msg({ value: { kind: 'counter', value: -0 } }))),
      hex(encodeMetric(msg({ value: { kind: 'counter', value: 0 } }))),
    );
  });

  it('returns null for what is never forwarded', () => {
    const series = ingest(
      [
        'c:1|c',
        'g:1|g|#veneurlocalonly',
        'h:1|h|#veneurlocalonly',
        's:a|s|#veneurlocalonly',
        '_sc|chk|0',
      ].join('\n'),
    );
    let n = 0;
    for (const s of series.values()) {
      if (s.name.startsWith('veneur.')) continue;
      assert.equal(seriesToMetric(s), null, s.key);
      n++;
    }
    assert.equal(n, 5);
  });

  it('maps types and scopes as a Go local does', () => {
    const series = ingest(
      [
        'h:1|h|#z:1,a:2',
        'hg:1|h|#veneurglobalonly',
        't:1|ms',
        'tg:1|ms|#veneurglobalonly',
        's:a|s',
        'sg:a|s|#veneurglobalonly',
        'g:1.5|g|#veneurglobalonly',
      ].join('\n'),
    );
    const got = new Map<string, [number, number, string[]]>();
    for (const m of encodeSeries([...series.values()]).map(decodeMetric))
      got.set(m.name, [m.type, m.scope, m.tags]);
    assert.deepEqual(got.get('h'), [PbType.Histogram, PbScope.Mixed, ['a:2', 'z:1']]);
    assert.deepEqual(got.get('hg'), [PbType.Histogram, PbScope.Global, []]);
    assert.deepEqual(got.get('t'), [PbType.Timer, PbScope.Mixed, []]);
    assert.deepEqual(got.get('tg'), [PbType.Timer, PbScope.Global, []]);
    assert.deepEqual(got.get('s'), [PbType.Set, PbScope.Mixed, []]);
    assert.deepEqual(got.get('sg'), [PbType.Set, PbScope.Mixed, []]);
    assert.deepEqual(got.get('g'), [PbType.Gauge, PbScope.Global, []]);
  });
});

describe('metricToState (global side)', () => {
  it('every golden Go message converts to state and back to the same bytes', () => {
    for (const b of golden()) {
      const m = decodeMetric(b);
      const st = mustState(m);
      const series = imported([st]);
      const s = series.get(st.k);
      assert.ok(s !== undefined, st.k);
      const back = seriesToMetric(s);
      assert.ok(back !== null, st.k);
      if (m.name === 'fwd.tdigest.thousand') {
        // Re-merging 141 centroids into an empty digest may fold some: same
        // distribution, not necessarily the same centroid list.
        assert.ok(back.value?.kind === 'histogram' && m.value?.kind === 'histogram');
        const a = MergingDigest.fromData(m.value.digest);
        const c = MergingDigest.fromData(back.value.digest);
        assert.equal(c.count(), a.count());
        assert.equal(c.reciprocalSum, a.reciprocalSum);
        for (const q of [0.01, 0.25, 0.5, 0.75, 0.99]) {
          assert.ok(Math.abs(c.quantile(q) - a.quantile(q)) < 2, `q${q}`);
        }
        continue;
      }
      sameMessage(encodeMetric(back), b, m.name);
    }
  });

  it('keys imports exactly as the aggregator keys the same series received directly', () => {
    const direct = ingest(
      [
        'c:1|c|#b:1,a:2,veneurglobalonly',
        'g:1|g|#veneurglobalonly,b:1,a:2',
        'h:1|h|#b:1,a:2',
        'hg:1|h|#b:1,a:2,veneurglobalonly',
        't:1|ms|#b:1,a:2',
        'tg:1|ms|#b:1,a:2,veneurglobalonly',
        's:x|s|#b:1,a:2',
        'sg:x|s|#b:1,a:2,veneurglobalonly',
      ].join('\n'),
    );
    const directKeys = new Set([...direct.values()].map((s) => s.key).filter((k) => !k.includes('|veneur.')));
    // what a Go local would send for them, with the tags deliberately unsorted
    const tags = ['b:1', 'a:2'];
    const hll = new HyperLogLog();
    hll.insertString('x');
    const digest = new MergingDigest();
    digest.add(1, 1);
    const d = digest.toData();
    const msgs: MetricMessage[] = [
      msg({
        name: 'c',
        tags,
        type: PbType.Counter,
        scope: PbScope.Global,
        value: { kind: 'counter', value: 1 },
      }),
      msg({ name: 'g', tags, type: PbType.Gauge, scope: PbScope.Global, value: { kind: 'gauge', value: 1 } }),
      msg({
        name: 'h',
        tags,
        type: PbType.Histogram,
        scope: PbScope.Mixed,
        value: { kind: 'histogram', digest: d },
      }),
      msg({
        name: 'hg',
        tags,
        type: PbType.Histogram,
        scope: PbScope.Global,
        value: { kind: 'histogram', digest: d },
      }),
      msg({
        name: 't',
        tags,
        type: PbType.Timer,
        scope: PbScope.Mixed,
        value: { kind: 'histogram', digest: d },
      }),
      msg({
        name: 'tg',
        tags,
        type: PbType.Timer,
        scope: PbScope.Global,
        value: { kind: 'histogram', digest: d },
      }),
      msg({
        name: 's',
        tags,
        type: PbType.Set,
        scope: PbScope.Mixed,
        value: { kind: 'set', hll: hll.marshalBinary() },
      }),
      // GlobalOnly sets are sent as Mixed by Go; a Global one is merged as mixed too
      msg({
        name: 'sg',
        tags,
        type: PbType.Set,
        scope: PbScope.Global,
        value: { kind: 'set', hll: hll.marshalBinary() },
      }),
    ];
    const states = msgs.map(mustState);
    assert.deepEqual(new Set(states.map((s) => s.k)), directKeys);
    for (const s of states) assert.deepEqual(s.g, ['a:2', 'b:1']);
    assert.deepEqual(tags, ['b:1', 'a:2'], 'input not mutated');
  });

  it('forces counters and gauges to GlobalOnly, rejects other Local-scoped messages', () => {
    const c = mustState(msg({ scope: PbScope.Local, value: { kind: 'counter', value: 4 } }));
    assert.equal(c.s, Scope.Global);
    assert.equal(c.t, MetricType.Counter);
    assert.equal(c.v, 4);
    const g = mustState(
      msg({ type: PbType.Gauge, scope: PbScope.Mixed, value: { kind: 'gauge', value: 2 } }),
    );
    assert.equal(g.s, Scope.Global);
    const d = { mainCentroids: [{ mean: 1, weight: 1 }], compression: 100, min: 1, max: 1, reciprocalSum: 1 };
    assert.equal(
      importMetric(
        msg({ type: PbType.Histogram, scope: PbScope.Local, value: { kind: 'histogram', digest: d } }),
      ),
      'scope_local',
    );
    assert.equal(
      importMetric(
        msg({
          type: PbType.Set,
          scope: PbScope.Local,
          value: { kind: 'set', hll: new HyperLogLog().marshalBinary() },
        }),
      ),
      'scope_local',
    );
  });

  it('rejects malformed messages with a cause', () => {
    const d = (mean: number, weight: number) => ({
      mainCentroids: [{ mean, weight }],
      compression: 100,
      min: 0,
      max: 0,
      reciprocalSum: 0,
    });
    assert.equal(importMetric(msg({ value: null })), 'value');
    assert.equal(importMetric(msg({ type: PbType.Counter, value: { kind: 'gauge', value: 1 } })), 'value');
    assert.equal(importMetric(msg({ type: 9, value: { kind: 'counter', value: 1 } })), 'type');
    assert.equal(
      importMetric(msg({ type: PbType.Timer, scope: 5, value: { kind: 'histogram', digest: d(1, 1) } })),
      'type',
    );
    assert.equal(
      importMetric(
        msg({ type: PbType.Histogram, scope: 0, value: { kind: 'histogram', digest: d(Number.NaN, 1) } }),
      ),
      'digest',
    );
    assert.equal(
      importMetric(msg({ type: PbType.Histogram, scope: 0, value: { kind: 'histogram', digest: d(1, 0) } })),
      'digest',
    );
    assert.equal(
      importMetric(msg({ type: PbType.Set, scope: 0, value: { kind: 'set', hll: new Uint8Array([1, 2]) } })),
      'hll',
    );
    assert.equal(metricToState(msg({ value: null })), null);
    const rejected: string[] = [];
    const states = metricsToStates(
      [msg({ value: null }), msg({ value: { kind: 'counter', value: 1 } })],
      (cause, m) => rejected.push(`${cause}:${m.name}`),
    );
    assert.equal(states.length, 1);
    assert.deepEqual(rejected, ['value:x']);
  });

  it('a global emits no count/min/max/sum/avg/hmean for forwarded mixed digests, all of them for GlobalOnly ones', () => {
    // local: 3 samples of a mixed and a global-only histogram
    const local = ingest(
      'h:1|h\nh:2|h\nh:3|h\nhg:1|h|#veneurglobalonly\nhg:2|h|#veneurglobalonly\nhg:3|h|#veneurglobalonly',
    );
    const fwd = generateSync(local.values(), localPolicy, 0).forward;
    const wire = encodeSeries(fwd).map(decodeMetric);
    const global = newAgg();
    // the global also receives h:10 directly
    global.ingestPacket(Buffer.from('h:10|h'));
    global.importStates(metricsToStates(wire));
    const out = new Map<string, number>();
    for (const m of generateSync(global.swap().series.values(), globalPolicy, 0).metrics) {
      if (!m.name.startsWith('veneur.')) out.set(m.name, m.value);
    }
    // mixed: aggregates only from the direct sample; percentiles from the merged digest
    assert.equal(out.get('h.count'), 1);
    assert.equal(out.get('h.min'), 10);
    assert.equal(out.get('h.max'), 10);
    assert.equal(out.get('h.sum'), 10);
    assert.ok((out.get('h.99percentile') as number) > 9);
    assert.ok(out.has('h.50percentile'));
    // global-only: everything from the merged digest
    assert.equal(out.get('hg.count'), 3);
    assert.equal(out.get('hg.min'), 1);
    assert.equal(out.get('hg.max'), 3);
    assert.equal(out.get('hg.sum'), 6);
    // with no direct sample, a mixed digest yields percentiles and median only
    const g2 = newAgg();
    g2.importStates(metricsToStates(wire));
    const names = generateSync(g2.swap().series.values(), globalPolicy, 0)
      .metrics.map((m) => m.name)
      .filter((n) => n.startsWith('h.'))
      .sort();
    assert.deepEqual(names, ['h.50percentile', 'h.99percentile', 'h.median']);
  });

  it('sums imported counters and keeps the latest imported gauge', () => {
    const a = newAgg();
    a.importStates(
      metricsToStates([
        msg({ name: 'c', value: { kind: 'counter', value: 2 } }),
        msg({ name: 'c', value: { kind: 'counter', value: 5 } }),
        msg({ name: 'g', type: PbType.Gauge, value: { kind: 'gauge', value: 1 } }),
        msg({ name: 'g', type: PbType.Gauge, value: { kind: 'gauge', value: 7 } }),
      ]),
    );
    const out = new Map(
      generateSync(a.swap().series.values(), globalPolicy, 0).metrics.map((m) => [m.name, m.value] as const),
    );
    assert.equal(out.get('c'), 7);
    assert.equal(out.get('g'), 7);
  });
});

describe('encodeSeriesSliced', () => {
  it('gives the same bytes as encodeSeries, yielding between slices', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 120; i++) lines.push(`h.${i}:${i}|h`, `c.${i}:1|c|#veneurglobalonly`, `x.${i}:1|c`);
    const series = [...ingest(lines.join('\n')).values()];
    const sync = encodeSeries(series).map(hex);
    let yielded = false;
    setImmediate(() => {
      yielded = true;
    });
    const sliced = (await encodeSeriesSliced(series, 10)).map(hex);
    assert.ok(yielded, 'the event loop ran during encoding');
    assert.deepEqual(sliced, sync);
    assert.equal(sync.length, 240);
  });
});
