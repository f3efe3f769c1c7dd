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
 *   node bench/flush-load.mjs [lines/s=1200000] [seconds=35] [series=1000000]
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
const secs = Number(process.argv[3] ?? 35);
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
const perCycle = Math.ceil(series / 10);
const server = await spawnServer(cfg, process.env.BENCH_SERVER_CORES === 'all' ? null : 0);
try {
  // create every series (one cycle at 100k datagrams/s), then let a flush pass
  await runGeneratorAsync(gen, server.port, file, 100_000, perCycle / 100_000);
  const waitFlush = async (n) => {
    const seen = () => intake.state.seen['veneur.flush.series']?.length ?? 0;
    const start = seen();
    while (seen() < start + n) await sleep(100);
  };
  await waitFlush(1);
  const flushesBefore = intake.state.seen['veneur.flush.series']?.length ?? 0;
  const baseline = intake.state.processed;
  const drops0 = kernelUdpDrops();
  const r = await runGeneratorAsync(gen, server.port, file, linesPerSec / 10, secs);
  // the last lines are counted by the next flush
  await waitFlush(1);
  const sentLines = r.sent * 10;
  const processed = intake.state.processed - baseline;
  const kernelDrops = kernelUdpDrops() - drops0;
  const during = (name) => (intake.state.seen[name] ?? []).slice(flushesBefore);
  console.log(
    `flush-load ${fmt(series)} series, offered ${fmt(sentLines / r.took)} lines/s for ${r.took.toFixed(1)} s: ` +
      `sent ${fmt(sentLines)}, counted ${fmt(processed)}, loss ${(((sentLines - processed) / sentLines) * 100).toFixed(4)}%, ` +
      `kernel drops ${fmt(kernelDrops)} datagrams`,
  );
  console.log(`flush-load series per flush: ${during('veneur.flush.series').map(fmt).join(', ')}`);
  console.log(
    `flush-load flush duration (ms): ${during('veneur.flush.total_duration_ms.max').map(fmt).join(', ')}`,
  );
  console.log(
    `flush-load event-loop delay max per interval (ms): ${during('veneur.event_loop.delay_max_ms')
      .map((v) => v.toFixed(1))
      .join(', ')}`,
  );
  console.log(
    `flush-load RSS (MiB): ${during('veneur.mem.rss_bytes')
      .map((v) => fmt(v / 2 ** 20))
      .join(', ')}; now ${fmt(server.rssKiB() / 1024)}`,
  );
  console.log(
    `flush-load intake: ${fmt(intake.state.bodies)} series bodies, ${fmt(intake.state.busyMs)} ms handling them`,
  );
} finally {
  await server.stop();
  await intake.close();
}
