/**
 * The typed, frozen configuration. YAML keys are snake_case (Veneur's own,
 * reference §6.2); they are mapped to camelCase only here in config/.
 * Durations are milliseconds. Secrets are wrapped in Secret so that logging or
 * serialising a Config never prints them.
 */
import type { Secret } from './secret.js';

export interface TlsClientConfig {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly serverName: string;
}

/**
 * A tag matcher (`strip_tags` entries, `metric_sink_routing[].match[].tags`), Go's
 * util/matcher.TagMatcher: `exact` / `prefix` / `regex` (RE2, unanchored; see
 * regex.ts compileGoRegex). `unset: true` inverts it in routing rules.
 */
export interface TagMatcherConfig {
  readonly kind: 'exact' | 'prefix' | 'regex';
  readonly value: string;
  readonly unset: boolean;
}

/** Metric-name matcher of a routing rule: `any` / `exact` / `prefix` / `regex`. */
export interface NameMatcherConfig {
  readonly kind: 'any' | 'exact' | 'prefix' | 'regex';
  readonly value: string;
}

/** One `match` entry: the name matcher AND every tag matcher. */
export interface MatcherConfig {
  readonly name: NameMatcherConfig;
  readonly tags: readonly TagMatcherConfig[];
}

/** One `metric_sink_routing` rule (reference §2.9). */
export interface SinkRoutingRule {
  readonly name: string;
  /** OR of matchers. */
  readonly match: readonly MatcherConfig[];
  readonly sinks: {
    readonly matched: readonly string[];
    readonly notMatched: readonly string[];
  };
  /** YAML path, e.g. `metric_sink_routing[0]`. */
  readonly path: string;
}

/** One entry of `metric_sinks` / `span_sinks` (reference §6.2 "Pipelines"). */
export interface SinkEntry {
  readonly kind: string;
  readonly name: string;
  /** Raw `config:` map ({} when absent), parsed later by the sink kind's parseConfig. */
  readonly config: Readonly<Record<string, unknown>>;
  /** YAML path of this entry, e.g. `metric_sinks[1]`, for error messages. */
  readonly path: string;
  /** 0 = no limit (as every limit below); only applied with features.enable_metric_sink_routing. */
  readonly maxNameLength: number;
  readonly maxTagLength: number;
  readonly maxTags: number;
  readonly stripTags: readonly TagMatcherConfig[];
  readonly addTags: Readonly<Record<string, string>>;
  /** Go SinkConfig `dropped_metrics_add_tags` (present in Go's config.go at HEAD). */
  readonly droppedMetricsAddTags: readonly string[];
}

/** One entry of `sources`. */
export interface SourceEntry {
  readonly kind: string;
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly tags: readonly string[];
  readonly path: string;
}

export type AggregateName = 'min' | 'max' | 'median' | 'avg' | 'count' | 'sum' | 'hmean';

/** `veneur_metrics_scopes` values: '' (unset) or a scope for veneur's own metrics. */
export type MetricScopeSetting = '' | 'default' | 'local' | 'global';

export interface Config {
  // Collection / listeners
  readonly statsdListenAddresses: readonly string[];
  readonly ssfListenAddresses: readonly string[];
  readonly grpcListenAddresses: readonly string[];
  readonly grpcAddress: string;
  readonly httpAddress: string;
  readonly tlsKey: Secret;
  readonly tlsCertificate: string;
  readonly tlsAuthorityCertificate: string;
  /** Client mTLS for forwarding; null when the `tls:` block is absent. */
  readonly tls: TlsClientConfig | null;

  // Behaviour
  readonly forwardAddress: string;
  /** Flush interval in ms, > 0 (default 10 s). */
  readonly intervalMs: number;
  readonly synchronizeWithInterval: boolean;
  readonly flushWatchdogMissedFlushes: number;
  readonly flushOnShutdown: boolean;
  readonly httpQuit: boolean;
  readonly statsAddress: string;
  readonly indicatorSpanTimerName: string;
  readonly objectiveSpanTimerName: string;
  /** Resolved hostname: config value, else os.hostname() unless omitEmptyHostname. */
  readonly hostname: string;
  readonly omitEmptyHostname: boolean;
  readonly extendTags: readonly string[];
  readonly tagsExclude: readonly string[];
  readonly percentiles: readonly number[];
  readonly aggregates: readonly AggregateName[];
  readonly veneurMetricsScopes: {
    readonly counter: MetricScopeSetting;
    readonly gauge: MetricScopeSetting;
    readonly histogram: MetricScopeSetting;
    readonly set: MetricScopeSetting;
    readonly status: MetricScopeSetting;
  };
  readonly veneurMetricsAdditionalTags: readonly string[];
  readonly countUniqueTimeseries: boolean;

  // Performance / limits
  readonly numWorkers: number;
  readonly numReaders: number;
  readonly numSpanWorkers: number;
  readonly spanChannelCapacity: number;
  readonly metricMaxLength: number;
  /** Series per interval beyond which new series are dropped and counted; 0 = unlimited (ours). */
  readonly maxSeries: number;
  readonly traceMaxLengthBytes: number;
  readonly readBufferSizeBytes: number;

  // Diagnostics
  readonly debug: boolean;
  readonly enableProfiling: boolean;
  readonly mutexProfileFraction: number;
  readonly blockProfileRate: number;
  readonly sentryDsn: Secret;
  readonly http: { readonly config: boolean };
  readonly features: {
    readonly diagnosticsMetricsEnabled: boolean;
    readonly enableMetricSinkRouting: boolean;
  };

  // Pipelines
  readonly sources: readonly SourceEntry[];
  readonly metricSinks: readonly SinkEntry[];
  readonly spanSinks: readonly SinkEntry[];
  readonly metricSinkRouting: readonly SinkRoutingRule[];
}
