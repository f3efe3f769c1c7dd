#!/usr/bin/env node
/**
 * Flush of 1M series (all types) through the real Flusher and a datadog sink
 * posting to a local intake, in-process: flush duration, longest event-loop
 * block (perf_hooks.monitorEventLoopDelay), RSS. `npm run build` first.
 *   node bench/flush-1m.mjs [series=1000000] [sink=datadog|blackhole]
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { Aggregator } from '../dist/aggregate/aggregator.js';
import { Flusher } from '../dist/flush/flusher.js';
import { makePolicy } from '../dist/flush/policy.js';
import { BlackholeMetricSink } from '../dist/sinks/blackhole/index.js';
import { datadogSinkDefinition } from '../dist/sinks/datadog/index.js';
import { wrapMetricSink } from '../dist/sinks/helper/wrap.js';
import { InternalTelemetry } from '../dist/telemetry/internal.js';
import { everySeriesOnce } from './workload.mjs';

const series = Number(process.argv[2] ?? 1_000_000);
const sinkKind = process.argv[3] ?? 'datadog';
const intake = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(202).end());
});
await new Promise((r) => intake.listen(0, '127.0.0.1', r));
const logger = pino({ level: 'silent' });
const agg = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
const telemetry = new InternalTelemetry(agg);
const cfg = datadogSinkDefinition.parseConfig(
  { api_key: 'k', api_hostname: `http://127.0.0.1:${intake.address().port}` },
  { path: 'x', envPrefix: '', env: {}, strict: false },
);
const sinkCtx = { name: sinkKind, hostname: 'h', intervalSeconds: 10, logger, telemetry };
const sink = wrapMetricSink(
  sinkKind === 'blackhole' ? new BlackholeMetricSink(sinkCtx) : datadogSinkDefinition.create(cfg, sinkCtx),
  {
    telemetry,
    logger,
    timeoutMs: 60_000,
  },
);
const flusher = new Flusher({
  aggregator: agg,
  targets: [sink],
  policy: makePolicy({ isLocal: false, percentiles: [0.5, 0.75, 0.99], aggregates: ['min', 'max', 'count'] }),
  intervalMs: 10_000,
  synchronize: false,
  logger,
  telemetry,
});
let t = performance.now();
for (const d of everySeriesOnce({ series })) agg.ingestPacket(Buffer.from(d));
console.log(
  `ingested ${series.toLocaleString()} series once in ${(performance.now() - t).toFixed(0)} ms; RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
);
for (let round = 0; round < 2; round++) {
  // second round: same series again (recycled objects)
  if (round === 1) for (const d of everySeriesOnce({ series })) agg.ingestPacket(Buffer.from(d));
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  t = performance.now();
  await flusher.flush(Date.now() + 60_000);
  const ms = performance.now() - t;
  h.disable();
  console.log(
    `flush ${round + 1}: ${ms.toFixed(0)} ms for ${series.toLocaleString()} series; event loop delay max ${(h.max / 1e6).toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms; RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
}
await sink.stop(Date.now() + 1000);
intake.close();
