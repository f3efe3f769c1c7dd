/**
 * Debug metric sink (reference §5.10). Go's debug sink logs one logrus DEBUG line per
 * metric; ours prints each flush as an aligned table to stdout (or stderr) so a human
 * can read it, plus one debug log line per flush through the logger.
 *
 *   -- debug sink "dbg": flush at 2025-11-21T06:13:00.000Z, 3 metrics, 1 event
 *   TYPE     NAME             TAGS              VALUE  MESSAGE           HOST
 *   counter  golden.count.c0  env:prod,team:t0  19
 *   status   golden.check     env:prod          1      disk almost full  web1
 *   events:
 *     [warning/low] golden title: some text  host=web1 ts=1795240249 tags=env:prod
 *
 * MESSAGE/HOST columns appear only when the batch has service checks. Events are
 * handed over by `flushEvents` before `flush` and printed below that flush's table.
 */
import type { Writable } from 'node:stream';
import { z } from 'zod';
import { parseSection, type SectionContext } from '../../config/section.js';
import { collect, type MetricBatch } from '../../model/batch.js';
import { type DogStatsdEvent, type InterMetric, InterMetricType } from '../../model/metric.js';
import { goFloat } from '../helper/json.js';
import type { FlushResult, MetricSink, MetricSinkDefinition, SinkContext } from '../types.js';

export const debugConfigSchema = z.object({
  output: z.enum(['stdout', 'stderr']).default('stdout'),
});

export interface DebugConfig {
  readonly output: 'stdout' | 'stderr';
}

export function parseDebugConfig(raw: unknown, ctx: SectionContext): DebugConfig {
  const c = parseSection(debugConfigSchema, raw, ctx);
  return Object.freeze({ output: c.output });
}

const TYPE_NAMES: Record<number, string> = {
  [InterMetricType.Counter]: 'counter',
  [InterMetricType.Gauge]: 'gauge',
  [InterMetricType.Status]: 'status',
};

function formatValue(v: number): string {
  return Number.isFinite(v) ? goFloat(v) : String(v);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Render rows as left-aligned columns separated by two spaces, without trailing blanks. */
function alignRows(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i] ?? 0, row[i]!.length);
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

function renderEventLine(e: DogStatsdEvent): string {
  const tags = [...e.tags].map(([k, v]) => (v === '' ? k : `${k}:${v}`)).sort();
  const meta = [
    e.hostname !== '' ? `host=${e.hostname}` : '',
    e.timestamp !== 0 ? `ts=${e.timestamp}` : '',
    e.aggregationKey !== '' ? `key=${e.aggregationKey}` : '',
    e.sourceType !== '' ? `source=${e.sourceType}` : '',
    tags.length > 0 ? `tags=${tags.join(',')}` : '',
  ].filter((s) => s !== '');
  const text = e.text.replace(/\n/g, '\\n');
  return `  [${e.alertType || 'info'}/${e.priority || 'normal'}] ${e.title}: ${text}${meta.length > 0 ? `  ${meta.join(' ')}` : ''}`;
}

/** The text printed for one flush (pure; exported for tests). */
export function renderDebugTable(
  sinkName: string,
  metrics: readonly InterMetric[],
  events: readonly DogStatsdEvent[],
  now: Date,
): string {
  const lines: string[] = [
    `-- debug sink "${sinkName}": flush at ${now.toISOString()}, ${plural(metrics.length, 'metric')}, ${plural(events.length, 'event')}`,
  ];
  if (metrics.length > 0) {
    const withChecks = metrics.some((m) => m.type === InterMetricType.Status);
    const header = withChecks
      ? ['TYPE', 'NAME', 'TAGS', 'VALUE', 'MESSAGE', 'HOST']
      : ['TYPE', 'NAME', 'TAGS', 'VALUE'];
    const rows: string[][] = [header];
    for (const m of metrics) {
      const row = [TYPE_NAMES[m.type] ?? `type${m.type}`, m.name, m.tags.join(','), formatValue(m.value)];
      if (withChecks) row.push(m.message.replace(/\n/g, '\\n'), m.hostName);
      rows.push(row);
    }
    lines.push(...alignRows(rows));
  }
  if (events.length > 0) {
    lines.push('events:');
    for (const e of events) lines.push(renderEventLine(e));
  }
  return `${lines.join('\n')}\n`;
}

function write(out: Writable, text: string, signal: AbortSignal): Promise<void> {
  if (out.write(text)) return Promise.resolve();
  // Respect back-pressure, but never past the flush deadline.
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    out.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class DebugMetricSink implements MetricSink {
  readonly kind = 'debug';
  readonly name: string;
  readonly #ctx: SinkContext;
  readonly #out: Writable;
  readonly #now: () => Date;
  #pendingEvents: DogStatsdEvent[] = [];

  constructor(ctx: SinkContext, out: Writable, now: () => Date = () => new Date()) {
    this.name = ctx.name;
    this.#ctx = ctx;
    this.#out = out;
    this.#now = now;
  }

  async start(): Promise<void> {}
  async stop(_deadline: number): Promise<void> {}

  async flushEvents(events: readonly DogStatsdEvent[], _signal: AbortSignal): Promise<void> {
    this.#pendingEvents.push(...events);
  }

  async flush(batch: MetricBatch, signal: AbortSignal): Promise<FlushResult> {
    const metrics = await collect(batch);
    const events = this.#pendingEvents;
    this.#pendingEvents = [];
    this.#ctx.logger.debug({ metrics: metrics.length, events: events.length }, 'debug sink flush');
    await write(this.#out, renderDebugTable(this.name, metrics, events, this.#now()), signal);
    return { flushed: metrics.length, skipped: 0, dropped: 0 };
  }
}

/** Build a debug sink writing to `out` (tests inject a Writable; default: the configured stream). */
export function createDebugSink(
  config: DebugConfig,
  ctx: SinkContext,
  out?: Writable,
  now?: () => Date,
): DebugMetricSink {
  return new DebugMetricSink(ctx, out ?? (config.output === 'stderr' ? process.stderr : process.stdout), now);
}

export const debugSinkDefinition: MetricSinkDefinition<DebugConfig> = {
  kind: 'debug',
  parseConfig: parseDebugConfig,
  create: (config, ctx) => createDebugSink(config, ctx),
};
