/**
 * The root config schema: every server key of Go Veneur at HEAD (reference §6.2)
 * with its default, validated with zod through parseSection (env overlay,
 * unknown/legacy keys, YAML-path errors).
 *
 * Defaults follow Go's ApplyDefaults, where a zero value means "unset": an
 * explicit `metric_max_length: 0` gets the default like a missing key does.
 * Deliberate fixes of Go's missing defaults (reference §14.11): `num_readers`
 * 1 (Go: 0 hangs UDP start-up), `trace_max_length_bytes` 16384 (the value of
 * Go's example.yaml; Go: 0, must be set for SSF over UDP).
 */

import { z } from 'zod';
import { parseHostPort } from '../util/address.js';
import { ConfigError } from '../util/errors.js';
import { compileGoRegex } from './regex.js';
import { Secret } from './secret.js';
import { expecting, parseSection, zDuration, zGoString, zSecret } from './section.js';

// ---------------------------------------------------------------------------
// Defaults (exported so docs and tests name one source)

export const DEFAULTS = {
  intervalMs: 10_000,
  aggregates: ['min', 'max', 'count'] as const,
  numWorkers: 1,
  numReaders: 1,
  numSpanWorkers: 1,
  spanChannelCapacity: 100,
  metricMaxLength: 4096,
  traceMaxLengthBytes: 16_384,
  readBufferSizeBytes: 2_097_152,
} as const;

export const AGGREGATES = ['min', 'max', 'median', 'avg', 'count', 'sum', 'hmean'] as const;
export const LISTEN_SCHEMES = ['udp', 'udp4', 'udp6', 'tcp', 'tcp4', 'tcp6', 'unix', 'unixgram'] as const;

/**
 * Keys removed from Veneur before HEAD (reference §6.3, plus the `influx_*` keys of
 * old example.yaml files). Accepted with a warning, rejected in strict mode.
 */
export const LEGACY_KEYS: ReadonlySet<string> = new Set([
  // flat sink keys, removed when metric_sinks/span_sinks became mandatory
  'datadog_*',
  'signalfx_*',
  'kafka_*',
  'lightstep_*',
  'trace_lightstep_*',
  'newrelic_*',
  'splunk_hec_*',
  'splunk_span_sample_rate',
  'xray_address',
  'xray_annotation_tags',
  'xray_sample_percentage',
  'falconer_address',
  'prometheus_repeater_address',
  'prometheus_network_type',
  'prometheus_remote_*',
  'aws_access_key_id',
  'aws_secret_access_key',
  'aws_region',
  'aws_s3_bucket',
  'flush_file',
  'influx_*',
  // other removed keys
  'tags',
  'forward_use_grpc',
  'features.proxy_protocol',
  'features.migrate_metric_sinks',
  'features.migrate_span_sinks',
  'debug_flushed_metrics',
  'debug_ingested_spans',
  'ssf_buffer_size',
  'flush_max_per_body',
  // removed in 3.0.0
  'api_hostname',
  'key',
  'trace_address',
  'trace_api_address',
  'ssf_address',
  'tcp_address',
  'udp_address',
]);

// ---------------------------------------------------------------------------
// Value checks (pure; return an error message or null)

const URL_EXAMPLE = 'expected a URL like udp://127.0.0.1:8126';

/**
 * Listener URL (reference §1.1): `udp://host:port`, `tcp4://:8126`,
 * `unixgram:///tmp/x.sock`, `unixgram:@abstract`, `unix:///tmp/ssf.sock`.
 */
