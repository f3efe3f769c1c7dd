/**
 * End-to-end: the built `veneur` as a child process, real UDP packets, a strict
 * fake Datadog intake. Checks exact bodies against what Go Veneur produced for
 * the same input (test/fixtures/golden/dogstatsd-to-datadog).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import StatsD from 'hot-shots';
import { type DdSeries, type FakeDatadog, startFakeDatadog } from '../helpers/fake-datadog.js';
import { sendUdpLines, startVeneur } from '../helpers/veneur-process.js';

const GOLDEN = new URL('../fixtures/golden/dogstatsd-to-datadog/', import.meta.url);
const golden = (f: string): string => readFileSync(new URL(f, GOLDEN), 'utf8');

function config(fake: FakeDatadog, extra = '', interval = '1s'): string {
  return `statsd_listen_addresses: [udp://127.0.0.1:0]
http_address: 127.0.0.1:0
interval: ${interval}
hostname: testhost
percentiles: [0.5, 0.75, 0.99]
aggregates: [min, max, count, sum, avg, median, hmean]
metric_sinks:
  - kind: datadog
    name: datadog
    config: {api_key: "${fake.apiKey}", api_hostname: "${fake.url}", flush_max_per_body: 5000}
${extra}`;
}

const stripTs = <T extends { timestamp?: number }>(x: T): Omit<T, 'timestamp'> => {
  const { timestamp: _t, ...rest } = x;
  return rest;
};
const seriesKey = (s: DdSeries): string => `${s.metric}|${(s.tags ?? []).join(',')}|${s.type}`;

describe('veneur end to end (UDP -> Datadog)', { timeout: 60_000 }, () => {
  let fake: FakeDatadog;
  before(async () => {
    fake = await startFakeDatadog({ apiKey: 'goldenkey' });
  });
  after(async () => {
    await fake.close();
  });

  it('produces exactly what Go Veneur produced for the golden corpus', async () => {
    const cfg = config(fake, '', '3s').replace('hostname: testhost', 'hostname: goldenhost');
    const v = await startVeneur(cfg);
    try {
      const lines = golden('input.txt')
        .split('\n')
        .filter((l) => l !== '');
      await sendUdpLines(v.statsd[0].port, lines);
      await fake.waitFor((f) => f.series.some((s) => s.metric === 'golden.users.s3'), 10_000);
      await fake.waitFor((f) => f.checks.length >= 2 && f.events.length >= 1, 5_000);
    } finally {
      assert.equal(await v.stop(), 0);
    }
    assert.deepEqual(fake.violations, []);
    const want = (JSON.parse(golden('series.json')) as DdSeries[]).map((s) => ({
      ...s,
      points: [[0, s.points[0][1]]],
    }));
    const got = fake.series
      .filter((s) => s.metric.startsWith('golden.'))
      .map((s) => ({ ...s, points: [[0, s.points[0][1]]] }));
    assert.equal(got.length, want.length, 'same number of golden series');
    const gotBy = new Map(got.map((s) => [seriesKey(s as DdSeries), s]));
    for (const w of want) {
      const g = gotBy.get(seriesKey(w as DdSeries));
      assert.ok(g, `missing ${seriesKey(w as DdSeries)}`);
      assert.deepEqual(Object.keys(g), Object.keys(w), `key order of ${w.metric}`);
      assert.deepEqual(g, w, `series ${w.metric}`);
    }
    const wantChecks = (JSON.parse(golden('check_run.json')) as { timestamp?: number }[]).map(stripTs);
    assert.deepEqual(
      fake.checks.map(stripTs).sort((a, b) => a.check.localeCompare(b.check)),
      wantChecks,
    );
    const wantEvents = (JSON.parse(golden('events.json')) as { timestamp?: number }[]).map(stripTs);
    assert.deepEqual(fake.events.map(stripTs), wantEvents);
    // the three malformed lines: dropped and counted
    const errors = fake.series.filter((s) => s.metric === 'veneur.packet.error_total');
    const total = errors.reduce((n, s) => n + s.points[0][1] * (s.interval ?? 1), 0);
    assert.equal(Math.round(total), 3);
    // headers and compression as Datadog documents them
    const req = fake.requestsTo('/api/v1/series')[0];
    assert.equal(req.headers['content-encoding'], 'deflate');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.query.get('api_key'), 'goldenkey');
    assert.equal(fake.requestsTo('/api/v1/check_run')[0].headers['content-encoding'], undefined);
  });

  it('receives every metric type from hot-shots, a real DogStatsD client', async () => {
    const f2 = await startFakeDatadog({ apiKey: 'k2' });
    // a long interval and SIGTERM's final flush: everything lands in one flush, deterministically
    const v = await startVeneur(config(f2, '', '60s'));
    const client = new StatsD({
      host: '127.0.0.1',
      port: v.statsd[0].port,
      globalTags: { env: 'test' },
      maxBufferSize: 0,
    });
    await new Promise<void>((resolve) => {
      client.increment('hs.count', 3, ['a:b']);
      client.increment('hs.count', 2, ['a:b']);
      client.gauge('hs.gauge', 42.5);
      client.histogram('hs.hist', 10);
      client.histogram('hs.hist', 30);
      client.timing('hs.timer', 250);
      client.distribution('hs.dist', 7);
      client.set('hs.set', 'alice');
      client.set('hs.set', 'bob');
      client.set('hs.set', 'alice');
      client.event('deploy', 'version 2\nrolled out', { alert_type: 'success', aggregation_key: 'dep' }, [
        'svc:x',
      ]);
      client.check('hs.check', client.CHECKS.WARNING, { message: 'slow' }, ['svc:x'], () => resolve());
    });
    await new Promise((r) => setTimeout(r, 300));
    client.close();
    assert.equal(await v.stop(), 0);
    await f2.close();
    assert.deepEqual(f2.violations, []);
    const find = (m: string) => f2.series.find((s) => s.metric === m);
    const val = (m: string) => find(m)?.points[0][1];
    assert.equal(val('hs.count'), 5 / 60);
    assert.equal(find('hs.count')?.interval, 60);
    assert.deepEqual(find('hs.count')?.tags, ['a:b', 'env:test']);
    assert.equal(find('hs.count')?.type, 'rate');
    assert.equal(val('hs.gauge'), 42.5);
    assert.equal(val('hs.hist.max'), 30);
    assert.equal(val('hs.hist.count'), 2 / 60);
    assert.equal(val('hs.hist.50percentile'), 20);
    assert.equal(val('hs.timer.max'), 250);
    assert.equal(val('hs.dist.max'), 7);
    assert.equal(val('hs.set'), 2);
    assert.equal(find('hs.gauge')?.host, 'testhost');
    assert.deepEqual(stripTs(f2.events[0]), {
      msg_title: 'deploy',
      msg_text: 'version 2\nrolled out',
      host: 'testhost',
      aggregation_key: 'dep',
      priority: 'normal',
      alert_type: 'success',
      tags: ['env:test', 'svc:x'],
    });
    assert.deepEqual(stripTs(f2.checks[0]), {
      check: 'hs.check',
      status: 1,
      host_name: 'testhost',
      tags: ['env:test', 'svc:x'],
      message: 'slow',
    });
  });

  it('accepts DogStatsD 1.2/1.3 fields Go Veneur rejects, sample rates and magic tags', async () => {
    const f3 = await startFakeDatadog({ apiKey: 'k3' });
    const v = await startVeneur(config(f3, '', '60s'));
    await sendUdpLines(v.statsd[0].port, [
      'dsd12:1|c|c:abc123',
      'dsd13:1|c|#a:b|T1700000000',
      'sampled:2|c|@0.5',
      'frac:0.5|c',
      'lo.h:5|h|#veneurlocalonly',
      'go.c:2|c|#veneurglobalonly',
    ]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await v.stop(), 0);
    await f3.close();
    const count = (m: string) => {
      const s = f3.series.find((x) => x.metric === m);
      return s === undefined ? undefined : s.points[0][1] * (s.interval ?? 1);
    };
    assert.equal(count('dsd12'), 1);
    assert.deepEqual(f3.series.find((s) => s.metric === 'dsd13')?.tags, ['a:b']);
    assert.equal(count('sampled'), 4);
    assert.equal(count('frac'), 0.5); // Go truncates each sample: 0 (docs/compatibility.md)
    // a local-only histogram emits aggregates and percentiles locally, without the magic tag
    assert.equal(f3.series.find((s) => s.metric === 'lo.h.99percentile')?.points[0][1], 5);
    assert.equal(f3.series.find((s) => s.metric === 'lo.h.max')?.tags, undefined);
    // standalone: a global-only counter is flushed here
    assert.equal(count('go.c'), 2);
  });

  it('flushes everything received on SIGTERM and exits 0', async () => {
    const f4 = await startFakeDatadog({ apiKey: 'k4' });
    const v = await startVeneur(config(f4, '', '60s'));
    await sendUdpLines(v.statsd[0].port, ['last.words:1|c', 'last.gauge:9|g']);
    await new Promise((r) => setTimeout(r, 200));
    const code = await v.stop('SIGTERM');
    await f4.close();
    assert.equal(code, 0);
    assert.equal(f4.series.find((s) => s.metric === 'last.words')?.points[0][1], 1 / 60);
    assert.equal(f4.series.find((s) => s.metric === 'last.gauge')?.points[0][1], 9);
  });

  it('keeps flushing to a healthy sink while another sink hangs or fails', async () => {
    const good = await startFakeDatadog({ apiKey: 'good' });
    const bad = await startFakeDatadog({ apiKey: 'bad' });
    bad.delayNext(100, 30_000);
    const extra = `  - kind: datadog
    name: slow
    config: {api_key: bad, api_hostname: "${bad.url}"}
`;
    const v = await startVeneur(config(good, extra).replace(`api_key: "${good.apiKey}"`, 'api_key: "good"'));
    try {
      for (let i = 0; i < 3; i++) {
        await sendUdpLines(v.statsd[0].port, [`tick:${i + 1}|g`]);
        await good.waitFor(
          (f) => f.series.some((s) => s.metric === 'tick' && s.points[0][1] === i + 1),
          4_000,
        );
      }
    } finally {
      assert.equal(await v.stop(), 0);
      await good.close();
      await bad.close();
    }
    assert.deepEqual(good.violations, []);
  });
});

describe('veneur HTTP endpoints', { timeout: 30_000 }, () => {
  it('serves healthcheck and version, and quits on /quitquitquit when http_quit is set', async () => {
    const v = await startVeneur(
      'statsd_listen_addresses: [udp://127.0.0.1:0]\nhttp_address: 127.0.0.1:0\nhttp_quit: true\nmetric_sinks: [{kind: blackhole, name: bh}]\n',
    );
    try {
      const base = `http://127.0.0.1:${v.http!.port}`;
      assert.equal(await (await fetch(`${base}/healthcheck`)).text(), 'ok\n');
      assert.match(await (await fetch(`${base}/version`)).text(), /\d+\.\d+\.\d+/);
      assert.equal((await fetch(`${base}/config/json`)).status, 404);
      const q = await fetch(`${base}/quitquitquit`, { method: 'POST' });
      assert.equal(await q.text(), 'Beginning graceful shutdown....\n');
      assert.equal(await v.exited, 0);
    } finally {
      await v.stop('SIGKILL');
    }
  });
});
