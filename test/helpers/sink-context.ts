/** Test doubles for sink tests: a SinkContext, a capturing logger, InterMetric builders. */
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { type DogStatsdEvent, type InterMetric, InterMetricType } from '../../src/model/metric.js';
import type { SinkContext } from '../../src/sinks/types.js';
import { RecordingTelemetry } from '../../src/telemetry/types.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger (level debug) whose JSON lines are parsed into `lines`. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export interface TestSinkContext extends SinkContext {
  readonly telemetry: RecordingTelemetry;
  readonly logLines: LogLine[];
}

export function testSinkContext(
  over: Partial<Omit<SinkContext, 'telemetry' | 'logger'>> = {},
): TestSinkContext {
  const { logger, lines } = captureLogger();
  return {
    name: over.name ?? 'test-sink',
    hostname: over.hostname ?? 'testhost',
    intervalSeconds: over.intervalSeconds ?? 10,
    logger,
    telemetry: new RecordingTelemetry(),
    logLines: lines,
  };
}

export function interMetric(
  name: string,
  value: number,
  over: Partial<Omit<InterMetric, 'name' | 'value'>> = {},
): InterMetric {
  return Object.freeze({
    name,
    value,
    timestamp: over.timestamp ?? 1_700_000_000,
    tags: Object.freeze([...(over.tags ?? [])]),
    type: over.type ?? InterMetricType.Gauge,
    message: over.message ?? '',
    hostName: over.hostName ?? '',
    sinks: over.sinks ?? null,
  });
}

export function counter(
  name: string,
  value: number,
  tags: readonly string[] = [],
  timestamp?: number,
): InterMetric {
  return interMetric(name, value, {
    type: InterMetricType.Counter,
    tags,
    ...(timestamp ? { timestamp } : {}),
  });
}

export function gauge(
  name: string,
  value: number,
  tags: readonly string[] = [],
  timestamp?: number,
): InterMetric {
  return interMetric(name, value, { type: InterMetricType.Gauge, tags, ...(timestamp ? { timestamp } : {}) });
}

export function check(
  name: string,
  status: number,
  over: Partial<Omit<InterMetric, 'name' | 'value' | 'type'>> = {},
): InterMetric {
  return interMetric(name, status, { ...over, type: InterMetricType.Status });
}

export function dogEvent(over: Partial<DogStatsdEvent> = {}): DogStatsdEvent {
  return Object.freeze({
    title: over.title ?? 'title',
    text: over.text ?? 'text',
    timestamp: over.timestamp ?? 1_700_000_000,
    hostname: over.hostname ?? '',
    aggregationKey: over.aggregationKey ?? '',
    priority: over.priority ?? '',
    sourceType: over.sourceType ?? '',
    alertType: over.alertType ?? '',
    tags: over.tags ?? new Map<string, string>(),
  });
}
