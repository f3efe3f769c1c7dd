/**
 * veneur-proxy configuration (reference §6.4): Go's `proxy.Config` keys, the
 * `VENEUR_PROXY_` environment overlay (envconfig style: `VENEUR_PROXY_DIALTIMEOUT`,
 * `VENEUR_PROXY_GRPCSERVER_PINGTIMEOUT`, `VENEUR_PROXY_FORWARDADDRESSES=a:1,b:2`;
 * env wins over the file), YAML-path errors, and `-strict` (unknown keys are errors).
 *
 * Go applies no defaults at all (reference §14.11: `dial_timeout` 0 makes every dial
 * fail, `discovery_interval` 0 panics, `send_buffer_size` 0 is unbuffered). Here a
 * missing or zero value takes a working default:
 *   dial_timeout 5s · discovery_interval 30s · send_buffer_size 8192 · shutdown_timeout 10s
 *   runtime_metrics_interval 10s · statsd.aggregation_interval 10s
 *
 * Keys we add (not in Go; rejected by Go's strict mode, ignored by its lax mode):
 *   discovery: consul | kubernetes      where `forward_service` / pods are looked up (default consul)
 *   consul: {address, token}            agent and ACL token (default: CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN)
 *   kubernetes: {label_selector, port_name, namespace}
 *                                       defaults app=veneur-global, grpc, all namespaces
 *   resend_window (default 10s; 0 = off) and resend_max_bytes (default 64 MiB per destination):
 *                                       the re-send rule of destinations.ts
 *   stall_timeout (default 30s; 0 = off) a destination whose queue stays full this long is
 *                                       treated as broken (Go waits forever)
 *
 * Keys of the legacy proxy (example_proxy.yaml) are accepted with a warning and
 * ignored, rejected with -strict.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { deepFreeze, parseYaml } from '../config/load.js';
import { compileGoRegex } from '../config/regex.js';
import { Secret } from '../config/secret.js';
import { expecting, parseSection, zDuration, zGoString, zSecret } from '../config/section.js';
import type { TagMatcherConfig } from '../config/types.js';
import { parseHostPort } from '../util/address.js';
import { ConfigError } from '../util/errors.js';

export const PROXY_DEFAULTS = {
  dialTimeoutMs: 5_000,
  discoveryIntervalMs: 30_000,
  sendBufferSize: 8192,
  shutdownTimeoutMs: 10_000,
  runtimeMetricsIntervalMs: 10_000,
  statsdAggregationIntervalMs: 10_000,
  resendWindowMs: 10_000,
  stallTimeoutMs: 30_000,
  resendMaxBytes: 64 * 1024 * 1024,
  kubernetesLabelSelector: 'app=veneur-global',
  kubernetesPortName: 'grpc',
} as const;

/** Keys of the legacy (≤ mid-2022) veneur-proxy; accepted and ignored, rejected with -strict. */
export const LEGACY_PROXY_KEYS: ReadonlySet<string> = new Set([
  'consul_forward_service_name',
  'consul_forward_grpc_service_name',
  'consul_trace_service_name',
  'consul_refresh_interval',
  'forward_address',
  'grpc_forward_address',
  'forward_timeout',
  'idle_connection_timeout',
  'max_idle_conns',
  'max_idle_conns_per_host',
  'ssf_destination_address',
  'stats_address',
  'trace_address',
  'trace_api_address',
  'tracing_client_capacity',
  'tracing_client_flush_interval',
  'tracing_client_metrics_interval',
  'enable_profiling',
]);

export interface ProxyTlsConfig {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly serverName: string;
}

export interface ProxyConfig {
  readonly debug: boolean;
  readonly dialTimeoutMs: number;
  readonly discoveryIntervalMs: number;
  readonly forwardAddresses: readonly string[];
  readonly forwardService: string;
  readonly discovery: 'consul' | 'kubernetes';
  readonly consul: { readonly address: string; readonly token: Secret };
  readonly kubernetes: {
    readonly labelSelector: string;
    readonly portName: string;
    readonly namespace: string;
  };
  readonly grpcServer: {
    readonly connectionTimeoutMs: number;
    readonly maxConnectionIdleMs: number;
    readonly maxConnectionAgeMs: number;
    readonly maxConnectionAgeGraceMs: number;
    readonly pingTimeoutMs: number;
    readonly keepaliveTimeoutMs: number;
  };
  readonly grpcAddress: string;
  readonly grpcTlsAddress: string;
  readonly http: { readonly enableConfig: boolean; readonly enableProfiling: boolean };
  readonly httpAddress: string;
  readonly ignoreTags: readonly TagMatcherConfig[];
  readonly runtimeMetricsIntervalMs: number;
  readonly sendBufferSize: number;
  readonly sentryDsn: Secret;
  readonly shutdownTimeoutMs: number;
  readonly statsd: {
    readonly address: string;
    readonly aggregationIntervalMs: number;
    readonly channelBufferSize: number;
    readonly messagesPerPayload: number;
  };
  readonly tls: ProxyTlsConfig | null;
  readonly resendWindowMs: number;
  readonly resendMaxBytes: number;
  readonly stallTimeoutMs: number;
}

