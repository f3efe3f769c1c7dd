/**
 * The loaded config rendered as Go Veneur renders it on `/config/json` and
 * `/config/yaml` (reference §7; upstream fixtures testdata/http_test_config.{json,yaml}):
 *
 * - JSON: Go field names in Go's declaration order (`"StatsdListenAddresses"`,
 *   `"HTTPAddress"`), durations as integer nanoseconds (`"Interval": 10000000000`),
 *   empty lists as `null`, 2-space indent, `<`, `>`, `&` escaped as Go does.
 * - YAML: Veneur's yaml keys in the same order, 2-space indent with sequences not
 *   indented under their key, durations as Go strings (`10s`, `1m0s`), empty lists `[]`.
 * - Map keys (sink `config:` maps, `add_tags`) are sorted, as Go's encoders sort them.
 * - Secrets print `REDACTED` (empty ones print "") unless printSecrets. Beyond Go,
 *   values in sink/source `config:` maps whose key names a credential (api_key,
 *   token, password, ...) are redacted too: Go prints those raw maps verbatim.
 */
import YAML from 'yaml';
import { Secret } from './secret.js';
import type { Config, MatcherConfig, SinkEntry, SourceEntry, TagMatcherConfig } from './types.js';

export interface RenderOptions {
  readonly printSecrets: boolean;
}

/** One value, with its Go JSON form and its YAML form. */
type Node =
  | { readonly t: 'scalar'; readonly json: unknown; readonly yaml: unknown }
  | { readonly t: 'struct'; readonly fields: readonly (readonly [string, string, Node])[] }
  | { readonly t: 'list'; readonly items: readonly Node[] }
  | { readonly t: 'map'; readonly value: Readonly<Record<string, unknown>> };

const scalar = (v: unknown): Node => ({ t: 'scalar', json: v, yaml: v });
const listOf = (items: readonly unknown[]): Node => ({ t: 'list', items: items.map(scalar) });
const struct = (fields: readonly (readonly [string, string, Node])[]): Node => ({ t: 'struct', fields });

/** Go's time.Duration.String() for a duration in milliseconds. */
export function goDurationString(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const neg = ns < 0;
  ns = Math.abs(ns);
  const frac = (n: number, unit: number, digits: number): string => {
    const whole = Math.floor(n / unit);
    const rest = n - whole * unit;
    if (rest === 0) return String(whole);
    return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
  };
  let out: string;
  if (ns < 1e3) out = `${ns}ns`;
  else if (ns < 1e6) out = `${frac(ns, 1e3, 3)}µs`;
  else if (ns < 1e9) out = `${frac(ns, 1e6, 6)}ms`;
  else {
    const h = Math.floor(ns / 3.6e12);
    let rest = ns - h * 3.6e12;
    const m = Math.floor(rest / 6e10);
    rest -= m * 6e10;
    out = `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${frac(rest, 1e9, 9)}s`;
  }
  return neg ? `-${out}` : out;
}

const duration = (ms: number): Node => ({
  t: 'scalar',
  json: Math.round(ms * 1e6),
  yaml: goDurationString(ms),
});

function secret(s: Secret, o: RenderOptions): Node {
  return scalar(o.printSecrets ? s.reveal() : s.toString());
}

/** Key names that hold credentials in sink/source config maps. */
const SECRET_KEY = /(key|token|secret|password|passwd|dsn|credential)/i;
const NOT_SECRET_KEY = /(_file|_path|_by)$/i;

function redactRaw(value: unknown, o: RenderOptions, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redactRaw(v, o, key));
  if (value instanceof Secret) return o.printSecrets ? value.reveal() : value.toString();
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort())
      out[k] = redactRaw((value as Record<string, unknown>)[k], o, k);
    return out;
  }
  if (
    !o.printSecrets &&
    (typeof value === 'string' || typeof value === 'number') &&
    value !== '' &&
    SECRET_KEY.test(key) &&
    !NOT_SECRET_KEY.test(key)
  ) {
    return 'REDACTED';
  }
  return value;
}

const tagMatchers = (list: readonly TagMatcherConfig[]): Node => ({
  t: 'list',
  items: list.map((m) =>
    struct([
      ['Kind', 'kind', scalar(m.kind)],
      ['Unset', 'unset', scalar(m.unset)],
      ['Value', 'value', scalar(m.value)],
    ]),
  ),
});

const matchers = (list: readonly MatcherConfig[]): Node => ({
  t: 'list',
  items: list.map((m) =>
    struct([
      [
        'Name',
        'name',
        struct([
          ['Kind', 'kind', scalar(m.name.kind)],
          ['Value', 'value', scalar(m.name.value)],
        ]),
      ],
      ['Tags', 'tags', tagMatchers(m.tags)],
    ]),
  ),
});

