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

/** One entry of `metric_sinks` / `span_sinks` (reference §6.2 "Pipelines"). */
export interface SinkEntry {
  readonly kind: string;
  readonly name: string;
  /** Raw `config:` map, parsed later by the sink kind's parseConfig. */
  readonly config: unknown;
  /** YAML path of this entry, e.g. `metric_sinks[1]`, for error messages. */
  readonly path: string;
  readonly maxNameLength: number;
  readonly maxTagLength: number;
  readonly maxTags: number;
  readonly stripTags: readonly unknown[];
  readonly addTags: Readonly<Record<string, string>>;
}

/** One entry of `sources`. */
export interface SourceEntry {
  readonly kind: string;
  readonly name: string;
  readonly config: unknown;
  readonly tags: readonly string[];
  readonly path: string;
}

export type AggregateName = 'min' | 'max' | 'median' | 'avg' | 'count' | 'sum' | 'hmean';

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
  readonly tls: TlsClientConfig | null;

  // Behaviour
  readonly forwardAddress: string;
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
    readonly counter: string;
    readonly gauge: string;
    readonly histogram: string;
    readonly set: string;
    readonly status: string;
  };
  readonly veneurMetricsAdditionalTags: readonly string[];
  readonly countUniqueTimeseries: boolean;

  // Performance / limits
  readonly numWorkers: number;
  readonly numReaders: number;
  readonly numSpanWorkers: number;
  readonly spanChannelCapacity: number;
  readonly metricMaxLength: number;
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
  readonly metricSinkRouting: readonly unknown[];
}
