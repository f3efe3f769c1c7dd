/**
 * Plain data shared by every stage. Numeric "enums" (not TS enums) so that the
 * hot path switches on small integers and tsx/tsc emit nothing surprising.
 */

/** Aggregation types: the `type` part of a series identity (reference §2.1). */
export const MetricType = {
  Counter: 0,
  Gauge: 1,
  Histogram: 2,
  Timer: 3,
  Set: 4,
  Status: 5,
} as const;
export type MetricType = (typeof MetricType)[keyof typeof MetricType];

/** Veneur's internal type strings, indexed by MetricType (used in keys and digests). */
export const METRIC_TYPE_NAMES: readonly string[] = [
  'counter',
  'gauge',
  'histogram',
  'timer',
  'set',
  'status',
];

/** Where a series is aggregated (reference §2.2). Values match metricpb.Scope. */
export const Scope = {
  Mixed: 0,
  Local: 1,
  Global: 2,
} as const;
export type Scope = (typeof Scope)[keyof typeof Scope];

/** The type of a flushed record (reference §2.5). Values match Go's samplers.MetricType. */
export const InterMetricType = {
  Counter: 0,
  Gauge: 1,
  Status: 2,
} as const;
export type InterMetricType = (typeof InterMetricType)[keyof typeof InterMetricType];

/**
 * One flushed record: the sink input contract (reference §2.5).
 * A batch of these is frozen and shared by every sink; sinks must not mutate it.
 */
export interface InterMetric {
  readonly name: string;
  /** Unix seconds of the flush. */
  readonly timestamp: number;
  readonly value: number;
  /** Sorted `k:v` or bare tags, magic tags removed. */
  readonly tags: readonly string[];
  readonly type: InterMetricType;
  /** Service-check message ('' otherwise). */
  readonly message: string;
  /** Service-check `h:` host ('' otherwise). */
  readonly hostName: string;
  /** Sink names this record is routed to; null means every sink. */
  readonly sinks: ReadonlySet<string> | null;
}

/** Service-check status values (reference §1.4). */
export const CheckStatus = { Ok: 0, Warning: 1, Critical: 2, Unknown: 3 } as const;
export type CheckStatus = (typeof CheckStatus)[keyof typeof CheckStatus];

/**
 * A DogStatsD event (`_e{..}`), reference §1.3. Not aggregated: events are
 * collected per interval and handed to every metric sink at the next flush.
 */
export interface DogStatsdEvent {
  readonly title: string;
  /** Text with `\n` escapes already turned into newlines. */
  readonly text: string;
  /** Unix seconds: the `d:` field, or the time the event was parsed. */
  readonly timestamp: number;
  /** `h:` field, '' when absent (sinks fall back to the configured hostname). */
  readonly hostname: string;
  /** `k:` field, '' when absent. */
  readonly aggregationKey: string;
  /** `p:` field ('normal' | 'low'), '' when absent. */
  readonly priority: string;
  /** `s:` field, '' when absent. */
  readonly sourceType: string;
  /** `t:` field ('error' | 'warning' | 'info' | 'success'), '' when absent. */
  readonly alertType: string;
  /**
   * Tags as Go Veneur holds them: a map key -> value (`k:v` -> k=v, bare `k` -> k=''),
   * later duplicates win, extend_tags override. Sinks render it.
   */
  readonly tags: ReadonlyMap<string, string>;
}