// ---------------------------------------------------------------------------
// Schema

const str = () => zGoString.default('');
const bool = () => z.boolean({ error: 'expected true or false' }).default(false);

/** A duration where absent, zero or negative means `fallback`. */
const durationOr = (fallback: number) =>
  zDuration.optional().transform((v) => (v === undefined || !(v > 0) ? fallback : v));
/** A duration where absent means 0 (the library default). */
const duration0 = () => zDuration.optional().transform((v) => (v === undefined || !(v > 0) ? 0 : v));
/** A non-negative integer; absent or 0 means `fallback`. */
const countOr = (fallback: number) =>
  z
    .number({ error: 'expected an integer' })
    .int({ error: 'expected an integer' })
    .min(0, { error: 'expected an integer >= 0' })
    .optional()
    .transform((v) => (v === undefined || v === 0 ? fallback : v));

const hostPort = () =>
  zGoString.default('').superRefine((v, ctx) => {
    if (v !== '' && parseHostPort(v) === null)
      ctx.addIssue({
        code: 'custom',
        message: `expected host:port (e.g. 127.0.0.1:8128 or :8128), got ${JSON.stringify(v)}`,
      });
  });

const tagMatcher = z
  .object({
    kind: z.enum(['exact', 'prefix', 'regex'], { error: expecting('one of exact, prefix, regex') }),
    value: str(),
    unset: bool(),
  })
  .superRefine((m, ctx) => {
    if (m.kind !== 'regex') return;
    try {
      compileGoRegex(m.value);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid regular expression ${JSON.stringify(m.value)}: ${(err as Error).message}`,
        path: ['value'],
      });
    }
  });

export const proxySchema = z.object({
  debug: bool(),
  dial_timeout: durationOr(PROXY_DEFAULTS.dialTimeoutMs),
  discovery_interval: durationOr(PROXY_DEFAULTS.discoveryIntervalMs),
  forward_addresses: z
    .array(
      zGoString.superRefine((v, ctx) => {
        if (parseHostPort(v) === null || parseHostPort(v)?.host === '')
          ctx.addIssue({
            code: 'custom',
            message: `expected host:port of a global's gRPC address, got ${JSON.stringify(v)}`,
          });
      }),
      { error: 'expected a list of host:port' },
    )
    .default([]),
  forward_service: str(),
  discovery: z.enum(['consul', 'kubernetes'], { error: expecting('consul or kubernetes') }).default('consul'),
  consul: z
    .object({ address: str(), token: zSecret.optional().transform((v) => v ?? new Secret('')) })
    .default({ address: '', token: new Secret('') }),
  kubernetes: z
    .object({
      label_selector: zGoString.default(PROXY_DEFAULTS.kubernetesLabelSelector),
      port_name: zGoString.default(PROXY_DEFAULTS.kubernetesPortName),
      namespace: str(),
    })
    .default({
      label_selector: PROXY_DEFAULTS.kubernetesLabelSelector,
      port_name: PROXY_DEFAULTS.kubernetesPortName,
      namespace: '',
    }),
  grpc_server: z
    .object({
      connection_timeout: duration0(),
      max_connection_idle: duration0(),
      max_connection_age: duration0(),
      max_connection_age_grace: duration0(),
      ping_timeout: duration0(),
      keepalive_timeout: duration0(),
    })
    .default({
      connection_timeout: 0,
      max_connection_idle: 0,
      max_connection_age: 0,
      max_connection_age_grace: 0,
      ping_timeout: 0,
      keepalive_timeout: 0,
    }),
  grpc_address: hostPort(),
  grpc_tls_address: hostPort(),
  http: z
    .object({ enable_config: bool(), enable_profiling: bool() })
    .default({ enable_config: false, enable_profiling: false }),
  http_address: hostPort(),
  ignore_tags: z.array(tagMatcher, { error: 'expected a list of tag matchers' }).default([]),
  runtime_metrics_interval: durationOr(PROXY_DEFAULTS.runtimeMetricsIntervalMs),
  send_buffer_size: countOr(PROXY_DEFAULTS.sendBufferSize),
  sentry_dsn: zSecret.optional().transform((v) => v ?? new Secret('')),
  shutdown_timeout: durationOr(PROXY_DEFAULTS.shutdownTimeoutMs),
  statsd: z
    .object({
      address: str(),
      aggregation_interval: durationOr(PROXY_DEFAULTS.statsdAggregationIntervalMs),
      channel_buffer_size: countOr(0),
      messages_per_payload: countOr(0),
    })
    .default({
      address: '',
      aggregation_interval: PROXY_DEFAULTS.statsdAggregationIntervalMs,
      channel_buffer_size: 0,
      messages_per_payload: 0,
    }),
  tls: z
    .object({ ca_file: str(), cert_file: str(), key_file: str(), server_name: str() })
    .nullable()
    .default(null),
  resend_window: zDuration
    .optional()
    .transform((v) => (v === undefined ? PROXY_DEFAULTS.resendWindowMs : Math.max(0, v))),
  resend_max_bytes: countOr(PROXY_DEFAULTS.resendMaxBytes),
  stall_timeout: zDuration
    .optional()
    .transform((v) => (v === undefined ? PROXY_DEFAULTS.stallTimeoutMs : Math.max(0, v))),
});

