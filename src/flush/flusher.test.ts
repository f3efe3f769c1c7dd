import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Aggregator } from '../aggregate/aggregator.js';
import type { HistogramSeries } from '../aggregate/series.js';
import { chunksOf, type MetricBatch } from '../model/batch.js';
import { type DogStatsdEvent, type InterMetric, MetricType } from '../model/metric.js';
import { noopTelemetry, RecordingTelemetry } from '../telemetry/types.js';
import {
  alignedDelay,
  Flusher,
  type FlushTarget,
  LOOP_DELAY_COARSE_MS,
  LOOP_DELAY_FINE_MS,
} from './flusher.js';
import { makePolicy, percentileSuffix } from './policy.js';

class Recorder implements FlushTarget {
  readonly name = 'rec';
  readonly flushes: {
    at: number;
    metrics: readonly InterMetric[];
    events: readonly DogStatsdEvent[];
    deadline: number;
  }[] = [];
  /** Every chunk received was frozen. */
  allFrozen = true;
  async flush(batch: MetricBatch, events: readonly DogStatsdEvent[], deadline: number): Promise<void> {
    const at = Date.now();
    const metrics: InterMetric[] = [];
    for await (const chunk of chunksOf(batch)) {
      if (!Object.isFrozen(chunk)) this.allFrozen = false;
      metrics.push(...chunk);
    }
    this.flushes.push({ at, metrics, events, deadline });
  }
}

function flusher(aggregator: Aggregator, rec: Recorder, intervalMs: number, synchronize: boolean): Flusher {
  return new Flusher({
    aggregator,
    targets: [rec],
    policy: makePolicy({ isLocal: false, percentiles: [0.5], aggregates: ['min', 'max', 'count'] }),
    intervalMs,
    synchronize,
    logger: pino({ level: 'silent' }),
    telemetry: noopTelemetry,
  });
}

