/**
 * YAML file or text + VENEUR_* environment -> typed, deeply frozen Config.
 *
 * Pipeline (reference §6.1): read -> YAML decode (yaml.v3 semantics: YAML 1.2, plus
 * Go-style `yes`/`on` in boolean fields) -> env overlay (env wins) -> validation with defaults (schema.ts)
 * -> hostname resolution -> camelCase Config.
 *
 * TODO(go-compat): Go Veneur first executes the config file as a Go text/template
 * with nil data, so `{{ ... }}` is interpreted (and literal braces must be escaped).
 * We do not: the file is plain YAML. A config that relies on template actions needs
 * them expanded before it is given to us.
 */
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import YAML from 'yaml';
import { ConfigError } from '../util/errors.js';
import { parseRoot, type RootConfigOutput } from './schema.js';
import type { Config, SinkEntry, SourceEntry } from './types.js';

export interface LoadConfigOptions {
  /** Path of the YAML file (ignored when `text` is given, except in messages). */
  readonly file?: string;
  /** YAML text. */
  readonly text?: string;
  /** Environment for the VENEUR_* overlay; defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** -validate-config-strict: unknown and legacy keys are errors. */
  readonly strict?: boolean;
  /** Non-fatal findings: ignored unknown/legacy keys, YAML warnings, suspicious settings. */
  readonly onWarning?: (msg: string) => void;
}

/**
 * YAML as Go's yaml.v3 decodes it: YAML 1.2 (core schema), merge keys allowed.
 * YAML 1.1 booleans (`yes`, `on`, `y`, ...) are accepted where the schema wants a
 * boolean (section.ts), as yaml.v3 accepts them for typed bool fields; elsewhere
 * they stay strings, so a tag value `NO` or a map key `n` is not turned into false.
 */
const YAML_OPTIONS = {
  version: '1.2',
  merge: true,
  uniqueKeys: true,
  prettyErrors: true,
} as const satisfies YAML.ParseOptions & YAML.DocumentOptions & YAML.SchemaOptions;

/** Decode YAML text to plain data; a syntax error names the line and column. */
export function parseYaml(text: string, source: string, onWarning?: (msg: string) => void): unknown {
  const doc = YAML.parseDocument(text, YAML_OPTIONS);
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}` : 'unknown position';
    const reason = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError('', `${source}: invalid YAML at ${where}: ${reason}`);
  }
  for (const w of doc.warnings) onWarning?.(`${source}: ${w.message.split('\n')[0]}`);
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError('', `${source}: invalid YAML: ${(e as Error).message}`);
  }
}

/** Recursively freeze plain objects and arrays (Secret instances are frozen as they are). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

function toSinkEntries(list: RootConfigOutput['metric_sinks'], key: string): SinkEntry[] {
  return list.map((s, i) => ({
    kind: s.kind,
    name: s.name,
    config: s.config,
    path: `${key}[${i}]`,
    maxNameLength: s.max_name_length,
    maxTagLength: s.max_tag_length,
    maxTags: s.max_tags,
    stripTags: s.strip_tags,
    addTags: s.add_tags,
    droppedMetricsAddTags: s.dropped_metrics_add_tags,
  }));
}

function toSourceEntries(list: RootConfigOutput['sources']): SourceEntry[] {
  return list.map((s, i) => ({
    kind: s.kind,
    name: s.name,
    config: s.config,
    tags: s.tags,
    path: `sources[${i}]`,
  }));
}

/** Map the validated snake_case output to the camelCase Config (not yet frozen). */
export function toConfig(o: RootConfigOutput, resolveHostname: () => string = osHostname): Config {
  return {
    statsdListenAddresses: o.statsd_listen_addresses,
    ssfListenAddresses: o.ssf_listen_addresses,
    grpcListenAddresses: o.grpc_listen_addresses,
    grpcAddress: o.grpc_address,
    httpAddress: o.http_address,
    tlsKey: o.tls_key,
    tlsCertificate: o.tls_certificate,
    tlsAuthorityCertificate: o.tls_authority_certificate,
    tls:
      o.tls === null
        ? null
        : {
            caFile: o.tls.ca_file,
            certFile: o.tls.cert_file,
            keyFile: o.tls.key_file,
            serverName: o.tls.server_name,
          },

    forwardAddress: o.forward_address,
    intervalMs: o.interval,
    synchronizeWithInterval: o.synchronize_with_interval,
    flushWatchdogMissedFlushes: o.flush_watchdog_missed_flushes,
    flushOnShutdown: o.flush_on_shutdown,
    httpQuit: o.http_quit,
    statsAddress: o.stats_address,
    indicatorSpanTimerName: o.indicator_span_timer_name,
    objectiveSpanTimerName: o.objective_span_timer_name,
    hostname: o.hostname !== '' ? o.hostname : o.omit_empty_hostname ? '' : resolveHostname(),
    omitEmptyHostname: o.omit_empty_hostname,
    extendTags: o.extend_tags,
    tagsExclude: o.tags_exclude,
    percentiles: o.percentiles,
    aggregates: o.aggregates,
    veneurMetricsScopes: { ...o.veneur_metrics_scopes },
    veneurMetricsAdditionalTags: o.veneur_metrics_additional_tags,
    countUniqueTimeseries: o.count_unique_timeseries,

    numWorkers: o.num_workers,
    numReaders: o.num_readers,
    numSpanWorkers: o.num_span_workers,
    spanChannelCapacity: o.span_channel_capacity,
    metricMaxLength: o.metric_max_length,
    maxSeries: o.max_series,
    traceMaxLengthBytes: o.trace_max_length_bytes,
    readBufferSizeBytes: o.read_buffer_size_bytes,

    debug: o.debug,
    enableProfiling: o.enable_profiling,
    mutexProfileFraction: o.mutex_profile_fraction,
    blockProfileRate: o.block_profile_rate,
    sentryDsn: o.sentry_dsn,
    http: { config: o.http.config },
    features: {
      diagnosticsMetricsEnabled: o.features.diagnostics_metrics_enabled,
      enableMetricSinkRouting: o.features.enable_metric_sink_routing,
    },

    sources: toSourceEntries(o.sources),
    metricSinks: toSinkEntries(o.metric_sinks, 'metric_sinks'),
    spanSinks: toSinkEntries(o.span_sinks, 'span_sinks'),
    metricSinkRouting: o.metric_sink_routing.map((r, i) => ({
      name: r.name,
      match: r.match,
      sinks: { matched: r.sinks.matched, notMatched: r.sinks.not_matched },
      path: `metric_sink_routing[${i}]`,
    })),
  };
}

/**
 * Load a server config. Throws ConfigError (code ERR_CONFIG) naming the YAML path
 * of the first problem; the result is deeply frozen.
 */
export function loadConfig(opts: LoadConfigOptions): Config {
  let text = opts.text;
  const source = opts.file ?? '<config>';
  if (text === undefined) {
    if (opts.file === undefined)
      throw new ConfigError('', 'no configuration given (expected a file or text)');
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new ConfigError('', `cannot read config file ${opts.file}: ${(e as Error).message}`);
    }
  }
  const raw = parseYaml(text, source, opts.onWarning);
  const out = parseRoot(raw, {
    env: opts.env ?? process.env,
    strict: opts.strict ?? false,
    onWarning: opts.onWarning,
  });
  return deepFreeze(toConfig(out));
}
