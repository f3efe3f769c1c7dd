import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from './load.js';
import { configToJson, configToYaml, goDurationString } from './render.js';

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../test/fixtures/config/${name}`, import.meta.url));
const full = () => loadConfig({ file: fixture('full.yaml'), env: {} });

/**
 * Go's Config field names in declaration order (stripe/veneur config.go at HEAD,
 * plus the `Tls` forwarding block of reference §6.2).
 */
const GO_FIELDS = [
  'Aggregates',
  'BlockProfileRate',
  'CountUniqueTimeseries',
  'Debug',
  'EnableProfiling',
  'ExtendTags',
  'Features',
  'FlushOnShutdown',
  'FlushWatchdogMissedFlushes',
  'ForwardAddress',
  'GrpcAddress',
  'GrpcListenAddresses',
  'Hostname',
  'HTTP',
  'HTTPAddress',
  'HTTPQuit',
  'IndicatorSpanTimerName',
  'Interval',
  'MetricMaxLength',
  'MetricSinkRouting',
  'MetricSinks',
  'MutexProfileFraction',
  'NumReaders',
  'NumSpanWorkers',
  'NumWorkers',
  'ObjectiveSpanTimerName',
  'OmitEmptyHostname',
  'Percentiles',
  'ReadBufferSizeBytes',
  'SentryDsn',
  'Sources',
  'SpanChannelCapacity',
  'SpanSinks',
  'SsfListenAddresses',
  'StatsAddress',
  'StatsdListenAddresses',
  'SynchronizeWithInterval',
  'TagsExclude',
  'Tls',
  'TLSAuthorityCertificate',
  'TLSCertificate',
  'TLSKey',
  'TraceMaxLengthBytes',
  'VeneurMetricsAdditionalTags',
  'VeneurMetricsScopes',
];

describe('goDurationString', () => {
  it('formats like Go time.Duration.String()', () => {
    assert.equal(goDurationString(0), '0s');
    assert.equal(goDurationString(1), '1ms');
    assert.equal(goDurationString(1.5), '1.5ms');
    assert.equal(goDurationString(0.001), '1µs');
    assert.equal(goDurationString(0.000_001), '1ns');
    assert.equal(goDurationString(10_000), '10s');
    assert.equal(goDurationString(1500), '1.5s');
    assert.equal(goDurationString(60_000), '1m0s');
    assert.equal(goDurationString(90_000), '1m30s');
    assert.equal(goDurationString(3_600_000), '1h0m0s');
    assert.equal(goDurationString(3_723_500), '1h2m3.5s');
    assert.equal(goDurationString(-2000), '-2s');
  });
});

describe('configToJson (/config/json)', () => {
  it('uses Go field names in Go order, nanosecond durations, null for empty lists', () => {
    const c = loadConfig({
      text: 'interval: 1ms\nhttp: {config: true}\nstats_address: localhost:8125\n',
      env: {},
    });
    const text = configToJson(c, { printSecrets: false });
    const obj = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(obj), GO_FIELDS);
    assert.equal(obj.Interval, 1_000_000);
    assert.deepEqual(obj.HTTP, { Config: true });
    assert.equal(obj.StatsdListenAddresses, null);
    assert.equal(obj.MetricSinks, null);
    assert.equal(obj.StatsAddress, 'localhost:8125');
    assert.equal(obj.ReadBufferSizeBytes, 2_097_152);
    assert.equal(obj.Tls, null);
    assert.deepEqual(obj.VeneurMetricsScopes, { Counter: '', Gauge: '', Histogram: '', Set: '', Status: '' });
    // json.MarshalIndent(config, "", "  ")
    assert.match(text, /^\{\n {2}"Aggregates": \[\n {4}"min",\n/);
    assert.ok(text.includes('"Interval": 1000000,'));
  });

  it('renders sinks, routing and sources with Go field names', () => {
    const obj = JSON.parse(configToJson(full(), { printSecrets: false })) as Record<string, unknown>;
    assert.equal(obj.Interval, 5_000_000_000);
    const sinks = obj.MetricSinks as Record<string, unknown>[];
    assert.deepEqual(Object.keys(sinks[0] ?? {}), [
      'Kind',
      'Name',
      'Config',
      'MaxNameLength',
      'MaxTagLength',
      'MaxTags',
      'DroppedMetricsAddTags',
      'StripTags',
      'AddTags',
    ]);
    assert.deepEqual(sinks[0]?.StripTags, [
      { Kind: 'prefix', Unset: false, Value: 'nonce:' },
      { Kind: 'regex', Unset: false, Value: '^tmp_.*' },
    ]);
    assert.deepEqual(sinks[0]?.AddTags, { env: 'prod', team: 'observability' });
    // map keys sorted as Go sorts them
    assert.deepEqual(Object.keys(sinks[0]?.Config as object), [
      'api_hostname',
      'api_key',
      'flush_max_per_body',
    ]);
    const routing = obj.MetricSinkRouting as Record<string, unknown>[];
    assert.deepEqual(routing[1], {
      Name: 'debug-only-tmp',
      Match: [
        {
          Name: { Kind: 'prefix', Value: 'tmp.' },
          Tags: [{ Kind: 'exact', Unset: true, Value: 'keep:false' }],
        },
      ],
      Sinks: { Matched: ['debug'], NotMatched: null },
    });
    assert.deepEqual(obj.Sources, [
      {
        Kind: 'openmetrics',
        Name: 'app',
        Config: { scrape_interval: '10s', scrape_target: 'http://127.0.0.1:9102/metrics' },
        Tags: ['source:app'],
      },
    ]);
    assert.deepEqual(obj.Tls, {
      CaFile: '/etc/veneur/ca.pem',
      CertFile: '/etc/veneur/cert.pem',
      KeyFile: '/etc/veneur/key.pem',
      ServerName: 'veneur-proxy',
    });
  });

  it('redacts secrets unless printSecrets', () => {
    const redacted = configToJson(full(), { printSecrets: false });
    const obj = JSON.parse(redacted) as Record<string, unknown>;
    assert.equal(obj.SentryDsn, 'REDACTED');
    assert.equal(obj.TLSKey, 'REDACTED');
    assert.ok(!redacted.includes('https://public@sentry.example/1'));
    assert.ok(!redacted.includes('not-a-real-key'));
    // credentials inside sink config maps too
    assert.ok(!redacted.includes('dd-api-key-value'));
    assert.equal((obj.MetricSinks as { Config: { api_key: string } }[])[0]?.Config.api_key, 'REDACTED');

    const clear = JSON.parse(configToJson(full(), { printSecrets: true })) as Record<string, unknown>;
    assert.equal(clear.SentryDsn, 'https://public@sentry.example/1');
    assert.match(String(clear.TLSKey), /not-a-real-key/);
    assert.equal(
      (clear.MetricSinks as { Config: { api_key: string } }[])[0]?.Config.api_key,
      'dd-api-key-value',
    );

    // an empty secret prints as "" (as Go's StringSecret)
    const empty = JSON.parse(configToJson(loadConfig({ text: '', env: {} }), { printSecrets: false }));
    assert.equal(empty.SentryDsn, '');
    assert.equal(empty.TLSKey, '');
  });

  it('escapes <, > and & as Go encoding/json does', () => {
    const c = loadConfig({ text: 'extend_tags: ["a<b>&c"]', env: {} });
    assert.ok(configToJson(c, { printSecrets: false }).includes('"a\\u003cb\\u003e\\u0026c"'));
  });
});

describe('configToYaml (/config/yaml)', () => {
  it('uses yaml keys, 2-space indent, Go duration strings, [] for empty lists', () => {
    const c = loadConfig({ text: 'interval: 90s\nhttp: {config: true}\n', env: {} });
    const text = configToYaml(c, { printSecrets: false });
    assert.ok(text.startsWith('aggregates:\n- min\n- max\n- count\nblock_profile_rate: 0\n'), text);
    assert.match(text, /^interval: 1m30s$/m);
    assert.match(text, /^http:\n {2}config: true$/m);
    assert.match(text, /^statsd_listen_addresses: \[\]$/m);
    assert.match(text, /^forward_address: ""$/m);
    assert.match(text, /^tls: null$/m);
    assert.match(text, /^veneur_metrics_scopes:\n {2}counter: ""$/m);
  });

  it('round-trips: the rendered YAML loads back to the same config', () => {
    const a = full();
    const text = configToYaml(a, { printSecrets: true });
    const b = loadConfig({ text, env: {} });
    assert.deepEqual(configToJson(b, { printSecrets: true }), configToJson(a, { printSecrets: true }));
    // and the key order is Go's
    const keys = Object.keys(YAML.parse(text) as object);
    assert.equal(keys[0], 'aggregates');
    assert.equal(keys.at(-1), 'veneur_metrics_scopes');
  });

  it('redacts secrets unless printSecrets', () => {
    const text = configToYaml(full(), { printSecrets: false });
    assert.match(text, /^sentry_dsn: REDACTED$/m);
    assert.match(text, /^tls_key: REDACTED$/m);
    assert.match(text, /^ {4}api_key: REDACTED$/m);
    assert.ok(!text.includes('not-a-real-key'));
    assert.ok(!text.includes('dd-api-key-value'));
    const clear = configToYaml(full(), { printSecrets: true });
    assert.match(clear, /^sentry_dsn: https:\/\/public@sentry\.example\/1$/m);
    assert.ok(clear.includes('dd-api-key-value'));
  });
});