export function checkListenUrl(text: string): string | null {
  const got = `, got ${JSON.stringify(text)}`;
  const colon = text.indexOf(':');
  if (colon <= 0) return `${URL_EXAMPLE} (schemes: ${LISTEN_SCHEMES.join(', ')})${got}`;
  const scheme = text.slice(0, colon).toLowerCase();
  const rest = text.slice(colon + 1);
  if (!(LISTEN_SCHEMES as readonly string[]).includes(scheme)) {
    return `${URL_EXAMPLE} (unknown scheme "${scheme}"; schemes: ${LISTEN_SCHEMES.join(', ')})${got}`;
  }
  if (scheme === 'unix' || scheme === 'unixgram') {
    const unixExample = `expected a URL like ${scheme}:///path/to/socket or ${scheme}:@abstract-name`;
    if (rest.startsWith('@')) return rest.length > 1 ? null : `${unixExample}${got}`;
    const path = rest.startsWith('//') ? rest.slice(2) : rest;
    // `//` must be followed by an empty authority and an absolute path
    return path.startsWith('/') && path.length > 1 ? null : `${unixExample}${got}`;
  }
  if (!rest.startsWith('//')) return `${URL_EXAMPLE}${got}`;
  let authority = rest.slice(2);
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  return authority.includes('/') || parseHostPort(authority) === null ? `${URL_EXAMPLE}${got}` : null;
}

/** `http_address`: `host:port`, `:port`, or goji's `einhorn@N` / `fd@N`. */
export function checkHttpAddress(text: string): string | null {
  if (text === '' || /^(einhorn|fd)@[0-9]+$/.test(text) || parseHostPort(text) !== null) return null;
  return `expected host:port (e.g. 127.0.0.1:8127 or :8127) or einhorn@N, got ${JSON.stringify(text)}`;
}

function checkHostPort(text: string): string | null {
  if (text === '' || parseHostPort(text) !== null) return null;
  return `expected host:port (e.g. 127.0.0.1:8128 or :8128), got ${JSON.stringify(text)}`;
}

function checkRegex(text: string): string | null {
  try {
    compileGoRegex(text);
    return null;
  } catch (err) {
    return `invalid regular expression ${JSON.stringify(text)}: ${(err as Error).message}`;
  }
}

// ---------------------------------------------------------------------------
// Building blocks

const required = expecting;

const str = () => zGoString.default('');
const bool = () => z.boolean({ error: 'expected true or false' }).default(false);
const strList = () => z.array(zGoString, { error: 'expected a list of strings' }).default([]);

/** A non-negative integer; 0 or absent means `fallback` (Go ApplyDefaults style). */
const count = (fallback: number) =>
  z
    .number({ error: 'expected an integer' })
    .int({ error: 'expected an integer' })
    .min(0, { error: 'expected an integer >= 0' })
    .optional()
    .transform((v) => (v === undefined || v === 0 ? fallback : v));

const int = () => z.number({ error: 'expected an integer' }).int({ error: 'expected an integer' }).default(0);
const nonNegInt = () =>
  z
    .number({ error: 'expected an integer' })
    .int({ error: 'expected an integer' })
    .min(0, { error: 'expected an integer >= 0' })
    .default(0);

const secret = () => zSecret.optional().transform((v) => v ?? new Secret(''));

const checked = (check: (s: string) => string | null) =>
  zGoString.superRefine((value, ctx) => {
    const msg = check(value);
    if (msg !== null) ctx.addIssue({ code: 'custom', message: msg });
  });

const listenList = () => z.array(checked(checkListenUrl), { error: 'expected a list of URLs' }).default([]);

const scope = () =>
  z
    .enum(['', 'default', 'local', 'global'], { error: 'expected one of "", default, local, global' })
    .default('');

const tagMatcher = z
  .object({
    kind: z.enum(['exact', 'prefix', 'regex'], { error: required('one of exact, prefix, regex') }),
    value: str(),
    unset: bool(),
  })
  .superRefine((m, ctx) => {
    if (m.kind !== 'regex') return;
    const msg = checkRegex(m.value);
    if (msg !== null) ctx.addIssue({ code: 'custom', message: msg, path: ['value'] });
  });

const nameMatcher = z
  .object({
    kind: z.enum(['any', 'exact', 'prefix', 'regex'], {
      error: required('one of any, exact, prefix, regex'),
    }),
    value: str(),
  })
  .superRefine((m, ctx) => {
    if (m.kind !== 'regex') return;
    const msg = checkRegex(m.value);
    if (msg !== null) ctx.addIssue({ code: 'custom', message: msg, path: ['value'] });
  });

const configMap = () =>
  z.record(z.string(), z.unknown(), { error: 'expected a map of settings' }).default({});

