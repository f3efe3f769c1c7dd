import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../util/errors.js';
import { loadProxyConfig, PROXY_DEFAULTS, parseProxyConfig, proxyConfigToJson } from './config.js';

const base = { grpc_address: ':8128', forward_addresses: ['10.0.0.1:8128'] };

describe('proxy config', () => {
  it('applies working defaults where Go has none', () => {
    const c = parseProxyConfig(base, { env: {} });
    assert.equal(c.dialTimeoutMs, 5000);
    assert.equal(c.discoveryIntervalMs, 30_000);
    assert.equal(c.sendBufferSize, 8192);
    assert.equal(c.shutdownTimeoutMs, 10_000);
    assert.equal(c.runtimeMetricsIntervalMs, 10_000);
    assert.equal(c.statsd.aggregationIntervalMs, 10_000);
    assert.equal(c.resendWindowMs, PROXY_DEFAULTS.resendWindowMs);
    assert.equal(c.resendMaxBytes, 64 * 1024 * 1024);
    assert.equal(c.stallTimeoutMs, 30_000);
    assert.equal(parseProxyConfig({ ...base, stall_timeout: 0 }, { env: {} }).stallTimeoutMs, 0);
    assert.equal(c.discovery, 'consul');
    assert.deepEqual(c.kubernetes, { labelSelector: 'app=veneur-global', portName: 'grpc', namespace: '' });
    assert.equal(c.tls, null);
    assert.ok(Object.isFrozen(c));
    // zero means "unset" for the timeouts, as elsewhere in Veneur configs
    assert.equal(
      parseProxyConfig({ ...base, dial_timeout: '0s', send_buffer_size: 0 }, { env: {} }).dialTimeoutMs,
      5000,
    );
    // but an explicit resend_window of 0 turns re-sending off
    assert.equal(parseProxyConfig({ ...base, resend_window: '0s' }, { env: {} }).resendWindowMs, 0);
  });

  it('reads every §6.4 key from YAML', () => {
    const c = loadProxyConfig({
      env: {},
      text: `
debug: true
dial_timeout: 2s
discovery_interval: 15s
forward_addresses: ["a:1", "b:2"]
forward_service: veneur-global
grpc_server:
  connection_timeout: 1s
  max_connection_idle: 2m
  max_connection_age: 10m
  max_connection_age_grace: 30s
  ping_timeout: 20s
  keepalive_timeout: 5s
grpc_address: 0.0.0.0:8128
grpc_tls_address: 0.0.0.0:8129
http:
  enable_config: true
  enable_profiling: false
http_address: 0.0.0.0:8127
ignore_tags:
  - kind: prefix
    value: host
  - kind: regex
    value: "^pod:"
runtime_metrics_interval: 20s
send_buffer_size: 100
sentry_dsn: https://key@sentry.example/1
shutdown_timeout: 3s
statsd:
  address: 127.0.0.1:8125
  aggregation_interval: 5s
  channel_buffer_size: 10
  messages_per_payload: 20
tls:
  ca_file: /ca.pem
  cert_file: /cert.pem
  key_file: /key.pem
  server_name: veneur
`,
    });
    assert.equal(c.debug, true);
    assert.equal(c.dialTimeoutMs, 2000);
    assert.deepEqual(c.forwardAddresses, ['a:1', 'b:2']);
    assert.equal(c.forwardService, 'veneur-global');
    assert.deepEqual(c.grpcServer, {
      connectionTimeoutMs: 1000,
      maxConnectionIdleMs: 120_000,
      maxConnectionAgeMs: 600_000,
      maxConnectionAgeGraceMs: 30_000,
      pingTimeoutMs: 20_000,
      keepaliveTimeoutMs: 5000,
    });
    assert.equal(c.grpcTlsAddress, '0.0.0.0:8129');
    assert.deepEqual(c.http, { enableConfig: true, enableProfiling: false });
    assert.equal(c.ignoreTags.length, 2);
    assert.equal(c.ignoreTags[1]!.kind, 'regex');
    assert.equal(c.sendBufferSize, 100);
    assert.equal(c.sentryDsn.reveal(), 'https://key@sentry.example/1');
    assert.equal(String(c.sentryDsn), 'REDACTED');
    assert.equal(c.statsd.address, '127.0.0.1:8125');
    assert.equal(c.statsd.aggregationIntervalMs, 5000);
    assert.deepEqual(c.tls, {
      caFile: '/ca.pem',
      certFile: '/cert.pem',
      keyFile: '/key.pem',
      serverName: 'veneur',
    });
  });

  it('VENEUR_PROXY_* overrides the file', () => {
    const c = parseProxyConfig(base, {
      env: {
        VENEUR_PROXY_DIALTIMEOUT: '750ms',
        VENEUR_PROXY_FORWARDADDRESSES: 'x:1,y:2',
        VENEUR_PROXY_SENDBUFFERSIZE: '16',
        VENEUR_PROXY_GRPCSERVER_PINGTIMEOUT: '9s',
        VENEUR_PROXY_STATSD_ADDRESS: 'localhost:8125',
        VENEUR_PROXY_DEBUG: 'true',
        VENEUR_PROXY_DISCOVERY: 'kubernetes',
        VENEUR_PROXY_KUBERNETES_LABELSELECTOR: 'app=g',
        VENEUR_PROXY_CONSUL_TOKEN: 'tok',
      },
    });
    assert.equal(c.dialTimeoutMs, 750);
    assert.deepEqual(c.forwardAddresses, ['x:1', 'y:2']);
    assert.equal(c.sendBufferSize, 16);
    assert.equal(c.grpcServer.pingTimeoutMs, 9000);
    assert.equal(c.statsd.address, 'localhost:8125');
    assert.equal(c.debug, true);
    assert.equal(c.discovery, 'kubernetes');
    assert.equal(c.kubernetes.labelSelector, 'app=g');
    assert.equal(c.consul.token.reveal(), 'tok');
  });

  it('errors name the YAML path', () => {
    const err = (raw: unknown, strict = false): string => {
      try {
        parseProxyConfig(raw, { env: {}, strict });
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.message;
      }
      throw new Error('no error');
    };
    assert.match(err({ ...base, dial_timeout: 'soon' }), /^dial_timeout: expected a duration/);
    assert.match(
      err({ ...base, forward_addresses: ['nope'] }),
      /^forward_addresses\[0\]: expected host:port/,
    );
    assert.match(err({ ...base, ignore_tags: [{ kind: 'glob', value: 'x' }] }), /^ignore_tags\[0\]\.kind/);
    assert.match(
      err({ ...base, ignore_tags: [{ kind: 'regex', value: '(' }] }),
      /^ignore_tags\[0\]\.value: invalid regular expression/,
    );
    assert.match(err({ ...base, grpc_server: { ping_timeout: 'x' } }), /^grpc_server\.ping_timeout/);
    assert.match(err({ forward_addresses: ['a:1'] }), /^grpc_address: required/);
    assert.match(err({ grpc_address: ':1' }), /^forward_addresses: no destinations/);
    assert.match(err({ ...base, grpc_tls_address: ':8129' }), /^tls: grpc_tls_address needs/);
    assert.match(err({ ...base, discovery: 'zookeeper' }), /^discovery: expected consul or kubernetes/);
  });

  it('-strict rejects unknown and legacy keys; lax mode warns and ignores them', () => {
    assert.throws(
      () => parseProxyConfig({ ...base, bogus: 1 }, { env: {}, strict: true }),
      /bogus: unknown key/,
    );
    assert.throws(
      () => parseProxyConfig({ ...base, consul_refresh_interval: '30s' }, { env: {}, strict: true }),
      /consul_refresh_interval: key was removed/,
    );
    const warnings: string[] = [];
    parseProxyConfig(
      { ...base, bogus: 1, forward_timeout: '1s' },
      { env: {}, onWarning: (w) => warnings.push(w) },
    );
    assert.deepEqual(warnings, [
      'bogus: unknown key, ignored',
      'forward_timeout: key of the legacy veneur-proxy, ignored (use forward_addresses / forward_service)',
    ]);
  });

  it('YAML syntax errors name the line', () => {
    assert.throws(() => loadProxyConfig({ text: 'grpc_address: [\n', env: {} }), /invalid YAML at line/);
    assert.throws(() => loadProxyConfig({ file: '/nonexistent/proxy.yaml', env: {} }), /ENOENT/);
  });

  it('/config/json redacts secrets unless asked not to', () => {
    const c = parseProxyConfig(
      { ...base, sentry_dsn: 'https://k@s/1', consul: { token: 't0k' } },
      { env: {} },
    );
    const red = JSON.parse(proxyConfigToJson(c, false)) as { sentryDsn: string; consul: { token: string } };
    assert.equal(red.sentryDsn, 'REDACTED');
    assert.equal(red.consul.token, 'REDACTED');
    const clear = JSON.parse(proxyConfigToJson(c, true)) as { sentryDsn: string; consul: { token: string } };
    assert.equal(clear.sentryDsn, 'https://k@s/1');
    assert.equal(clear.consul.token, 't0k');
  });
});
