import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { encodeMetricList } from '../forward/service.js';
import { encodeMetric, type MetricMessage } from '../protocol/forward/metricpb.js';
import { parseProxyConfig } from './config.js';
import { ProxyHttpServer } from './http.js';
import { splitMetricList } from './server.js';
import { AggregatingTelemetry, StatsdTelemetry } from './statsd.js';
import { silentLogger } from './testing.js';

const m = (i: number): MetricMessage => ({
  name: `m${i}`,
  tags: ['a:b'],
  type: 1,
  scope: 2,
  value: { kind: 'gauge', value: i + 0.5 },
});

describe('splitMetricList', () => {
  it('returns each element as the bytes of one metricpb.Metric', () => {
    const list = encodeMetricList([m(1), m(2), m(3)]);
    const parts = splitMetricList(list)!;
    assert.equal(parts.length, 3);
    assert.deepEqual(new Uint8Array(parts[1]!), encodeMetric(m(2)));
    assert.deepEqual(splitMetricList(new Uint8Array(0)), []);
  });

  it('skips unknown fields and rejects truncated lists', () => {
    const list = Buffer.concat([Buffer.from([0x10, 0x05]), encodeMetricList([m(1)])]);
    assert.equal(splitMetricList(list)!.length, 1);
    assert.equal(splitMetricList(encodeMetricList([m(1)]).subarray(0, 5)), null);
    assert.equal(splitMetricList(Buffer.from([0x0b])), null);
  });
});

describe('proxy statsd telemetry', () => {
  it('aggregates counters and gauges into DogStatsD lines', () => {
    const t = new AggregatingTelemetry();
    t.count('veneur_proxy.forward.metrics_count', 2, ['error:false']);
    t.count('veneur_proxy.forward.metrics_count', 3, ['error:false']);
    t.gauge('veneur_proxy.discovery.destinations', 4);
    t.gauge('veneur_proxy.discovery.destinations', 3);
    t.timing('veneur_proxy.ingest.request_latency_ms', 1.25, ['protocol:grpc-stream']);
    assert.deepEqual(t.drainLines(), [
      'veneur_proxy.forward.metrics_count:5|c|#error:false',
      'veneur_proxy.discovery.destinations:3|g',
      'veneur_proxy.ingest.request_latency_ms:1.25|ms|#protocol:grpc-stream',
    ]);
    assert.deepEqual(t.drainLines(), []);
  });

  it('sends to statsd.address over UDP', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const port = (sock.address() as AddressInfo).port;
    const got = new Promise<string>((r) => sock.once('message', (b) => r(b.toString())));
    const t = new StatsdTelemetry(`udp://127.0.0.1:${port}`, 60_000);
    t.start();
    t.count('veneur_proxy.discovery.count', 1, ['status:success']);
    await t.stop();
    assert.equal(await got, 'veneur_proxy.discovery.count:1|c|#status:success');
    sock.close();
    assert.throws(() => new StatsdTelemetry('nope', 1000), /statsd.address/);
  });
});

describe('proxy HTTP server', () => {
  it('healthcheck is 204 with destinations, 503 without; version; config only when enabled', async () => {
    let healthy = false;
    const config = parseProxyConfig(
      {
        grpc_address: ':1',
        forward_addresses: ['a:1'],
        sentry_dsn: 'https://k@s/1',
        http: { enable_config: true },
      },
      { env: {} },
    );
    const s = new ProxyHttpServer({
      address: '127.0.0.1:0',
      config,
      healthy: () => healthy,
      version: '1.2.3',
      buildDate: '2024-01-01',
      printSecrets: false,
      logger: silentLogger,
    });
    await s.start();
    const base = `http://127.0.0.1:${s.port}`;
    try {
      assert.equal((await fetch(`${base}/healthcheck`)).status, 503);
      healthy = true;
      assert.equal((await fetch(`${base}/healthcheck`)).status, 204);
      assert.equal(await (await fetch(`${base}/version`)).text(), '1.2.3');
      assert.equal(await (await fetch(`${base}/builddate`)).text(), '2024-01-01');
      const json = (await (await fetch(`${base}/config/json`)).json()) as { sentryDsn: string };
      assert.equal(json.sentryDsn, 'REDACTED');
      assert.match(await (await fetch(`${base}/config/yaml`)).text(), /sentryDsn: REDACTED/);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/healthcheck`, { method: 'POST' })).status, 405);
    } finally {
      await s.stop(Date.now() + 1000);
    }
  });
});
