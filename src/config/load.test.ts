import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../util/errors.js';
import { loadConfig } from './load.js';
import { Secret } from './secret.js';

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../test/fixtures/config/${name}`, import.meta.url));

/** Load text with an empty environment, collecting warnings. */
function load(text: string, opts: { env?: Record<string, string>; strict?: boolean } = {}) {
  const warnings: string[] = [];
  const config = loadConfig({
    text,
    env: opts.env ?? {},
    strict: opts.strict,
    onWarning: (m) => warnings.push(m),
  });
  return { config, warnings };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_CONFIG');
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig: defaults', () => {
  it('an empty file gives every default, including our fixes of Go zero values', () => {
    const { config: c, warnings } = load('');
    assert.deepEqual(warnings, []);
    assert.deepEqual(c.statsdListenAddresses, []);
    assert.deepEqual(c.ssfListenAddresses, []);
    assert.deepEqual(c.grpcListenAddresses, []);
    assert.equal(c.grpcAddress, '');
    assert.equal(c.httpAddress, '');
    assert.equal(c.intervalMs, 10_000);
    assert.deepEqual(c.aggregates, ['min', 'max', 'count']);
    assert.deepEqual(c.percentiles, []);
    assert.equal(c.numWorkers, 1);
    assert.equal(c.numReaders, 1);
    assert.equal(c.numSpanWorkers, 1);
    assert.equal(c.spanChannelCapacity, 100);
    assert.equal(c.metricMaxLength, 4096);
    assert.equal(c.traceMaxLengthBytes, 16_384);
    assert.equal(c.readBufferSizeBytes, 2_097_152);
    assert.equal(c.flushWatchdogMissedFlushes, 0);
    assert.equal(c.synchronizeWithInterval, false);
    assert.equal(c.flushOnShutdown, false);
    assert.equal(c.httpQuit, false);
    assert.equal(c.http.config, false);
    assert.deepEqual(c.features, { diagnosticsMetricsEnabled: false, enableMetricSinkRouting: false });
    assert.deepEqual(c.veneurMetricsScopes, { counter: '', gauge: '', histogram: '', set: '', status: '' });
    assert.equal(c.tls, null);
    assert.ok(c.tlsKey instanceof Secret && c.tlsKey.isEmpty);
    assert.ok(c.sentryDsn instanceof Secret && c.sentryDsn.isEmpty);
    assert.deepEqual(c.metricSinks, []);
    assert.deepEqual(c.spanSinks, []);
    assert.deepEqual(c.sources, []);
    assert.deepEqual(c.metricSinkRouting, []);
    assert.equal(c.hostname, hostname());
  });

  it('zero means "unset" for the keys Go defaults in ApplyDefaults', () => {
    const { config: c } = load(
      'num_workers: 0\nnum_readers: 0\nmetric_max_length: 0\nread_buffer_size_bytes: 0\nspan_channel_capacity: 0\naggregates: []\n',
    );
    assert.equal(c.numWorkers, 1);
    assert.equal(c.numReaders, 1);
    assert.equal(c.metricMaxLength, 4096);
    assert.equal(c.readBufferSizeBytes, 2_097_152);
    assert.equal(c.spanChannelCapacity, 100);
    assert.deepEqual(c.aggregates, ['min', 'max', 'count']);
  });

  it('a key without a value takes its default (Go zero value)', () => {
    const { config: c } = load(
      'hostname:\ninterval:\nmetric_sinks:\n  - kind: debug\n    name: d\n    config:\n',
    );
    assert.equal(c.hostname, hostname());
    assert.equal(c.intervalMs, 10_000);
    assert.deepEqual(c.metricSinks[0]?.config, {});
  });

  it('hostname: configured, else os.hostname(), else empty with omit_empty_hostname', () => {
    assert.equal(load('hostname: box-1').config.hostname, 'box-1');
    assert.equal(load('omit_empty_hostname: true').config.hostname, '');
    assert.equal(load('hostname: box-2\nomit_empty_hostname: true').config.hostname, 'box-2');
  });

  it('the result is deeply frozen', () => {
    const config = loadConfig({ file: fixture('full.yaml'), env: {} });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.statsdListenAddresses));
    assert.ok(Object.isFrozen(config.metricSinks[0]));
    assert.ok(Object.isFrozen(config.metricSinks[0]?.config));
    assert.ok(Object.isFrozen(config.metricSinks[0]?.stripTags[0]));
    assert.ok(Object.isFrozen(config.features));
    assert.throws(() => {
      (config as { intervalMs: number }).intervalMs = 1;
    }, TypeError);
  });
});

describe('loadConfig: a full file', () => {
  it('maps every key', () => {
    const warnings: string[] = [];
    const c = loadConfig({ file: fixture('full.yaml'), env: {}, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(warnings, []);
    assert.deepEqual(c.statsdListenAddresses, [
      'udp://127.0.0.1:8126',
      'tcp://:8126',
      'unixgram:///tmp/veneur-statsd.sock',
    ]);
    assert.deepEqual(c.ssfListenAddresses, ['udp://[::1]:8128', 'unix:@veneur-ssf']);
    assert.deepEqual(c.grpcListenAddresses, ['tcp://127.0.0.1:8129']);
    assert.equal(c.grpcAddress, '127.0.0.1:8130');
    assert.equal(c.httpAddress, '127.0.0.1:8127');
    assert.match(c.tlsKey.reveal(), /BEGIN PRIVATE KEY/);
    assert.match(c.tlsCertificate, /BEGIN CERTIFICATE/);
    assert.deepEqual(c.tls, {
      caFile: '/etc/veneur/ca.pem',
      certFile: '/etc/veneur/cert.pem',
      keyFile: '/etc/veneur/key.pem',
      serverName: 'veneur-proxy',
    });
    assert.equal(c.forwardAddress, 'veneur-global.example:8128');
    assert.equal(c.intervalMs, 5000);
    assert.equal(c.synchronizeWithInterval, true);
    assert.equal(c.flushWatchdogMissedFlushes, 3);
    assert.equal(c.flushOnShutdown, true);
    assert.equal(c.httpQuit, true);
    assert.equal(c.statsAddress, 'localhost:8125');
    assert.equal(c.indicatorSpanTimerName, 'indicator.span.timer');
    assert.equal(c.objectiveSpanTimerName, 'objective.span.timer');
    assert.equal(c.hostname, 'veneur-test-host');
    assert.deepEqual(c.extendTags, ['env:test', 'region:eu']);
    assert.deepEqual(c.tagsExclude, ['nonce', 'host|dd']);
    assert.deepEqual(c.percentiles, [0.5, 0.9, 0.99]);
    assert.deepEqual(c.aggregates, ['min', 'max', 'median', 'avg', 'count', 'sum', 'hmean']);
    assert.deepEqual(c.veneurMetricsScopes, {
      counter: 'global',
      gauge: 'local',
      histogram: 'default',
      set: '',
      status: 'global',
    });
    assert.deepEqual(c.veneurMetricsAdditionalTags, ['veneur:true']);
    assert.equal(c.countUniqueTimeseries, true);
    assert.equal(c.numWorkers, 8);
    assert.equal(c.numReaders, 4);
    assert.equal(c.numSpanWorkers, 2);
    assert.equal(c.spanChannelCapacity, 500);
    assert.equal(c.metricMaxLength, 8192);
    assert.equal(c.traceMaxLengthBytes, 32_768);
    assert.equal(c.readBufferSizeBytes, 4_194_304);
    assert.equal(c.debug, true);
    assert.equal(c.enableProfiling, false);
    assert.equal(c.mutexProfileFraction, 5);
    assert.equal(c.blockProfileRate, 10);
    assert.equal(c.sentryDsn.reveal(), 'https://public@sentry.example/1');
    assert.equal(c.http.config, true);
    assert.deepEqual(c.features, { diagnosticsMetricsEnabled: true, enableMetricSinkRouting: true });

    assert.deepEqual(c.sources, [
      {
        kind: 'openmetrics',
        name: 'app',
        config: { scrape_target: 'http://127.0.0.1:9102/metrics', scrape_interval: '10s' },
        tags: ['source:app'],
        path: 'sources[0]',
      },
    ]);
    assert.deepEqual(c.metricSinks[0], {
      kind: 'datadog',
      name: 'dd',
      config: {
        api_key: 'dd-api-key-value',
        api_hostname: 'https://app.datadoghq.com',
        flush_max_per_body: 5000,
      },
      path: 'metric_sinks[0]',
      maxNameLength: 200,
      maxTagLength: 100,
      maxTags: 50,
      stripTags: [
        { kind: 'prefix', value: 'nonce:', unset: false },
        { kind: 'regex', value: '^tmp_.*', unset: false },
      ],
      addTags: { env: 'prod', team: 'observability' },
      droppedMetricsAddTags: [],
    });
    assert.equal(c.metricSinks[1]?.path, 'metric_sinks[1]');
    assert.equal(c.spanSinks[0]?.path, 'span_sinks[0]');
    assert.deepEqual(c.metricSinkRouting[1], {
      name: 'debug-only-tmp',
      match: [
        {
          name: { kind: 'prefix', value: 'tmp.' },
          tags: [{ kind: 'exact', value: 'keep:false', unset: true }],
        },
      ],
      sinks: { matched: ['debug'], notMatched: [] },
      path: 'metric_sink_routing[1]',
    });
    // a match entry without `name` matches any name
    assert.deepEqual(c.metricSinkRouting[0]?.match[0]?.name, { kind: 'any', value: '' });
  });
});

describe('loadConfig: environment overlay', () => {
  it('overrides root scalars, durations, lists and bools; env wins over the file', () => {
    const { config: c } = load(
      'interval: 10s\nnum_workers: 2\ndebug: false\nstatsd_listen_addresses: [udp://:1]\n',
      {
        env: {
          VENEUR_INTERVAL: '5s',
          VENEUR_NUMWORKERS: '16',
          VENEUR_DEBUG: 'true',
          VENEUR_STATSDLISTENADDRESSES: 'udp://127.0.0.1:8126,tcp://127.0.0.1:8126',
          VENEUR_AGGREGATES: 'min,max',
          VENEUR_PERCENTILES: '0.5,0.99',
          VENEUR_FORWARDADDRESS: 'global:8128',
          VENEUR_HTTPADDRESS: ':8127',
          UNRELATED: 'x',
        },
      },
    );
    assert.equal(c.intervalMs, 5000);
    assert.equal(c.numWorkers, 16);
    assert.equal(c.debug, true);
    assert.deepEqual(c.statsdListenAddresses, ['udp://127.0.0.1:8126', 'tcp://127.0.0.1:8126']);
    assert.deepEqual(c.aggregates, ['min', 'max']);
    assert.deepEqual(c.percentiles, [0.5, 0.99]);
    assert.equal(c.forwardAddress, 'global:8128');
    assert.equal(c.httpAddress, ':8127');
  });

  it('overrides nested struct fields (VENEUR_<STRUCT>_<FIELD>)', () => {
    const { config: c } = load('features:\n  diagnostics_metrics_enabled: true\n', {
      env: {
        VENEUR_FEATURES_ENABLEMETRICSINKROUTING: 'true',
        VENEUR_HTTP_CONFIG: 'T',
        VENEUR_VENEURMETRICSSCOPES_COUNTER: 'global',
        VENEUR_TLS_SERVERNAME: 'proxy',
      },
    });
    assert.deepEqual(c.features, { diagnosticsMetricsEnabled: true, enableMetricSinkRouting: true });
    assert.equal(c.http.config, true);
    assert.equal(c.veneurMetricsScopes.counter, 'global');
    assert.deepEqual(c.tls, { caFile: '', certFile: '', keyFile: '', serverName: 'proxy' });
  });

  it('secrets from env stay secret', () => {
    const { config: c } = load('', { env: { VENEUR_SENTRYDSN: 'https://k@sentry/2' } });
    assert.equal(c.sentryDsn.reveal(), 'https://k@sentry/2');
    assert.equal(String(c.sentryDsn), 'REDACTED');
  });

  it('an empty list variable clears the list; bad values name the key', () => {
    assert.deepEqual(load('extend_tags: [a:b]', { env: { VENEUR_EXTENDTAGS: '' } }).config.extendTags, []);
    assert.match(configError(() => load('', { env: { VENEUR_DEBUG: 'maybe' } })).message, /^debug: /);
    assert.match(
      configError(() => load('', { env: { VENEUR_INTERVAL: '10' } })).message,
      /^interval: expected a duration/,
    );
    assert.match(
      configError(() => load('', { env: { VENEUR_NUMWORKERS: 'many' } })).message,
      /^num_workers: /,
    );
  });
});

describe('loadConfig: errors name the YAML path', () => {
  it('a bad value in a nested list entry', () => {
    const err = configError(() => loadConfig({ file: fixture('bad-sink-kind.yaml'), env: {} }));
    assert.equal(err.path, 'metric_sinks[1].kind');
    assert.match(err.message, /^metric_sinks\[1\]\.kind: required/);
    const err2 = configError(() =>
      load('metric_sinks:\n  - kind: debug\n    name: a\n  - kind: [x]\n    name: b\n'),
    );
    assert.equal(err2.path, 'metric_sinks[1].kind');
  });

  it('a bad percentile', () => {
    const err = configError(() => load('percentiles: [0.5, 0.9, 99]'));
    assert.equal(err.path, 'percentiles[2]');
    assert.equal(err.message, 'percentiles[2]: expected a number between 0 and 1');
    assert.equal(configError(() => load('percentiles: [-0.1]')).path, 'percentiles[0]');
    assert.equal(configError(() => load('percentiles: ["half"]')).path, 'percentiles[0]');
  });

  it('a bad duration and a non-positive interval', () => {
    const err = configError(() => load('interval: 10 seconds'));
    assert.equal(err.path, 'interval');
    assert.match(err.message, /expected a duration like "10s"/);
    assert.match(err.message, /"10 seconds"/);
    assert.match(
      configError(() => load('interval: 0s')).message,
      /^interval: expected a duration greater than 0/,
    );
    assert.equal(configError(() => load('interval: -5s')).path, 'interval');
    assert.equal(configError(() => load('interval: true')).path, 'interval');
  });

  it('a bad listen URL', () => {
    const err = configError(() => load('statsd_listen_addresses: [udp://127.0.0.1:8126, "127.0.0.1:8126"]'));
    assert.equal(err.path, 'statsd_listen_addresses[1]');
    assert.match(err.message, /^statsd_listen_addresses\[1\]: expected a URL like udp:\/\/127\.0\.0\.1:8126/);
    assert.equal(
      configError(() => load('ssf_listen_addresses: ["http://x:1"]')).path,
      'ssf_listen_addresses[0]',
    );
    assert.match(
      configError(() => load('grpc_listen_addresses: ["tcp://host"]')).message,
      /^grpc_listen_addresses\[0\]/,
    );
    assert.match(
      configError(() => load('statsd_listen_addresses: ["unixgram:"]')).message,
      /unixgram:\/\/\/path/,
    );
  });

  it('other value checks', () => {
    assert.match(
      configError(() => load('aggregates: [min, p99]')).message,
      /^aggregates\[1\]: expected one of min, max/,
    );
    assert.equal(configError(() => load('num_workers: -1')).path, 'num_workers');
    assert.equal(configError(() => load('num_workers: 1.5')).path, 'num_workers');
    assert.equal(configError(() => load('debug: maybe')).path, 'debug');
    assert.equal(configError(() => load('http_address: localhost')).path, 'http_address');
    assert.equal(configError(() => load('grpc_address: nope')).path, 'grpc_address');
    assert.equal(
      configError(() => load('veneur_metrics_scopes: {counter: everywhere}')).path,
      'veneur_metrics_scopes.counter',
    );
    assert.equal(configError(() => load('extend_tags: a:b')).path, 'extend_tags');
    assert.equal(configError(() => load('http: [config]')).path, 'http');
    assert.match(configError(() => load('- a\n- b\n')).message, /expected a map of settings, got a list/);
  });

  it('sink and source entries', () => {
    const dup = configError(() =>
      load('metric_sinks:\n  - {kind: debug, name: a}\n  - {kind: blackhole, name: a}\n'),
    );
    assert.equal(dup.path, 'metric_sinks[1].name');
    assert.match(dup.message, /duplicate name "a" \(already used by metric_sinks\[0\]\)/);
    // the same name may be used by a metric sink and a span sink
    load('metric_sinks: [{kind: datadog, name: dd}]\nspan_sinks: [{kind: datadog, name: dd}]\n');
    assert.equal(configError(() => load('metric_sinks: [{kind: debug}]')).path, 'metric_sinks[0].name');
    assert.equal(configError(() => load('span_sinks: [{kind: debug, name: ""}]')).path, 'span_sinks[0].name');
    assert.equal(
      configError(() => load('metric_sinks: [{kind: debug, name: d, config: [1]}]')).path,
      'metric_sinks[0].config',
    );
    assert.equal(
      configError(() => load('metric_sinks: [{kind: debug, name: d, max_tags: -1}]')).path,
      'metric_sinks[0].max_tags',
    );
    assert.equal(
      configError(() => load('metric_sinks: [{kind: debug, name: d, strip_tags: [{kind: glob, value: x}]}]'))
        .path,
      'metric_sinks[0].strip_tags[0].kind',
    );
    const re = configError(() =>
      load('metric_sinks: [{kind: debug, name: d, strip_tags: [{kind: regex, value: "(["}]}]'),
    );
    assert.equal(re.path, 'metric_sinks[0].strip_tags[0].value');
    assert.match(re.message, /invalid regular expression/);
    assert.equal(configError(() => load('sources: [{name: x}]')).path, 'sources[0].kind');
    assert.equal(
      configError(() => load('metric_sink_routing: [{name: r, match: [{name: {kind: nope}}]}]')).path,
      'metric_sink_routing[0].match[0].name.kind',
    );
  });

  it('TLS settings that cannot work', () => {
    assert.equal(configError(() => load('tls_key: abc')).path, 'tls_certificate');
    assert.equal(configError(() => load('tls_certificate: abc')).path, 'tls_key');
    assert.equal(configError(() => load('tls: {ca_file: /a}')).path, 'tls.cert_file');
  });

  it('a YAML syntax error names the line', () => {
    const err = configError(() => loadConfig({ file: fixture('bad-syntax.yaml'), env: {} }));
    assert.match(err.message, /bad-syntax\.yaml: invalid YAML at line \d+, column \d+: /);
    const line = Number(/line (\d+)/.exec(err.message)?.[1]);
    assert.ok(line >= 3 && line <= 5, `line ${line}`);
    assert.match(
      configError(() => load('a: 1\na: 2\n')).message,
      /line 2, column 1: Map keys must be unique/,
    );
  });

  it('a missing file', () => {
    assert.match(
      configError(() => loadConfig({ file: '/nonexistent/veneur.yaml' })).message,
      /cannot read config file/,
    );
  });
});

describe('loadConfig: unknown and legacy keys', () => {
  it('non-strict: warns and ignores', () => {
    const warnings: string[] = [];
    const c = loadConfig({ file: fixture('legacy.yaml'), env: {}, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(c.statsdListenAddresses, ['udp://127.0.0.1:8126']);
    const keys = warnings.map((w) => w.slice(0, w.indexOf(':')));
    assert.deepEqual(keys.sort(), [
      'datadog_api_hostname',
      'datadog_api_key',
      'features.migrate_metric_sinks',
      'flush_max_per_body',
      'kafka_broker',
      'ssf_buffer_size',
      'tags',
      'udp_address',
    ]);
    assert.ok(warnings.every((w) => w.includes('removed from Veneur')));

    const w2: string[] = [];
    loadConfig({ file: fixture('unknown-key.yaml'), env: {}, onWarning: (m) => w2.push(m) });
    assert.deepEqual(w2, ['intervall: unknown key, ignored']);
  });

  it('non-strict: unknown keys inside list entries are reported with their path', () => {
    const { warnings } = load('metric_sinks: [{kind: debug, name: d, confg: {}}]');
    assert.deepEqual(warnings, ['metric_sinks[0].confg: unknown key, ignored']);
  });

  it('strict: unknown and legacy keys are errors', () => {
    const unknown = configError(() =>
      loadConfig({ file: fixture('unknown-key.yaml'), env: {}, strict: true }),
    );
    assert.equal(unknown.path, 'intervall');
    assert.match(unknown.message, /unknown key \(rejected in strict mode\)/);
    const legacy = configError(() => load('datadog_api_key: x', { strict: true }));
    assert.equal(legacy.path, 'datadog_api_key');
    assert.match(legacy.message, /removed from Veneur \(rejected in strict mode\)/);
    assert.equal(
      configError(() => load('features: {proxy_protocol: grpc}', { strict: true })).path,
      'features.proxy_protocol',
    );
  });
});

describe('loadConfig: YAML dialect', () => {
  it('accepts YAML 1.1 booleans in boolean fields', () => {
    const { config: c } = load(
      'debug: yes\nhttp_quit: on\nflush_on_shutdown: Y\nsynchronize_with_interval: off\nhttp: {config: YES}\nfeatures: {enable_metric_sink_routing: True}\n',
    );
    assert.equal(c.debug, true);
    assert.equal(c.httpQuit, true);
    assert.equal(c.flushOnShutdown, true);
    assert.equal(c.synchronizeWithInterval, false);
    assert.equal(c.http.config, true);
    assert.equal(c.features.enableMetricSinkRouting, true);
    const sink = load(
      'metric_sinks: [{kind: x, name: x, strip_tags: [{kind: exact, value: a, unset: yes}]}]',
    );
    assert.equal(sink.config.metricSinks[0]?.stripTags[0]?.unset, true);
  });

  it('keeps yes/no/on/off as strings elsewhere (no "Norway problem")', () => {
    const { config: c } = load(
      'hostname: NO\nextend_tags: [on]\nmetric_sinks: [{kind: x, name: x, add_tags: {n: off}, config: {region: no}}]\n',
    );
    assert.equal(c.hostname, 'NO');
    assert.deepEqual(c.extendTags, ['on']);
    assert.deepEqual(c.metricSinks[0]?.addTags, { n: 'off' });
    assert.deepEqual(c.metricSinks[0]?.config, { region: 'no' });
  });

  it('decodes scalars into string fields as Go does', () => {
    const { config: c } = load('hostname: 1234\nextend_tags: [1, true]\nmetric_sinks: [{kind: k, name: 5}]');
    assert.equal(c.hostname, '1234');
    assert.deepEqual(c.extendTags, ['1', 'true']);
    assert.equal(c.metricSinks[0]?.name, '5');
  });

  it('supports anchors and merge keys; durations as Go strings or nanoseconds', () => {
    const { config: c } = load(
      'base: &b {kind: debug, config: {x: 1}}\nmetric_sinks:\n  - <<: *b\n    name: one\ninterval: 1m30s\n',
    );
    assert.equal(c.metricSinks[0]?.kind, 'debug');
    assert.deepEqual(c.metricSinks[0]?.config, { x: 1 });
    assert.equal(c.intervalMs, 90_000);
    assert.equal(load('interval: 2500000000').config.intervalMs, 2500);
  });
});