const entryName = () =>
  z
    .union([z.string(), z.number()], { error: required('a string') })
    .transform((v) => String(v))
    .refine((v) => v !== '', { error: 'must not be empty' });

const sinkEntry = z.object({
  kind: z.string({ error: required('a sink kind, e.g. datadog') }).min(1, { error: 'must not be empty' }),
  name: entryName(),
  config: configMap(),
  max_name_length: nonNegInt(),
  max_tag_length: nonNegInt(),
  max_tags: nonNegInt(),
  dropped_metrics_add_tags: strList(),
  strip_tags: z.array(tagMatcher, { error: 'expected a list of tag matchers' }).default([]),
  add_tags: z.record(z.string(), zGoString, { error: 'expected a map of tag names to values' }).default({}),
});

const sourceEntry = z.object({
  kind: z
    .string({ error: required('a source kind, e.g. openmetrics') })
    .min(1, { error: 'must not be empty' }),
  name: entryName(),
  config: configMap(),
  tags: strList(),
});

const routingRule = z.object({
  name: str(),
  match: z
    .array(
      z.object({
        name: nameMatcher.prefault({ kind: 'any' }),
        tags: z.array(tagMatcher, { error: 'expected a list of tag matchers' }).default([]),
      }),
      { error: 'expected a list of matchers' },
    )
    .default([]),
  sinks: z
    .object({
      matched: strList(),
      not_matched: strList(),
    })
    .prefault({}),
});

// ---------------------------------------------------------------------------
// The root schema

export const rootSchema = z.object({
  // Collection / listeners
  statsd_listen_addresses: listenList(),
  ssf_listen_addresses: listenList(),
  grpc_listen_addresses: listenList(),
  grpc_address: checked(checkHostPort).default(''),
  http_address: checked(checkHttpAddress).default(''),
  tls_key: secret(),
  tls_certificate: str(),
  tls_authority_certificate: str(),
  tls: z
    .object({
      ca_file: str(),
      cert_file: str(),
      key_file: str(),
      server_name: str(),
    })
    .nullable()
    .default(null),

  // Behaviour
  forward_address: str(),
  interval: zDuration
    .refine((ms) => ms > 0, { error: 'expected a duration greater than 0, like "10s"' })
    .optional()
    .transform((ms) => ms ?? DEFAULTS.intervalMs),
  synchronize_with_interval: bool(),
  flush_watchdog_missed_flushes: nonNegInt(),
  flush_on_shutdown: bool(),
  http_quit: bool(),
  stats_address: str(),
  indicator_span_timer_name: str(),
  objective_span_timer_name: str(),
  hostname: str(),
  omit_empty_hostname: bool(),
  extend_tags: strList(),
  tags_exclude: strList(),
  percentiles: z
    .array(
      z
        .number({ error: 'expected a number between 0 and 1' })
        .min(0, { error: 'expected a number between 0 and 1' })
        .max(1, { error: 'expected a number between 0 and 1' }),
      { error: 'expected a list of numbers between 0 and 1' },
    )
    .default([]),
  aggregates: z
    .array(z.enum(AGGREGATES, { error: `expected one of ${AGGREGATES.join(', ')}` }), {
      error: 'expected a list of aggregates',
    })
    .optional()
    .transform((v) => (v === undefined || v.length === 0 ? [...DEFAULTS.aggregates] : v)),
  veneur_metrics_scopes: z
    .object({
      counter: scope(),
      gauge: scope(),
      histogram: scope(),
      set: scope(),
      status: scope(),
    })
    .prefault({}),
  veneur_metrics_additional_tags: strList(),
  count_unique_timeseries: bool(),

  // Performance / limits
  num_workers: count(DEFAULTS.numWorkers),
  num_readers: count(DEFAULTS.numReaders),
  num_span_workers: count(DEFAULTS.numSpanWorkers),
  span_channel_capacity: count(DEFAULTS.spanChannelCapacity),
  metric_max_length: count(DEFAULTS.metricMaxLength),
  trace_max_length_bytes: count(DEFAULTS.traceMaxLengthBytes),
  read_buffer_size_bytes: count(DEFAULTS.readBufferSizeBytes),
  // ours (not in Go Veneur): cap on series per interval, 0 = unlimited (docs/compatibility.md)
  max_series: count(0),

  // Diagnostics
  debug: bool(),
  enable_profiling: bool(),
  mutex_profile_fraction: int(),
  block_profile_rate: int(),
  sentry_dsn: secret(),
  http: z.object({ config: bool() }).prefault({}),
  features: z
    .object({
      diagnostics_metrics_enabled: bool(),
      enable_metric_sink_routing: bool(),
    })
    .prefault({}),

  // Pipelines
  sources: z.array(sourceEntry, { error: 'expected a list of sources' }).default([]),
  metric_sinks: z.array(sinkEntry, { error: 'expected a list of sinks' }).default([]),
  span_sinks: z.array(sinkEntry, { error: 'expected a list of sinks' }).default([]),
  metric_sink_routing: z.array(routingRule, { error: 'expected a list of routing rules' }).default([]),
});

