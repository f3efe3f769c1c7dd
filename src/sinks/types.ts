import type { Logger } from 'pino';
import type { SectionContext } from '../config/section.js';
import type { MetricBatch } from '../model/batch.js';
import type { Component } from '../model/component.js';
import type { DogStatsdEvent } from '../model/metric.js';
import type { Telemetry } from '../telemetry/types.js';
import { VeneurError } from '../util/errors.js';

/** What a sink is given at creation: deliberately narrow (no "server"). */
export interface SinkContext {
  /** The user's `name` for this sink instance (metric_sinks[].name). */
  readonly name: string;
  /** Configured hostname ('' when omit_empty_hostname and none set). */
  readonly hostname: string;
  /** Flush interval in seconds (counters become rates by dividing by it). */
  readonly intervalSeconds: number;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
}

/** Result counts of one flush, as Go Veneur's MetricFlushResult. */
export interface FlushResult {
  readonly flushed: number;
  readonly skipped: number;
  readonly dropped: number;
}

/**
 * Thrown by a sink whose flush partly failed (e.g. one of several request bodies was
 * rejected): it reports the failure AND the counts of what did get through, so the
 * wrapper neither loses the partial success nor treats the flush as clean.
 * Any other error means "nothing was flushed" (all of the batch counts as dropped).
 */
export class SinkFlushError extends VeneurError {
  readonly result: FlushResult;
  constructor(message: string, result: FlushResult, options?: { cause?: unknown }) {
    super('ERR_SINK_FLUSH', message, options);
    this.name = 'SinkFlushError';
    this.result = result;
  }
}

/**
 * A metric sink. `flush` receives the flush's records as a batch of frozen chunks
 * shared with every other sink (model/batch.ts; read it with `chunksOf`) and must
 * not mutate them. Consume chunks as they come: in production the batch is being
 * generated while the sink reads it, and chunks it holds on to are kept alive.
 * It should honour `signal` (aborted at the flush deadline). Throwing reports the
 * flush as failed; the wrapper contains it.
 */
export interface MetricSink extends Component {
  flush(metrics: MetricBatch, signal: AbortSignal): Promise<FlushResult>;
  /** Events collected during the interval (DogStatsD `_e`), handed over before `flush`. */
  flushEvents?(events: readonly DogStatsdEvent[], signal: AbortSignal): Promise<void>;
}

/**
 * A pluggable metric-sink kind. `parseConfig` is pure and throws ConfigError
 * naming the YAML path, e.g. `metric_sinks[2].config.api_key`. Implement it with
 * `parseSection(schema, raw, ctx)` from config/section.ts: `ctx.path` is the path of
 * the `config` map itself and `ctx.envPrefix` is the sink's name (Go Veneur's
 * per-sink env overlay: sink `dd` -> `DD_APIKEY`).
 */
export interface MetricSinkDefinition<C = unknown> {
  readonly kind: string;
  parseConfig(raw: unknown, ctx: SectionContext): C;
  create(config: C, ctx: SinkContext): MetricSink;
}
