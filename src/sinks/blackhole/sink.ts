/**
 * Blackhole metric sink (reference §5.10): accepts everything, sends nothing. Library-
 * only in Go Veneur (tests, benchmarks); selectable here as `kind: blackhole`.
 */
import { z } from 'zod';
import { parseSection, type SectionContext } from '../../config/section.js';
import { chunksOf, type MetricBatch } from '../../model/batch.js';
import type { DogStatsdEvent } from '../../model/metric.js';
import type { FlushResult, MetricSink, MetricSinkDefinition, SinkContext } from '../types.js';

const blackholeConfigSchema = z.object({});

export type BlackholeConfig = Readonly<Record<string, never>>;

export class BlackholeMetricSink implements MetricSink {
  readonly kind = 'blackhole';
  readonly name: string;

  constructor(ctx: Pick<SinkContext, 'name'>) {
    this.name = ctx.name;
  }

  async start(): Promise<void> {}
  async stop(_deadline: number): Promise<void> {}

  async flush(metrics: MetricBatch, _signal: AbortSignal): Promise<FlushResult> {
    let flushed = 0;
    for await (const chunk of chunksOf(metrics)) flushed += chunk.length;
    return { flushed, skipped: 0, dropped: 0 };
  }

  async flushEvents(_events: readonly DogStatsdEvent[], _signal: AbortSignal): Promise<void> {}
}

export const blackholeSinkDefinition: MetricSinkDefinition<BlackholeConfig> = {
  kind: 'blackhole',
  parseConfig(raw: unknown, ctx: SectionContext): BlackholeConfig {
    parseSection(blackholeConfigSchema, raw, ctx);
    return Object.freeze({});
  },
  create: (_config, ctx) => new BlackholeMetricSink(ctx),
};