export type RootConfigOutput = z.output<typeof rootSchema>;

export interface ParseRootOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly strict: boolean;
  readonly onWarning?: (msg: string) => void;
}

function checkUniqueNames(list: readonly { name: string }[], key: string): void {
  const seen = new Map<string, number>();
  list.forEach((entry, i) => {
    const first = seen.get(entry.name);
    if (first !== undefined) {
      throw new ConfigError(
        `${key}[${i}].name`,
        `duplicate name ${JSON.stringify(entry.name)} (already used by ${key}[${first}])`,
      );
    }
    seen.set(entry.name, i);
  });
}

/**
 * Validate the decoded YAML document of a server config (with the VENEUR_ env
 * overlay) and the rules that span several keys. Throws ConfigError.
 */
export function parseRoot(raw: unknown, opts: ParseRootOptions): RootConfigOutput {
  const out = parseSection(rootSchema, raw, {
    path: '',
    envPrefix: 'VENEUR',
    env: opts.env,
    strict: opts.strict,
    ignoredKeys: LEGACY_KEYS,
    onIgnored: (path, legacy) =>
      opts.onWarning?.(
        legacy
          ? `${path}: this key was removed from Veneur and is ignored (configure sinks under metric_sinks/span_sinks)`
          : `${path}: unknown key, ignored`,
      ),
  });

  checkUniqueNames(out.metric_sinks, 'metric_sinks');
  checkUniqueNames(out.span_sinks, 'span_sinks');
  checkUniqueNames(out.sources, 'sources');

  const keySet = !out.tls_key.isEmpty;
  if (keySet && out.tls_certificate === '')
    throw new ConfigError('tls_certificate', 'required when tls_key is set');
  if (!keySet && out.tls_certificate !== '')
    throw new ConfigError('tls_key', 'required when tls_certificate is set');
  if (out.tls_authority_certificate !== '' && !keySet) {
    throw new ConfigError('tls_key', 'required when tls_authority_certificate is set');
  }

  if (out.tls !== null) {
    const t = out.tls;
    const given = [t.ca_file, t.cert_file, t.key_file].filter((v) => v !== '').length;
    if (given !== 0 && given !== 3) {
      const missing = t.ca_file === '' ? 'ca_file' : t.cert_file === '' ? 'cert_file' : 'key_file';
      throw new ConfigError(`tls.${missing}`, 'ca_file, cert_file and key_file must all be set');
    }
  }

  const sinkNames = new Set(out.metric_sinks.map((s) => s.name));
  out.metric_sink_routing.forEach((rule, i) => {
    for (const [list, key] of [
      [rule.sinks.matched, 'matched'],
      [rule.sinks.not_matched, 'not_matched'],
    ] as const) {
      list.forEach((name, j) => {
        if (!sinkNames.has(name)) {
          opts.onWarning?.(
            `metric_sink_routing[${i}].sinks.${key}[${j}]: no metric sink is named ${JSON.stringify(name)}`,
          );
        }
      });
    }
  });
  if (out.metric_sink_routing.length > 0 && !out.features.enable_metric_sink_routing) {
    opts.onWarning?.('metric_sink_routing: ignored unless features.enable_metric_sink_routing is true');
  }
  return out;
}