export interface LoadProxyConfigOptions {
  readonly file?: string;
  readonly text?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly strict?: boolean;
  readonly onWarning?: (msg: string) => void;
}

/** Validate a decoded YAML document (+ env overlay). Throws ConfigError naming the YAML path. */
export function parseProxyConfig(
  raw: unknown,
  opts: Omit<LoadProxyConfigOptions, 'file' | 'text'> = {},
): ProxyConfig {
  const o = parseSection(proxySchema, raw, {
    path: '',
    envPrefix: 'VENEUR_PROXY',
    env: opts.env ?? process.env,
    strict: opts.strict ?? false,
    ignoredKeys: LEGACY_PROXY_KEYS,
    onIgnored: (path, legacy) =>
      opts.onWarning?.(
        legacy
          ? `${path}: key of the legacy veneur-proxy, ignored (use forward_addresses / forward_service)`
          : `${path}: unknown key, ignored`,
      ),
  });

  if (o.grpc_address === '' && o.grpc_tls_address === '')
    throw new ConfigError(
      'grpc_address',
      'required (host:port where locals send metrics), or grpc_tls_address',
    );
  if (o.grpc_tls_address !== '' && (o.tls === null || o.tls.cert_file === '' || o.tls.key_file === '')) {
    throw new ConfigError('tls', 'grpc_tls_address needs tls.cert_file and tls.key_file');
  }
  if (o.forward_addresses.length === 0 && o.forward_service === '' && o.discovery !== 'kubernetes') {
    throw new ConfigError(
      'forward_addresses',
      'no destinations: set forward_addresses, forward_service (Consul) or discovery: kubernetes',
    );
  }

  const config: ProxyConfig = {
    debug: o.debug,
    dialTimeoutMs: o.dial_timeout,
    discoveryIntervalMs: o.discovery_interval,
    forwardAddresses: o.forward_addresses,
    forwardService: o.forward_service,
    discovery: o.discovery,
    consul: { address: o.consul.address, token: o.consul.token },
    kubernetes: {
      labelSelector: o.kubernetes.label_selector,
      portName: o.kubernetes.port_name,
      namespace: o.kubernetes.namespace,
    },
    grpcServer: {
      connectionTimeoutMs: o.grpc_server.connection_timeout,
      maxConnectionIdleMs: o.grpc_server.max_connection_idle,
      maxConnectionAgeMs: o.grpc_server.max_connection_age,
      maxConnectionAgeGraceMs: o.grpc_server.max_connection_age_grace,
      pingTimeoutMs: o.grpc_server.ping_timeout,
      keepaliveTimeoutMs: o.grpc_server.keepalive_timeout,
    },
    grpcAddress: o.grpc_address,
    grpcTlsAddress: o.grpc_tls_address,
    http: { enableConfig: o.http.enable_config, enableProfiling: o.http.enable_profiling },
    httpAddress: o.http_address,
    ignoreTags: o.ignore_tags,
    runtimeMetricsIntervalMs: o.runtime_metrics_interval,
    sendBufferSize: o.send_buffer_size,
    sentryDsn: o.sentry_dsn,
    shutdownTimeoutMs: o.shutdown_timeout,
    statsd: {
      address: o.statsd.address,
      aggregationIntervalMs: o.statsd.aggregation_interval,
      channelBufferSize: o.statsd.channel_buffer_size,
      messagesPerPayload: o.statsd.messages_per_payload,
    },
    tls:
      o.tls === null
        ? null
        : {
            caFile: o.tls.ca_file,
            certFile: o.tls.cert_file,
            keyFile: o.tls.key_file,
            serverName: o.tls.server_name,
          },
    resendWindowMs: o.resend_window,
    resendMaxBytes: o.resend_max_bytes,
    stallTimeoutMs: o.stall_timeout,
  };
  return deepFreeze(config);
}

/** Read (or take) YAML, decode, overlay VENEUR_PROXY_* and validate. */
export function loadProxyConfig(opts: LoadProxyConfigOptions): ProxyConfig {
  let text = opts.text;
  const source = opts.file ?? '<config>';
  if (text === undefined) {
    if (opts.file === undefined) throw new ConfigError('', 'no config file given (-f)');
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError('', `${opts.file}: ${(err as Error).message}`);
    }
  }
  const raw = parseYaml(text, source, opts.onWarning);
  return parseProxyConfig(raw, opts);
}

/** The config as JSON for `/config/json` (secrets REDACTED unless printSecrets). */
export function proxyConfigToJson(config: ProxyConfig, printSecrets: boolean): string {
  // a replacer sees values after toJSON(); the holder still has the Secret itself
  return JSON.stringify(
    config,
    function (this: Record<string, unknown>, k: string, v: unknown) {
      const original = this[k];
      return original instanceof Secret && printSecrets ? original.reveal() : v;
    },
    2,
  );
}
