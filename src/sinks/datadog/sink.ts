/**
 * Datadog metric sink (reference §5.1): series, service checks and events over
 * Datadog's v1 HTTP API, wire-compatible with Go Veneur.
 *   series  -> POST {api_hostname}/api/v1/series?api_key=K   zlib deflate JSON, bodies split evenly, in parallel
 *   checks  -> POST {api_hostname}/api/v1/check_run?api_key=K uncompressed JSON array (the endpoint rejects deflate)
 *   events  -> POST {api_hostname}/intake?api_key=K           zlib deflate JSON {"events":{"api":[...]}}
 * Telemetry actions (HttpClient): `flush`, `flush_checks`, `flush_events`.
 * Differences from Go: transient failures are retried inside the flush deadline;
 * NaN/±Inf points are dropped and counted instead of failing the whole body; checks
 * and series go out concurrently; an empty flush sends nothing.
 */
import { chunksOf, type MetricBatch } from '../../model/batch.js';
import type { DogStatsdEvent } from '../../model/metric.js';
import { deflateZlib, HttpClient, type HttpClientOptions } from '../helper/http.js';
import {
  type FlushResult,
  type MetricSink,
  type MetricSinkDefinition,
  type SinkContext,
  SinkFlushError,
} from '../types.js';
import { type DatadogConfig, parseDatadogConfig } from './config.js';
import { renderChecksBody, renderEvent, renderEventsBody, SeriesBodyWriter } from './render.js';

/** Series bodies posted at the same time (Go: all of them). */
const MAX_PARALLEL_BODIES = 8;

/** Runs at most `n` async tasks at once, in submission order. */
class Limiter {
  #active = 0;
  readonly #queue: (() => void)[] = [];
  constructor(readonly n: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.n) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#active++;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#queue.shift()?.();
    }
  }
}

export type DatadogHttpOptions = Omit<HttpClientOptions, 'telemetry' | 'logger'>;

export class DatadogMetricSink implements MetricSink {
  readonly kind = 'datadog';
  readonly name: string;
  readonly #config: DatadogConfig;
  readonly #ctx: SinkContext;
  readonly #http: HttpClient;
  readonly #seriesUrl: string;
  readonly #checksUrl: string;
  readonly #eventsUrl: string;

  constructor(config: DatadogConfig, ctx: SinkContext, http: DatadogHttpOptions = {}) {
    this.name = ctx.name;
    this.#config = config;
    this.#ctx = ctx;
    this.#http = new HttpClient({ ...http, telemetry: ctx.telemetry, logger: ctx.logger });
    const key = encodeURIComponent(config.apiKey.reveal());
    this.#seriesUrl = `${config.apiHostname}/api/v1/series?api_key=${key}`;
    this.#checksUrl = `${config.apiHostname}/api/v1/check_run?api_key=${key}`;
    this.#eventsUrl = `${config.apiHostname}/intake?api_key=${key}`;
  }

  async start(): Promise<void> {}

  async stop(deadline: number): Promise<void> {
    await this.#http.close(deadline);
  }

  async flush(batch: MetricBatch, signal: AbortSignal): Promise<FlushResult> {
    const cfg = this.#config;
    const opts = {
      hostname: this.#ctx.hostname,
      intervalSeconds: this.#ctx.intervalSeconds,
      metricNamePrefixDrops: cfg.metricNamePrefixDrops,
      excludeTagsPrefixByPrefixMetric: cfg.excludeTagsPrefixByPrefixMetric,
      excludedTags: cfg.excludedTags,
    };
    const posts: { count: number; what: string; run: Promise<unknown> }[] = [];
    // Bodies are rendered as the records arrive and compressed at once on the thread
    // pool, so only compressed bytes wait for one of the MAX_PARALLEL_BODIES posts.
    const limit = new Limiter(MAX_PARALLEL_BODIES);
    const writer = new SeriesBodyWriter(opts, cfg.flushMaxPerBody, (body, entries, release) => {
      const deflated = deflateZlib(body);
      // the pooled body buffer is reused once it is compressed; errors are the post's to report
      deflated.then(release, release);
      const run = limit.run(() =>
        this.#http.postJson({ url: this.#seriesUrl, action: 'flush', deflated, signal }),
      );
      // a post can fail while records are still arriving, long before allSettled below
      // looks at it: without a handler now, that is an unhandled rejection (a crash)
      run.catch(() => {});
      posts.push({ count: entries, what: 'series', run });
    });
    for await (const chunk of chunksOf(batch)) {
      if (signal.aborted) break;
      writer.write(chunk);
    }
    writer.end();
    const { checks, skipped, dropped } = writer;
    if (dropped > 0) {
      this.#ctx.logger.debug({ dropped }, 'dropped Datadog points that JSON cannot carry (NaN/Inf)');
    }
    if (checks.length > 0) {
      posts.push({
        count: checks.length,
        what: 'checks',
        run: this.#http.postJson({
          url: this.#checksUrl,
          action: 'flush_checks',
          compress: false,
          render: () => renderChecksBody(checks),
          signal,
        }),
      });
    }

    const settled = await Promise.allSettled(posts.map((p) => p.run));
    let flushed = 0;
    let failed = 0;
    let firstError: unknown;
    settled.forEach((s, i) => {
      const post = posts[i]!;
      if (s.status === 'fulfilled') flushed += post.count;
      else {
        failed += post.count;
        firstError ??= s.reason;
        this.#ctx.logger.warn(
          { what: post.what, count: post.count, err: s.reason },
          'Datadog rejected or did not receive a body',
        );
      }
    });
    const result: FlushResult = { flushed, skipped, dropped: dropped + failed };
    if (failed > 0) {
      const failedBodies = settled.filter((s) => s.status === 'rejected').length;
      throw new SinkFlushError(
        `datadog: ${failedBodies} of ${posts.length} request(s) failed (${failed} records): ${(firstError as Error)?.message ?? String(firstError)}`,
        result,
        { cause: firstError },
      );
    }
    this.#ctx.logger.debug(
      { series: writer.series, checks: checks.length, bodies: posts.length },
      'completed flush to Datadog',
    );
    return result;
  }

  async flushEvents(events: readonly DogStatsdEvent[], signal: AbortSignal): Promise<void> {
    if (events.length === 0) return;
    const hostname = this.#ctx.hostname;
    await this.#http.postJson({
      url: this.#eventsUrl,
      action: 'flush_events',
      compress: true,
      render: () => renderEventsBody(events.map((e) => renderEvent(e, hostname))),
      signal,
    });
    this.#ctx.logger.debug({ events: events.length }, 'completed flushing events to Datadog');
  }
}

export function createDatadogSink(
  config: DatadogConfig,
  ctx: SinkContext,
  http?: DatadogHttpOptions,
): DatadogMetricSink {
  return new DatadogMetricSink(config, ctx, http);
}

export const datadogSinkDefinition: MetricSinkDefinition<DatadogConfig> = {
  kind: 'datadog',
  parseConfig: parseDatadogConfig,
  create: (config, ctx) => new DatadogMetricSink(config, ctx),
};
