/**
 * Self-telemetry that feeds this veneur's own aggregator, as Go Veneur's internal
 * SSF client does (reference §8.1): `veneur.*` metrics are aggregated here and
 * flushed with everything else.
 */
import type { Aggregator } from '../aggregate/aggregator.js';
import { MetricType } from '../model/metric.js';
import type { Telemetry } from './types.js';

export class InternalTelemetry implements Telemetry {
  constructor(readonly aggregator: Aggregator) {}
  count(name: string, value: number, tags: readonly string[] = []): void {
    this.aggregator.ingestInternal(MetricType.Counter, `veneur.${name}`, tags, value);
  }
  gauge(name: string, value: number, tags: readonly string[] = []): void {
    this.aggregator.ingestInternal(MetricType.Gauge, `veneur.${name}`, tags, value);
  }
  timing(name: string, value: number, tags: readonly string[] = []): void {
    this.aggregator.ingestInternal(MetricType.Timer, `veneur.${name}`, tags, value);
  }
}
