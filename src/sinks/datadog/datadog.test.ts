import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { type FakeDatadog, startFakeDatadog } from '../../../test/helpers/fake-datadog.js';
import {
  check,
  counter,
  dogEvent,
  gauge,
  type TestSinkContext,
  testSinkContext,
} from '../../../test/helpers/sink-context.js';
import type { SectionContext } from '../../config/section.js';
import { MetricFanout } from '../../model/batch.js';
import type { InterMetric } from '../../model/metric.js';
import { ConfigError } from '../../util/errors.js';
import { wrapMetricSink } from '../helper/wrap.js';
import { SinkFlushError } from '../types.js';
import { DEFAULT_FLUSH_MAX_PER_BODY, parseDatadogConfig } from './config.js';
import { createDatadogSink, type DatadogMetricSink, datadogSinkDefinition } from './sink.js';

const KEY = 'k3y-0123456789abcdef';
const TS = 1_795_240_252;
const section: SectionContext = { path: 'metric_sinks[0].config', envPrefix: '', env: {}, strict: true };
const never = new AbortController().signal;

describe('datadog sink config', () => {
  it('parses the Go keys, with defaults', () => {
    const c = parseDatadogConfig({ api_key: 'abc', api_hostname: 'https://app.datadoghq.com/' }, section);
    assert.equal(c.apiKey.reveal(), 'abc');
    assert.equal(c.apiHostname, 'https://app.datadoghq.com');
    assert.equal(c.flushMaxPerBody, DEFAULT_FLUSH_MAX_PER_BODY);
    assert.deepEqual(c.metricNamePrefixDrops, []);
    assert.deepEqual(c.excludeTagsPrefixByPrefixMetric, []);
    assert.deepEqual(c.excludedTags, []);
    const full = parseDatadogConfig(
      {
        api_key: 'abc',
        api_hostname: 'http://127.0.0.1:1',
        flush_max_per_body: 5000,
        metric_name_prefix_drops: ['x.'],
        exclude_tags_prefix_by_prefix_metric: [{ metric_prefix: 'api.', tags: ['team'] }],
        excluded_tags: ['secret'],
      },
      section,
    );
    assert.equal(full.flushMaxPerBody, 5000);
    assert.deepEqual(full.excludeTagsPrefixByPrefixMetric, [{ metricPrefix: 'api.', tags: ['team'] }]);
    assert.deepEqual(full.excludedTags, ['secret']);
  });

  it('treats flush_max_per_body 0 as the default (Go would divide by zero)', () => {
    const c = parseDatadogConfig({ api_key: 'a', api_hostname: 'http://x', flush_max_per_body: 0 }, section);
    assert.equal(c.flushMaxPerBody, 25_000);
  });

  it('never prints the API key', () => {
    const c = parseDatadogConfig({ api_key: 'topsecret', api_hostname: 'http://x' }, section);
    assert.ok(!inspect(c).includes('topsecret'));
    assert.ok(!JSON.stringify(c).includes('topsecret'));
  });

  it('names the YAML path in errors', () => {
    const bad: [unknown, string][] = [
      [{ api_hostname: 'http://x' }, 'metric_sinks[0].config.api_key'],
      [{ api_key: '', api_hostname: 'http://x' }, 'metric_sinks[0].config.api_key'],
      [{ api_key: 'a' }, 'metric_sinks[0].config.api_hostname'],
      [{ api_key: 'a', api_hostname: 'app.datadoghq.com' }, 'metric_sinks[0].config.api_hostname'],
      [
        { api_key: 'a', api_hostname: 'http://x', flush_max_per_body: -1 },
        'metric_sinks[0].config.flush_max_per_body',
      ],
      [{ api_key: 'a', api_hostname: 'http://x', bogus: 1 }, 'metric_sinks[0].config.bogus'],
      [
        { api_key: 'a', api_hostname: 'http://x', exclude_tags_prefix_by_prefix_metric: [{ tags: ['x'] }] },
        'metric_sinks[0].config.exclude_tags_prefix_by_prefix_metric[0].metric_prefix',
      ],
    ];
    for (const [raw, path] of bad) {
      assert.throws(
        () => parseDatadogConfig(raw, section),
        (e: unknown) => e instanceof ConfigError && e.path === path,
        `expected a ConfigError at ${path} for ${JSON.stringify(raw)}`,
      );
    }
  });

  it('takes settings from the env overlay under the sink name', () => {
    const c = datadogSinkDefinition.parseConfig(
      { api_hostname: 'http://x' },
      {
        path: 'metric_sinks[0].config',
        envPrefix: 'DD',
        env: { DD_APIKEY: 'fromenv', DD_FLUSHMAXPERBODY: '7' },
        strict: true,
      },
    );
    assert.equal(c.apiKey.reveal(), 'fromenv');
    assert.equal(c.flushMaxPerBody, 7);
  });
});

