import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogger, dogEvent, gauge, interMetric } from '../../../test/helpers/sink-context.js';
import { chunksOf, type MetricBatch } from '../../model/batch.js';
import type { DogStatsdEvent, InterMetric } from '../../model/metric.js';
import { RecordingTelemetry } from '../../telemetry/types.js';
import { type FlushResult, type MetricSink, SinkFlushError } from '../types.js';
import { flushAllSinks, wrapMetricSink } from './wrap.js';

type FlushFn = (metrics: readonly InterMetric[], signal: AbortSignal) => Promise<FlushResult>;

/** The batch as one array; a batch that arrives as one chunk is that chunk itself (no copy). */
async function gather(batch: MetricBatch): Promise<readonly InterMetric[]> {
  const chunks: (readonly InterMetric[])[] = [];
  for await (const c of chunksOf(batch)) chunks.push(c);
  return chunks.length === 1 ? chunks[0]! : chunks.flat();
}

/** `raw`: hand `flush` the sink's arguments untouched (e.g. to throw synchronously). */
function fakeSink(
  name: string,
  flush: FlushFn,
  flushEvents?: MetricSink['flushEvents'],
  raw = false,
): MetricSink {
  const sink: MetricSink = {
    kind: 'fake',
    name,
    start: async () => {},
    stop: async () => {},
    flush: raw
      ? (flush as unknown as MetricSink['flush'])
      : async (b, signal) => flush(await gather(b), signal),
  };
  if (flushEvents) sink.flushEvents = flushEvents;
  return sink;
}

function setup(sink: MetricSink, timeoutMs = 1_000) {
  const telemetry = new RecordingTelemetry();
  const { logger, lines } = captureLogger();
  return { wrapped: wrapMetricSink(sink, { telemetry, logger, timeoutMs }), telemetry, lines };
}

const batch = [gauge('a', 1), gauge('b', 2), gauge('c', 3)];
const far = () => Date.now() + 60_000;