describe('flusher', () => {
  it('computes the delay to the next wall-clock multiple of the interval', () => {
    assert.equal(alignedDelay(1234, 1000), 766);
    assert.equal(alignedDelay(10_000, 10_000), 10_000);
    assert.equal(alignedDelay(19_999, 10_000), 1);
  });

  it('ticks on wall-clock multiples of the interval when synchronized', async () => {
    const agg = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
    const rec = new Recorder();
    const f = flusher(agg, rec, 500, true);
    await f.start();
    await new Promise((r) => setTimeout(r, 1600));
    await f.stop(Date.now());
    assert.ok(rec.flushes.length >= 2, `flushes: ${rec.flushes.length}`);
    for (const fl of rec.flushes) {
      const phase = fl.at % 500;
      // generous for loaded CI machines; an unaligned clock would land anywhere in [0, 500)
      assert.ok(phase < 150 || phase > 490, `flush at phase ${phase} ms`);
      // the deadline is the next tick, but never less than 1 s away (sinks need time to answer)
      assert.ok(fl.deadline - fl.at > 900 && fl.deadline - fl.at <= 1100, 'deadline');
    }
  });

  it('reports event-loop blocks and samples finely after a busy interval', async () => {
    const agg = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
    const tel = new RecordingTelemetry();
    const f = new Flusher({
      aggregator: agg,
      targets: [new Recorder()],
      policy: makePolicy({ isLocal: false, percentiles: [0.5], aggregates: ['min', 'max', 'count'] }),
      intervalMs: 60_000,
      synchronize: false,
      logger: pino({ level: 'silent' }),
      telemetry: tel,
    });
    const gauges = (name: string) =>
      tel.calls.filter((c) => c.kind === 'gauge' && c.name === name).map((c) => c.value);
    const busy = (ms: number) => {
      const t = performance.now();
      while (performance.now() - t < ms);
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    try {
      await f.start();
      assert.equal(f.loopDelayResolutionMs, LOOP_DELAY_COARSE_MS, 'an idle process samples coarsely');
      await sleep(30);
      busy(200);
      await sleep(30);
      await f.flush();
      assert.ok(gauges('event_loop.utilization')[0] > 0.5, `utilization ${gauges('event_loop.utilization')}`);
      // the block is inside the gap the histogram records: an upper bound
      assert.ok(gauges('event_loop.delay_max_ms')[0] >= 200, `max ${gauges('event_loop.delay_max_ms')}`);
      assert.equal(
        f.loopDelayResolutionMs,
        LOOP_DELAY_FINE_MS,
        'a busy interval is followed by fine sampling',
      );
      await sleep(20);
      busy(40);
      await sleep(20);
      await f.flush();
      assert.ok(gauges('event_loop.delay_max_ms')[1] >= 40, `max ${gauges('event_loop.delay_max_ms')}`);
      await sleep(600);
      await f.flush();
      assert.ok(gauges('event_loop.utilization')[2] < 0.2, `utilization ${gauges('event_loop.utilization')}`);
      assert.equal(f.loopDelayResolutionMs, LOOP_DELAY_COARSE_MS, 'and an idle one by coarse sampling');
    } finally {
      await f.stop(Date.now());
    }
  });

  it('sends a frozen batch, and every series expires at each flush', async () => {
    const agg = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
    const rec = new Recorder();
    const f = flusher(agg, rec, 60_000, false);
    agg.ingestPacket(Buffer.from('a:1|c\nb:2|g'));
    await f.flush();
    agg.ingestPacket(Buffer.from('a:5|c'));
    await f.flush();
    await f.stop(Date.now());
    const names = rec.flushes.map((x) =>
      x.metrics.filter((m) => !m.name.startsWith('veneur.')).map((m) => `${m.name}=${m.value}`),
    );
    assert.deepEqual(names, [['a=1', 'b=2'], ['a=5']]);
    assert.ok(rec.allFrozen, 'every chunk is frozen');
  });

  it('on a local, forwarded series keep their state until encoded while the others are reused', async () => {
    const agg = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
    const rec = new Recorder();
    let release: () => void = () => {};
    const encodedLater = new Promise<void>((r) => {
      release = r;
    });
    let seen: string[] = [];
    const f = new Flusher({
      aggregator: agg,
      targets: [rec],
      policy: makePolicy({ isLocal: true, percentiles: [0.5], aggregates: ['min', 'max', 'count'] }),
      intervalMs: 60_000,
      synchronize: false,
      logger: pino({ level: 'silent' }),
      telemetry: noopTelemetry,
      forward: (series) => {
        // encoding reads the series later, after the next interval has started
        const encoded = encodedLater.then(() => {
          seen = series
            .filter((s) => !s.name.startsWith('veneur.'))
            .map((s) =>
              s.type === MetricType.Set
                ? `${s.name}:${s.hll.estimate()}`
                : `${s.name}:${(s as HistogramSeries).digest.count()}`,
            )
            .sort();
        });
        return { encoded, sent: encoded };
      },
    });
    agg.ingestPacket(Buffer.from('c:1|c\nh:1|h\nh:2|h\ns:a|s\ns:b|s\ns:c|s'));
    const flushing = f.flush();
    // the next interval, while the forward job has not read its series yet: the released
    // counter (and any pooled series) is reused, the forwarded ones must not be
    await new Promise((r) => setImmediate(r));
    agg.ingestPacket(Buffer.from('c2:1|c\nh2:7|h\ns2:z|s'));
    release();
    await flushing;
    await f.stop(Date.now());
    assert.deepEqual(seen, ['h:2', 's:3']);
    const local = rec.flushes[0]!.metrics.filter((m) => !m.name.startsWith('veneur.')).map((m) => m.name);
    assert.ok(local.includes('c'), `counter flushed locally: ${local.join(',')}`);
  });

  it('rejects percentiles that would share a name', () => {
    assert.equal(percentileSuffix(0.29), '29percentile');
    assert.equal(percentileSuffix(0.999), '999percentile');
    assert.throws(
      () => makePolicy({ isLocal: false, percentiles: [0.999, 0.0999], aggregates: [] }),
      /percentiles\[1\]/,
    );
  });
});
