#!/usr/bin/env node
/**
 * Flush without stalls (issue 5.3), end to end: the real server
 * (dist/main/veneur.js, shebang flags, pinned to core 0, 10 s interval, a
 * Datadog sink posting to a local intake) holds 1M active series of every type
 * (50% counters, 15% gauges, 25% timers, 10% sets) while the sendmmsg generator
 * (pinned to core 1 with this process) keeps sending them at a fixed rate across
 * several flushes. Reported: lines sent vs counted by the server
 * (veneur.worker.metrics_processed_total as delivered to the intake) = loss
 * across flush boundaries, kernel drops, and the server's own
 * veneur.flush.total_duration_ms and veneur.event_loop.delay_max_ms per flush.
 *
 *   node bench/flush-load.mjs [lines/s=1200000] [measured seconds=40] [series=1000000]
 *
 * 127.0.0.1 only; the server and the generator are stopped by PID.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIntake } from './intake.mjs';
import {
  buildGenerator,
  fmt,
  hasTaskset,
  kernelUdpDrops,
  runGeneratorAsync,
  sleep,
  spawnServer,
  writeDatagramFile,
} from './server.mjs';
import { everySeriesOnce } from './workload.mjs';

const linesPerSec = Number(process.argv[2] ?? 1_200_000);
const secs = Number(process.argv[3] ?? 40);
const series = Number(process.argv[4] ?? 1_000_000);

if (hasTaskset && !process.env.BENCH_PINNED) {
  const r = spawnSync('taskset', ['-c', '1', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  process.exit(r.status ?? 1);
}

console.log(`# flush under load — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`);
const WATCH = [
  'veneur.worker.metrics_processed_total',
  'veneur.flush.total_duration_ms.max',
  'veneur.event_loop.delay_max_ms',
  'veneur.flush.series',
  'veneur.mem.rss_bytes',
];
const intake = await startIntake(WATCH);
const dir = mkdtempSync(join(tmpdir(), 'veneur-bench-'));
const cfg = join(dir, 'flush-load.yaml');
writeFileSync(
  cfg,
  `statsd_listen_addresses: [udp://127.0.0.1:0]
interval: 10s
hostname: bench
read_buffer_size_bytes: 4194304
metric_max_length: 16384
percentiles: [0.5, 0.75, 0.99]
metric_sinks:
  - kind: datadog
    name: datadog
    config: {api_key: bench, api_hostname: "http://127.0.0.1:${intake.port}", flush_max_per_body: 25000}
`,
);
const gen = buildGenerator();
// every series once per file cycle: 10 lines per datagram
const file = writeDatagramFile(everySeriesOnce({ series }));
const server = await spawnServer(cfg, process.env.BENCH_SERVER_CORES === 'all' ? null : 0);
try {
  // One continuous run: the first 20 s create the series and warm up, then every
  // interval that lies wholly inside the run must count rate x 10 s lines.
  const warm = 20;
  const started = Date.now();
  const drops0 = kernelUdpDrops();
  const r = await runGeneratorAsync(gen, server.port, file, linesPerSec / 10, warm + secs);
  const ended = Date.now();
  const kernelDrops = kernelUdpDrops() - drops0;
  await sleep(12_000); // the flush of the last interval
  // flushes by arrival; interval k ends at its tick, ~ (arrival - duration)
  const flushes = (intake.state.seen['veneur.flush.series'] ?? []).map((_, i) => ({
    series: intake.state.seen['veneur.flush.series'][i],
    processed: (intake.state.seen['veneur.worker.metrics_processed_total'] ?? [])[i] * 10,
    ms: (intake.state.seen['veneur.flush.total_duration_ms.max'] ?? [])[i],
    loopMax: (intake.state.seen['veneur.event_loop.delay_max_ms'] ?? [])[i],
    rss: (intake.state.seen['veneur.mem.rss_bytes'] ?? [])[i],
    at: intake.state.arrivals[i],
  }));
  const expected = (linesPerSec / 10) * 10 * 10; // datagrams/s x 10 lines x 10 s
  // an interval is wholly inside the measured part when its tick is >= warm + 10 s
  // after the start and <= the end of the run
  const full = flushes.filter((f) => f.at - f.ms >= started + (warm + 10) * 1000 && f.at - f.ms <= ended);
  console.log(
    `flush-load ${fmt(series)} series, ${fmt(r.sent * 10)} lines at ${fmt((r.sent * 10) / r.took)} lines/s over ${r.took.toFixed(1)} s; kernel drops ${fmt(kernelDrops)} datagrams`,
  );
  for (const f of flushes)
    console.log(
      `flush-load   flush: ${fmt(f.series)} series, counted ${fmt(f.processed)} lines${full.includes(f) ? ` (expected ${fmt(expected)}: loss ${(((expected - f.processed) / expected) * 100).toFixed(3)}%)` : ' (warm-up or partial interval)'}, ` +
        `flush ${fmt(f.ms)} ms, event-loop delay max ${f.loopMax?.toFixed(1)} ms, RSS ${fmt(f.rss / 2 ** 20)} MiB`,
    );
  const lost = full.reduce((a, f) => a + (expected - f.processed), 0);
  console.log(
    `flush-load RESULT ${fmt(series)} series at ${fmt(linesPerSec)} lines/s: ${full.length} full intervals, loss ${((lost / (expected * Math.max(1, full.length))) * 100).toFixed(3)}%, ` +
      `longest flush ${fmt(Math.max(0, ...full.map((f) => f.ms)))} ms, longest event-loop block ${Math.max(0, ...full.map((f) => f.loopMax)).toFixed(1)} ms`,
  );
  console.log(
    `flush-load intake: ${fmt(intake.state.bodies)} series bodies, ${fmt(intake.state.busyMs)} ms handling them`,
  );
} finally {
  await server.stop();
  await intake.close();
}