/** A promise that never settles unless released. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((r) => {
    release = r;
  });
  return { promise, release };
}

describe('wrapMetricSink', () => {
  it('flushes events then metrics and reports counts and duration', async () => {
    const order: string[] = [];
    const sink = fakeSink(
      's1',
      async (m) => {
        order.push(`flush:${m.length}`);
        return { flushed: m.length - 1, skipped: 0, dropped: 1 };
      },
      async (events: readonly DogStatsdEvent[]) => {
        order.push(`events:${events.length}`);
      },
    );
    const { wrapped, telemetry } = setup(sink);
    const out = await wrapped.flush(batch, [dogEvent()], far());
    assert.deepEqual(order, ['events:1', 'flush:3']);
    assert.equal(out.status, 'ok');
    assert.deepEqual([out.flushed, out.skipped, out.dropped], [2, 0, 1]);
    assert.equal(telemetry.total('sink.metrics_flushed_total', ['sink:s1']), 2);
    assert.equal(telemetry.total('sink.metrics_dropped_total', ['sink:s1']), 1);
    const timing = telemetry.calls.find((c) => c.name === 'sink.metric_flush_total_duration_ms');
    assert.ok(timing && timing.kind === 'timing');
    assert.deepEqual(timing.tags, ['sink_name:s1', 'sink_kind:fake']);
  });

  it('does not call flushEvents without events', async () => {
    let called = false;
    const sink = fakeSink(
      's',
      async (m) => ({ flushed: m.length, skipped: 0, dropped: 0 }),
      async () => {
        called = true;
      },
    );
    await setup(sink).wrapped.flush(batch, [], far());
    assert.equal(called, false);
  });

  it('never rejects: thrown errors, rejections, non-Error throws, sync throws', async () => {
    const throwers: FlushFn[] = [
      async () => {
        throw new Error('boom');
      },
      () => Promise.reject('a string'),
      () => {
        throw new TypeError('sync');
      },
    ];
    for (const t of throwers) {
      const { wrapped, telemetry, lines } = setup(fakeSink('bad', t, undefined, true));
      const out = await wrapped.flush(batch, [], far());
      assert.equal(out.status, 'error');
      assert.equal(out.dropped, 3);
      assert.equal(telemetry.total('sink.flush_error_total', ['sink:bad', 'cause:error']), 1);
      assert.equal(telemetry.total('sink.metrics_dropped_total', ['sink:bad', 'cause:error']), 3);
      const warn = lines.find((l) => l.level === 40);
      assert.ok(warn, 'a warning is logged');
      assert.equal(warn.sink, 'bad');
      assert.equal(warn.sink_kind, 'fake');
      assert.equal(wrapped.busy, false);
    }
  });

  it('keeps partial counts from a SinkFlushError', async () => {
    const { wrapped, telemetry } = setup(
      fakeSink('p', async () => {
        throw new SinkFlushError('1 of 2 bodies failed', { flushed: 2, skipped: 0, dropped: 1 });
      }),
    );
    const out = await wrapped.flush(batch, [], far());
    assert.equal(out.status, 'error');
    assert.deepEqual([out.flushed, out.dropped], [2, 1]);
    assert.equal(telemetry.total('sink.metrics_flushed_total'), 2);
  });

  it('still flushes metrics when events fail', async () => {
    const { wrapped, telemetry } = setup(
      fakeSink(
        'e',
        async (m) => ({ flushed: m.length, skipped: 0, dropped: 0 }),
        async () => {
          throw new Error('intake down');
        },
      ),
    );
    const out = await wrapped.flush(batch, [dogEvent()], far());
    assert.equal(out.status, 'ok');
    assert.equal(out.flushed, 3);
    assert.ok(out.error instanceof Error);
    assert.equal(telemetry.total('sink.flush_error_total', ['cause:events']), 1);
  });

  it('aborts a hanging sink at its timeout', async () => {
    let sawAbort = false;
    const { wrapped, telemetry } = setup(
      fakeSink(
        'slow',
        (_m, signal) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () => {
              sawAbort = true;
              reject(signal.reason);
            });
          }),
      ),
      50,
    );
    const started = Date.now();
    const out = await wrapped.flush(batch, [], far());
    const took = Date.now() - started;
    assert.equal(out.status, 'timeout');
    assert.equal(out.dropped, 3);
    assert.ok(sawAbort, 'the sink saw the abort signal');
    assert.ok(took >= 45 && took < 1_000, `took ${took} ms`);
    assert.equal(telemetry.total('sink.flush_error_total', ['cause:timeout']), 1);
    assert.equal(telemetry.total('sink.metrics_dropped_total', ['cause:timeout']), 3);
  });

  it('uses the flush deadline when it comes before the timeout', async () => {
    const { wrapped } = setup(
      fakeSink(
        'd',
        (_m, signal) =>
          new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      ),
      60_000,
    );
    const started = Date.now();
    const out = await wrapped.flush(batch, [], Date.now() + 40);
    assert.equal(out.status, 'timeout');
    assert.ok(Date.now() - started < 1_000);
    const past = await wrapped.flush(batch, [], Date.now() - 1_000);
    assert.equal(past.status, 'timeout');
  });

  it('returns at the timeout even if the sink ignores the signal, and drops batches while it is still busy', async () => {
    const g = gate();
    let calls = 0;
    const { wrapped, telemetry } = setup(
      fakeSink('stuck', async (m) => {
        calls++;
        await g.promise; // ignores the signal
        return { flushed: m.length, skipped: 0, dropped: 0 };
      }),
      30,
    );
    const first = await wrapped.flush(batch, [], far());
    assert.equal(first.status, 'timeout');
    assert.equal(wrapped.busy, true);

    const second = await wrapped.flush(batch, [dogEvent()], far());
    assert.equal(second.status, 'busy');
    assert.equal(second.dropped, 3);
    assert.equal(calls, 1, 'no second concurrent flush was started');
    assert.equal(telemetry.total('sink.metrics_dropped_total', ['sink:stuck', 'cause:busy']), 3);

    g.release();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(wrapped.busy, false);
    const third = await wrapped.flush(batch, [], far());
    assert.equal(third.status, 'ok');
    assert.equal(calls, 2);
  });

  it('one hanging sink does not delay another flushed in parallel', async () => {
    const g = gate();
    const telemetry = new RecordingTelemetry();
    const { logger } = captureLogger();
    const slow = wrapMetricSink(
      fakeSink('slow', async () => {
        await g.promise;
        return { flushed: 0, skipped: 0, dropped: 0 };
      }),
      { telemetry, logger, timeoutMs: 300 },
    );
    const fast = wrapMetricSink(
      fakeSink('fast', async (m) => ({ flushed: m.length, skipped: 0, dropped: 0 })),
      { telemetry, logger, timeoutMs: 300 },
    );
    const started = Date.now();
    const doneAt: Record<string, number> = {};
    const outcomes = await Promise.all(
      [slow, fast].map((w) =>
        w.flush(batch, [], far()).then((o) => {
          doneAt[o.sink] = Date.now() - started;
          return o;
        }),
      ),
    );
    assert.equal(outcomes[0]!.status, 'timeout');
    assert.equal(outcomes[1]!.status, 'ok');
    assert.ok(doneAt.fast! < 100, `fast sink finished after ${doneAt.fast} ms`);
    assert.ok(doneAt.slow! >= 290, `slow sink finished after ${doneAt.slow} ms`);

    // flushAllSinks: same, and it never rejects
    const [s2, f2] = await flushAllSinks([slow, fast], batch, [], far());
    assert.equal(s2!.status, 'busy');
    assert.equal(f2!.status, 'ok');
    assert.ok(f2!.durationMs < 100);
    g.release();
  });

  it('skips metrics routed to other sinks without handing them over', async () => {
    let got: readonly InterMetric[] = [];
    const { wrapped, telemetry } = setup(
      fakeSink('mine', async (m) => {
        got = m;
        return { flushed: m.length, skipped: 0, dropped: 0 };
      }),
    );
    const routed = [
      interMetric('all', 1),
      interMetric('to-me', 1, { sinks: new Set(['mine', 'other']) }),
      interMetric('not-me', 1, { sinks: new Set(['other']) }),
    ];
    const out = await wrapped.flush(routed, [], far());
    assert.deepEqual(
      got.map((m) => m.name),
      ['all', 'to-me'],
    );
    assert.equal(out.skipped, 1);
    assert.equal(telemetry.total('sink.metrics_skipped_total', ['sink:mine']), 1);
    const same = await wrapped.flush(batch, [], far());
    assert.equal(same.skipped, 0);
    assert.equal(got, batch, 'no copy when nothing is routed away');
  });
});
