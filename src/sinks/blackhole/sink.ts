/**
 * Blackhole metric sink (reference §5.10): accepts everything, sends nothing. Library-
 * only in Go Veneur (tests, benchmarks); selectable here as `kind: blackhole`.
 */
import { z } from 'zod';
import { parseSection, type SectionContext } from '../../config/section.js';
import type { DogStatsdEvent, InterMetric } from '../../model/metric.js';
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

  async flush(metrics: readonly InterMetric[], _signal: AbortSignal): Promise<FlushResult> {
    return { flushed: metrics.length, skipped: 0, dropped: 0 };
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