function sinks(list: readonly SinkEntry[], o: RenderOptions): Node {
  return {
    t: 'list',
    items: list.map((s) =>
      struct([
        ['Kind', 'kind', scalar(s.kind)],
        ['Name', 'name', scalar(s.name)],
        ['Config', 'config', { t: 'map', value: redactRaw(s.config, o) as Record<string, unknown> }],
        ['MaxNameLength', 'max_name_length', scalar(s.maxNameLength)],
        ['MaxTagLength', 'max_tag_length', scalar(s.maxTagLength)],
        ['MaxTags', 'max_tags', scalar(s.maxTags)],
        ['DroppedMetricsAddTags', 'dropped_metrics_add_tags', listOf(s.droppedMetricsAddTags)],
        ['StripTags', 'strip_tags', tagMatchers(s.stripTags)],
        ['AddTags', 'add_tags', { t: 'map', value: s.addTags }],
      ]),
    ),
  };
}

function sources(list: readonly SourceEntry[], o: RenderOptions): Node {
  return {
    t: 'list',
    items: list.map((s) =>
      struct([
        ['Kind', 'kind', scalar(s.kind)],
        ['Name', 'name', scalar(s.name)],
        ['Config', 'config', { t: 'map', value: redactRaw(s.config, o) as Record<string, unknown> }],
        ['Tags', 'tags', listOf(s.tags)],
      ]),
    ),
  };
}

/** The config as Go's Config struct, fields in Go's declaration order (config.go). */
function configNode(c: Config, o: RenderOptions): Node {
  const s = c.veneurMetricsScopes;
  return struct([
    ['Aggregates', 'aggregates', listOf(c.aggregates)],
    ['BlockProfileRate', 'block_profile_rate', scalar(c.blockProfileRate)],
    ['CountUniqueTimeseries', 'count_unique_timeseries', scalar(c.countUniqueTimeseries)],
    ['Debug', 'debug', scalar(c.debug)],
    ['EnableProfiling', 'enable_profiling', scalar(c.enableProfiling)],
    ['ExtendTags', 'extend_tags', listOf(c.extendTags)],
    [
      'Features',
      'features',
      struct([
        [
          'DiagnosticsMetricsEnabled',
          'diagnostics_metrics_enabled',
          scalar(c.features.diagnosticsMetricsEnabled),
        ],
        ['EnableMetricSinkRouting', 'enable_metric_sink_routing', scalar(c.features.enableMetricSinkRouting)],
      ]),
    ],
    ['FlushOnShutdown', 'flush_on_shutdown', scalar(c.flushOnShutdown)],
    ['FlushWatchdogMissedFlushes', 'flush_watchdog_missed_flushes', scalar(c.flushWatchdogMissedFlushes)],
    ['ForwardAddress', 'forward_address', scalar(c.forwardAddress)],
    ['GrpcAddress', 'grpc_address', scalar(c.grpcAddress)],
    ['GrpcListenAddresses', 'grpc_listen_addresses', listOf(c.grpcListenAddresses)],
    ['Hostname', 'hostname', scalar(c.hostname)],
    ['HTTP', 'http', struct([['Config', 'config', scalar(c.http.config)]])],
    ['HTTPAddress', 'http_address', scalar(c.httpAddress)],
    ['HTTPQuit', 'http_quit', scalar(c.httpQuit)],
    ['IndicatorSpanTimerName', 'indicator_span_timer_name', scalar(c.indicatorSpanTimerName)],
    ['Interval', 'interval', duration(c.intervalMs)],
    ['MetricMaxLength', 'metric_max_length', scalar(c.metricMaxLength)],
    // ours, not Go's: shown only when set, so a Go-compatible config renders in Go's exact shape
    ...(c.maxSeries > 0 ? ([['MaxSeries', 'max_series', scalar(c.maxSeries)]] as const) : []),
    [
      'MetricSinkRouting',
      'metric_sink_routing',
      {
        t: 'list',
        items: c.metricSinkRouting.map((r) =>
          struct([
            ['Name', 'name', scalar(r.name)],
            ['Match', 'match', matchers(r.match)],
            [
              'Sinks',
              'sinks',
              struct([
                ['Matched', 'matched', listOf(r.sinks.matched)],
                ['NotMatched', 'not_matched', listOf(r.sinks.notMatched)],
              ]),
            ],
          ]),
        ),
      },
    ],
    ['MetricSinks', 'metric_sinks', sinks(c.metricSinks, o)],
    ['MutexProfileFraction', 'mutex_profile_fraction', scalar(c.mutexProfileFraction)],
    ['NumReaders', 'num_readers', scalar(c.numReaders)],
    ['NumSpanWorkers', 'num_span_workers', scalar(c.numSpanWorkers)],
    ['NumWorkers', 'num_workers', scalar(c.numWorkers)],
    ['ObjectiveSpanTimerName', 'objective_span_timer_name', scalar(c.objectiveSpanTimerName)],
    ['OmitEmptyHostname', 'omit_empty_hostname', scalar(c.omitEmptyHostname)],
    ['Percentiles', 'percentiles', listOf(c.percentiles)],
    ['ReadBufferSizeBytes', 'read_buffer_size_bytes', scalar(c.readBufferSizeBytes)],
    ['SentryDsn', 'sentry_dsn', secret(c.sentryDsn, o)],
    ['Sources', 'sources', sources(c.sources, o)],
    ['SpanChannelCapacity', 'span_channel_capacity', scalar(c.spanChannelCapacity)],
    ['SpanSinks', 'span_sinks', sinks(c.spanSinks, o)],
    ['SsfListenAddresses', 'ssf_listen_addresses', listOf(c.ssfListenAddresses)],
    ['StatsAddress', 'stats_address', scalar(c.statsAddress)],
    ['StatsdListenAddresses', 'statsd_listen_addresses', listOf(c.statsdListenAddresses)],
    ['SynchronizeWithInterval', 'synchronize_with_interval', scalar(c.synchronizeWithInterval)],
    ['TagsExclude', 'tags_exclude', listOf(c.tagsExclude)],
    [
      'Tls',
      'tls',
      c.tls === null
        ? scalar(null)
        : struct([
            ['CaFile', 'ca_file', scalar(c.tls.caFile)],
            ['CertFile', 'cert_file', scalar(c.tls.certFile)],
            ['KeyFile', 'key_file', scalar(c.tls.keyFile)],
            ['ServerName', 'server_name', scalar(c.tls.serverName)],
          ]),
    ],
    ['TLSAuthorityCertificate', 'tls_authority_certificate', scalar(c.tlsAuthorityCertificate)],
    ['TLSCertificate', 'tls_certificate', scalar(c.tlsCertificate)],
    ['TLSKey', 'tls_key', secret(c.tlsKey, o)],
    ['TraceMaxLengthBytes', 'trace_max_length_bytes', scalar(c.traceMaxLengthBytes)],
    ['VeneurMetricsAdditionalTags', 'veneur_metrics_additional_tags', listOf(c.veneurMetricsAdditionalTags)],
    [
      'VeneurMetricsScopes',
      'veneur_metrics_scopes',
      struct([
        ['Counter', 'counter', scalar(s.counter)],
        ['Gauge', 'gauge', scalar(s.gauge)],
        ['Histogram', 'histogram', scalar(s.histogram)],
        ['Set', 'set', scalar(s.set)],
        ['Status', 'status', scalar(s.status)],
      ]),
    ],
  ]);
}