describe('datadog sink against a strict fake intake', () => {
  let fake: FakeDatadog;
  let ctx: TestSinkContext;
  let sink: DatadogMetricSink;

  before(async () => {
    fake = await startFakeDatadog({ apiKey: KEY });
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.series.length = 0;
    fake.checks.length = 0;
    fake.events.length = 0;
    fake.requests.length = 0;
  });
  afterEach(async () => {
    await sink?.stop(Date.now() + 1_000);
    assert.deepEqual(fake.violations, [], 'the fake Datadog saw no protocol violation');
  });

  function make(
    extra: Record<string, unknown> = {},
    over: Parameters<typeof testSinkContext>[0] = {},
  ): DatadogMetricSink {
    ctx = testSinkContext({ name: 'dd', hostname: 'goldenhost', intervalSeconds: 3, ...over });
    const config = parseDatadogConfig({ api_key: KEY, api_hostname: fake.url, ...extra }, section);
    sink = createDatadogSink(config, ctx, { baseDelayMs: 5, maxDelayMs: 20 });
    return sink;
  }

  it('posts counters as rates and gauges, zlib-compressed, with the API key and Go key order', async () => {
    make();
    const res = await sink.flush(
      [
        counter('golden.count.c0', 19, ['env:prod', 'team:t0'], TS),
        gauge('golden.gauge.g0', 21, ['env:prod'], TS),
      ],
      never,
    );
    assert.deepEqual(res, { flushed: 2, skipped: 0, dropped: 0 });
    const [req] = fake.requestsTo('/api/v1/series');
    assert.ok(req);
    assert.equal(fake.requests.length, 1);
    assert.equal(req.method, 'POST');
    assert.equal(req.query.get('api_key'), KEY);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['content-encoding'], 'deflate');
    assert.equal(req.raw[0], 0x78, 'zlib stream header');
    assert.equal(
      req.text,
      `{"series":[{"metric":"golden.count.c0","points":[[${TS},6.333333333333333]],"tags":["env:prod","team:t0"],"type":"rate","host":"goldenhost","interval":3},` +
        `{"metric":"golden.gauge.g0","points":[[${TS},21]],"tags":["env:prod"],"type":"gauge","host":"goldenhost","interval":3}]}\n`,
    );
    assert.equal(ctx.telemetry.total('flush.error_total'), 0);
    assert.ok(
      ctx.telemetry.calls.some((c) => c.name === 'flush.content_length_bytes' && c.value === req.raw.length),
    );
  });

  it('turns host:/device: tags into fields and omits empty tags/host', async () => {
    make({}, { hostname: '' });
    await sink.flush(
      [
        gauge('disk.used', 0.5, ['device:sda1', 'env:x', 'host:web1'], TS),
        gauge('bare', 1, [], TS),
        gauge('only.host', 2, ['host:db2'], TS),
      ],
      never,
    );
    const [req] = fake.requestsTo('/api/v1/series');
    assert.equal(
      req!.text,
      `{"series":[{"metric":"disk.used","points":[[${TS},0.5]],"tags":["env:x"],"type":"gauge","host":"web1","device_name":"sda1","interval":3},` +
        `{"metric":"bare","points":[[${TS},1]],"type":"gauge","interval":3},` +
        `{"metric":"only.host","points":[[${TS},2]],"type":"gauge","host":"db2","interval":3}]}\n`,
    );
  });

  it('omits interval when the interval is under one second (Go: int32(seconds), omitempty)', async () => {
    make({}, { intervalSeconds: 0.5 });
    await sink.flush([counter('c', 1, [], TS)], never);
    assert.equal(
      fake.requests[0]!.text,
      `{"series":[{"metric":"c","points":[[${TS},2]],"type":"rate","host":"goldenhost"}]}\n`,
    );
  });

  it('posts service checks uncompressed to check_run, host from a host: tag, h: ignored', async () => {
    make();
    const res = await sink.flush(
      [
        check('svc.up', 2, {
          tags: ['env:prod', 'host:db1'],
          message: 'down',
          hostName: 'ignored',
          timestamp: TS,
        }),
        check('svc.ok', 0, { timestamp: TS }),
        gauge('g', 1, [], TS),
      ],
      never,
    );
    assert.deepEqual(res, { flushed: 3, skipped: 0, dropped: 0 });
    const [req] = fake.requestsTo('/api/v1/check_run');
    assert.ok(req);
    assert.equal(req.headers['content-encoding'], undefined);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.query.get('api_key'), KEY);
    assert.equal(
      req.raw.toString('utf8'),
      `[{"check":"svc.up","status":2,"host_name":"db1","timestamp":${TS},"tags":["env:prod"],"message":"down"},` +
        `{"check":"svc.ok","status":0,"host_name":"goldenhost","timestamp":${TS}}]\n`,
    );
    assert.equal(fake.requestsTo('/api/v1/series').length, 1);
    assert.equal(fake.checks.length, 2);
  });

  it('posts events deflated to /intake with Go defaults and sorted k:v tags', async () => {
    make();
    await sink.flushEvents(
      [
        dogEvent({
          title: 'deploy <b>',
          text: 'line1\nline2',
          timestamp: 1_795_240_249,
          priority: 'low',
          alertType: 'warning',
          tags: new Map([
            ['team', 'infra'],
            ['env', 'prod'],
            ['canary', ''],
          ]),
        }),
        dogEvent({
          title: 't2',
          text: 'x',
          timestamp: 0,
          hostname: 'web7',
          aggregationKey: 'agg',
          sourceType: 'jenkins',
        }),
      ],
      never,
    );
    const [req] = fake.requestsTo('/intake');
    assert.ok(req);
    assert.equal(req.headers['content-encoding'], 'deflate');
    assert.equal(req.query.get('api_key'), KEY);
    assert.equal(
      req.text,
      '{"events":{"api":[' +
        '{"msg_title":"deploy \\u003cb\\u003e","msg_text":"line1\\nline2","timestamp":1795240249,"host":"goldenhost","priority":"low","alert_type":"warning","tags":["canary","env:prod","team:infra"]},' +
        '{"msg_title":"t2","msg_text":"x","host":"web7","aggregation_key":"agg","priority":"normal","source_type_name":"jenkins","alert_type":"info"}' +
        ']}}\n',
    );
    assert.equal(fake.events.length, 2);
  });

  it('drops excluded tags by prefix: global list, then the first matching per-metric rule', async () => {
    make({
      excluded_tags: ['env', 'host:'],
      exclude_tags_prefix_by_prefix_metric: [
        { metric_prefix: 'api.', tags: ['team'] },
        { metric_prefix: 'api.requests', tags: ['route'] }, // never reached for api.*: first match wins
      ],
    });
    await sink.flush(
      [
        gauge('api.requests', 1, ['environment:x', 'env:prod', 'host:web1', 'route:/a', 'team:t1'], TS),
        gauge('other', 1, ['env:prod', 'team:t1'], TS),
        check('api.check', 0, { tags: ['team:t1', 'zone:a'], timestamp: TS }),
      ],
      never,
    );
    assert.deepEqual(
      fake.series.map((s) => [s.metric, s.tags, s.host]),
      [
        ['api.requests', ['route:/a'], 'goldenhost'], // env* and host: gone, so host falls back
        ['other', ['team:t1'], 'goldenhost'],
      ],
    );
    assert.deepEqual(fake.checks[0]!.tags, ['zone:a']);
  });

  it('renders a shared tag set the same wherever it recurs, with and without a per-metric rule', async () => {
    make({ exclude_tags_prefix_by_prefix_metric: [{ metric_prefix: 'api.', tags: ['team'] }] });
    // one array object for the set, as the aggregator interns them (the helpers copy tags)
    const shared = Object.freeze(['device:sda', 'host:web1', 'team:t1', 'zone:a']);
    const other = Object.freeze(['zone:b']);
    const withTags = (m: InterMetric, tags: readonly string[]): InterMetric => Object.freeze({ ...m, tags });
    await sink.flush(
      [
        withTags(gauge('disk.a', 1, [], TS), shared),
        withTags(gauge('disk.b', 2, [], TS), other),
        withTags(gauge('api.x', 3, [], TS), shared), // the rule applies: team goes
        withTags(counter('disk.c', 30, [], TS), shared), // the set again, as a rate
        withTags(gauge('disk.d', 4, [], TS), shared),
      ],
      never,
    );
    assert.deepEqual(
      fake.series.map((s) => [s.metric, s.type, s.tags, s.host, s.device_name]),
      [
        ['disk.a', 'gauge', ['team:t1', 'zone:a'], 'web1', 'sda'],
        ['disk.b', 'gauge', ['zone:b'], 'goldenhost', undefined],
        ['api.x', 'gauge', ['zone:a'], 'web1', 'sda'],
        ['disk.c', 'rate', ['team:t1', 'zone:a'], 'web1', 'sda'],
        ['disk.d', 'gauge', ['team:t1', 'zone:a'], 'web1', 'sda'],
      ],
    );
  });

  it('drops metrics (and checks) by name prefix, counted as skipped', async () => {
    make({ metric_name_prefix_drops: ['debug.', 'tmp'] });
    const res = await sink.flush(
      [
        gauge('debug.x', 1, [], TS),
        gauge('tmpfoo', 1, [], TS),
        gauge('keep', 1, [], TS),
        check('debug.chk', 0),
      ],
      never,
    );
    assert.deepEqual(res, { flushed: 1, skipped: 3, dropped: 0 });
    assert.deepEqual(
      fake.series.map((s) => s.metric),
      ['keep'],
    );
    assert.equal(fake.requestsTo('/api/v1/check_run').length, 0);
  });

  it('splits bodies at flush_max_per_body as records stream in: max 2 with 5 metrics -> 2, 2, 1', async () => {
    make({ flush_max_per_body: 2 });
    const metrics = [1, 2, 3, 4, 5].map((i) => gauge(`m${i}`, i, [], TS));
    const res = await sink.flush(metrics, never);
    assert.equal(res.flushed, 5);
    const bodies = fake
      .requestsTo('/api/v1/series')
      .map((r) => (JSON.parse(r.text) as { series: unknown[] }).series.length);
    assert.deepEqual(bodies.sort(), [1, 2, 2]);
    assert.deepEqual(fake.series.map((s) => s.metric).sort(), ['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('fills bodies across the chunks of a streamed flush (max 4, 5 chunks of 2 -> 4, 4, 2)', async () => {
    make({ flush_max_per_body: 4 });
    const fanout = new MetricFanout();
    const reader = fanout.reader();
    const done = sink.flush(reader, never);
    for (let c = 0; c < 5; c++) {
      fanout.push([gauge(`m${2 * c}`, c, [], TS), gauge(`m${2 * c + 1}`, c, [], TS)]);
      await new Promise((r) => setImmediate(r));
    }
    fanout.end();
    const res = await done;
    assert.deepEqual(res, { flushed: 10, skipped: 0, dropped: 0 });
    const bodies = fake
      .requestsTo('/api/v1/series')
      .map((r) => (JSON.parse(r.text) as { series: unknown[] }).series.length);
    assert.deepEqual(bodies.sort(), [2, 4, 4]);
    assert.equal(new Set(fake.series.map((s) => s.metric)).size, 10);
  });

  it('survives a body rejected while the flush is still streaming in (no unhandled rejection)', async () => {
    make({ flush_max_per_body: 2 });
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      fake.failNext(1, 400, '{"errors":["Invalid metric"]}');
      const fanout = new MetricFanout();
      const done = sink.flush(fanout.reader(), never);
      fanout.push([gauge('a', 1, [], TS), gauge('b', 2, [], TS)]);
      // the first body is posted and rejected while the producer has not ended
      while (fake.requestsTo('/api/v1/series').length === 0) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50));
      fanout.push([gauge('c', 3, [], TS), gauge('d', 4, [], TS)]);
      fanout.end();
      await assert.rejects(done, (e: unknown) => {
        assert.ok(e instanceof SinkFlushError);
        assert.deepEqual(e.result, { flushed: 2, skipped: 0, dropped: 2 });
        return true;
      });
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('retries a 500 and then succeeds', async () => {
    make();
    fake.failNext(1, 500);
    const res = await sink.flush([gauge('g', 1, [], TS)], never);
    assert.deepEqual(res, { flushed: 1, skipped: 0, dropped: 0 });
    const reqs = fake.requestsTo('/api/v1/series');
    assert.deepEqual(
      reqs.map((r) => r.status),
      [500, 202],
    );
    assert.equal(reqs[0]!.text, reqs[1]!.text, 'the same body is sent again');
    assert.equal(fake.series.length, 1);
    assert.equal(ctx.telemetry.total('flush.error_total', ['cause:500']), 1);
  });

  it('does not retry a 400 and reports it (through the wrapper: error outcome, warning, counts)', async () => {
    make();
    fake.failNext(1, 400, '{"errors":["Invalid metric"]}');
    const err = await sink
      .flush([gauge('g', 1, [], TS), gauge('h', 2, [], TS)], never)
      .catch((e: unknown) => e);
    assert.ok(err instanceof SinkFlushError);
    assert.deepEqual(err.result, { flushed: 0, skipped: 0, dropped: 2 });
    assert.match(err.message, /HTTP 400/);
    assert.ok(!err.message.includes(KEY), 'the API key is not in the error');
    assert.equal(fake.requestsTo('/api/v1/series').length, 1);
    assert.equal(ctx.telemetry.total('flush.error_total', ['cause:400']), 1);

    fake.failNext(1, 400);
    const wrapped = wrapMetricSink(sink, { telemetry: ctx.telemetry, logger: ctx.logger, timeoutMs: 5_000 });
    const out = await wrapped.flush([gauge('g', 1, [], TS)], [], Date.now() + 5_000);
    assert.equal(out.status, 'error');
    assert.equal(out.dropped, 1);
    assert.ok(ctx.logLines.some((l) => l.level === 40 && l.sink === 'dd' && l.sink_kind === 'datadog'));
    assert.ok(!JSON.stringify(ctx.logLines).includes(KEY), 'the API key is never logged');
  });

  it('keeps the bodies that got through when another fails', async () => {
    make({ flush_max_per_body: 1 });
    fake.failNext(1, 403);
    const err = await sink
      .flush([gauge('a', 1, [], TS), gauge('b', 2, [], TS)], never)
      .catch((e: unknown) => e);
    assert.ok(err instanceof SinkFlushError);
    assert.deepEqual(err.result, { flushed: 1, skipped: 0, dropped: 1 });
    assert.equal(fake.series.length, 1);
  });

  it('drops NaN/Inf points and counts them instead of failing the body', async () => {
    make();
    const res = await sink.flush(
      [
        gauge('nan', Number.NaN, [], TS),
        counter('inf', Number.POSITIVE_INFINITY, [], TS),
        gauge('ok', -0.25, [], TS),
      ],
      never,
    );
    assert.deepEqual(res, { flushed: 1, skipped: 0, dropped: 2 });
    assert.equal(
      fake.requests[0]!.text,
      `{"series":[{"metric":"ok","points":[[${TS},-0.25]],"type":"gauge","host":"goldenhost","interval":3}]}\n`,
    );
  });

  it('sends nothing for an empty flush', async () => {
    make();
    assert.deepEqual(await sink.flush([], never), { flushed: 0, skipped: 0, dropped: 0 });
    await sink.flushEvents([], never);
    assert.equal(fake.requests.length, 0);
  });

  it('gives up at the flush signal when the intake hangs', async () => {
    make();
    fake.delayNext(1, 10_000);
    const wrapped = wrapMetricSink(sink, { telemetry: ctx.telemetry, logger: ctx.logger, timeoutMs: 100 });
    const started = Date.now();
    const out = await wrapped.flush([gauge('g', 1, [], TS)], [], Date.now() + 5_000);
    assert.equal(out.status, 'timeout');
    assert.ok(Date.now() - started < 2_000);
    assert.equal(ctx.telemetry.total('flush.error_total', ['cause:timeout']), 1);
    await sink.stop(Date.now() + 100);
  });
});