function toJsonValue(n: Node): unknown {
  switch (n.t) {
    case 'scalar':
      return n.json;
    case 'struct':
      return Object.fromEntries(n.fields.map(([go, , v]) => [go, toJsonValue(v)]));
    case 'list':
      // a Go nil slice (key absent) encodes as null
      return n.items.length === 0 ? null : n.items.map(toJsonValue);
    case 'map':
      return Object.keys(n.value).length === 0 ? null : sortKeys(n.value);
  }
}

function toYamlValue(n: Node): unknown {
  switch (n.t) {
    case 'scalar':
      return n.yaml;
    case 'struct':
      return Object.fromEntries(n.fields.map(([, key, v]) => [key, toYamlValue(v)]));
    case 'list':
      return n.items.map(toYamlValue);
    case 'map':
      return sortKeys(n.value);
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** Go's encoding/json escapes these even inside strings (HTML-safe output). */
function goJsonEscape(text: string): string {
  return text.replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `/config/json`: Go field names, Go's json.MarshalIndent(config, "", "  "). */
export function configToJson(config: Config, opts: RenderOptions): string {
  return goJsonEscape(JSON.stringify(toJsonValue(configNode(config, opts)), null, 2));
}

/** `/config/yaml`: Veneur's yaml keys, 2-space indent, durations as Go strings. */
export function configToYaml(config: Config, opts: RenderOptions): string {
  return YAML.stringify(toYamlValue(configNode(config, opts)), {
    version: '1.1',
    indent: 2,
    indentSeq: false,
    lineWidth: 0,
    singleQuote: false,
  });
}
