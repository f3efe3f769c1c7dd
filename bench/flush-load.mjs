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
 * BENCH_HOT=1: the issue's reading of "packets sent at 50% of the sustained rate":
 * <lines/s> is then the ingest bench's workload (1,000 series, 10 lines per
 * datagram, issue item 1) while a second generator keeps the 1M series active
 * (every series once per 9.5 s, so each interval touches all of them). Expected
 * lines per interval are the sum of both rates.
 *
 * 127.0.0.1 only; the server and the generator are stopped by PID.
 */
import dgram from 'node:dgram';
import { cpus } from 'node:os';
import { startIntake } from './intake.mjs';
import {
  buildGenerator,
  fmt,
  kernelUdpDrops,
  raiseRmemMax,
  runGeneratorAsync,
  runPinnedToCore1,
  sleep,
  spawnServer,
  writeBenchConfig,
  writeDatagramFile,
} from './server.mjs';
import { datagrams, everySeriesOnce } from './workload.mjs';

const linesPerSec = Number(process.argv[2] ?? 1_200_000);
const secs = Number(process.argv[3] ?? 40);
const series = Number(process.argv[4] ?? 1_000_000);
const hot = process.env.BENCH_HOT === '1';
/** lines/s of the 1M-series stream: all of it, or (hot) every series once per 9.5 s */
const spreadRate = hot ? series / 9.5 : linesPerSec;
const totalRate = hot ? linesPerSec + spreadRate : linesPerSec;

runPinnedToCore1();

console.log(`# flush under load — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`);
// The server's own figures come back over `stats_address` (UDP, one burst per flush,
// independent of the Datadog bodies, which a slow flush may lose).
const stats = dgram.createSocket('udp4');
/**
 * One entry per flush: the veneur.* values it re-sent. The stats_address sink sends
 * a flush's values at once when its generation ends, so a burst is datagrams less
 * than a second apart, and bursts are flushes in order. (Generation may end up to
 * ~10 s after its tick under this load: grouping by the arrival's interval, or by
 * gaps of 5 s, merged or split flushes.)
 */
const flushes = [];
let serverStarted = Date.now();
stats.on('message', (msg) => {
  const now = Date.now();
  let f = flushes.at(-1);
  if (f === undefined || now - f.last > 1000) {
    f = { at: now, last: now, v: {} };
    flushes.push(f);
  }
  f.last = now;
  for (const line of msg.toString().split('\n')) {
    const m = /^(veneur\.[^:]+):([^|]+)\|/.exec(line);
    if (m && !line.includes('|#')) f.v[m[1]] = Number(m[2]);
  }
});
await new Promise((r) => stats.bind(0, '127.0.0.1', r));
const intake = await startIntake();
// BENCH_READ_BUFFER=bytes: the server's read_buffer_size_bytes (net.core.rmem_max is
// raised for the run when we are root, and restored)
const readBuffer = Number(process.env.BENCH_READ_BUFFER ?? 4194304);
const restoreRmem = readBuffer > 4194304 ? raiseRmemMax(readBuffer) : () => {};
if (restoreRmem === null) throw new Error(`cannot raise net.core.rmem_max to ${readBuffer} (needs root)`);
const cfg = writeBenchConfig({
  interval: '10s',
  intakePort: intake.port,
  readBuffer,
  extra: `stats_address: 127.0.0.1:${stats.address().port}\n`,
});
const gen = buildGenerator();
// every series once per file cycle: 10 lines per datagram
const file = writeDatagramFile(everySeriesOnce({ series }));
const hotFile = hot ? writeDatagramFile(datagrams({ count: 20_000, linesPerDatagram: 10 })) : null;
const server = await spawnServer(cfg, process.env.BENCH_SERVER_CORES === 'all' ? null : 0);
// the flush clock starts with the server (synchronize_with_interval off): ticks every 10 s from here
serverStarted = Date.now();
try {
  // One continuous run: the first 20 s create the series and warm up, then every
  // interval that lies wholly inside the run must count rate x 10 s lines.
  const warm = 20;
  const started = Date.now();
  const drops0 = kernelUdpDrops();
  const [r, rHot] = await Promise.all([
    runGeneratorAsync(gen, server.port, file, spreadRate / 10, warm + secs),
    hotFile === null ? null : runGeneratorAsync(gen, server.port, hotFile, linesPerSec / 10, warm + secs),
  ]);
  const ended = Date.now();
  const kernelDrops = kernelUdpDrops() - drops0;
  await sleep(12_000); // the flush of the last interval
  // the first flush is at the first tick; each burst is the next one
  const firstTick =
    flushes.length > 0 ? serverStarted + Math.floor((flushes[0].at - serverStarted) / 10_000) * 10_000 : 0;
  const rows = flushes.map((f, i) => ({
    series: f.v['veneur.flush.series'],
    processed: f.v['veneur.worker.metrics_processed_total'] ?? 0,
    // a flush's duration and the loop delay up to it are reported by the next flush
    ms: flushes[i + 1]?.v['veneur.flush.total_duration_ms.max'],
    loopMax: flushes[i + 1]?.v['veneur.event_loop.delay_max_ms'],
    rss: f.v['veneur.mem.rss_bytes'],
    // the tick this flush started at
    tick: firstTick + i * 10_000,
  }));
  const expected = (totalRate / 10) * 10 * 10; // datagrams/s x 10 lines x 10 s
  // an interval is wholly inside the measured part when its tick is >= warm + 10 s
  // after the start and <= the end of the run
  // (1 s margins: the tick is estimated from the server's start and the arrival time)
  // a burst without the flush gauges (veneur.flush.series is recorded after a flush, so
  // the first burst never has it, and an overloaded warm-up can split its bursts) is
  // reported but not counted as an interval
  const full = rows.filter(
    (f) =>
      f.series !== undefined && f.tick - 10_000 >= started + warm * 1000 + 1000 && f.tick + 1000 <= ended,
  );
  console.log(
    `flush-load ${fmt(series)} series, ${fmt(r.sent * 10)} lines at ${fmt((r.sent * 10) / r.took)} lines/s over ${r.took.toFixed(1)} s; kernel drops ${fmt(kernelDrops)} datagrams`,
  );
  if (rHot !== null)
    console.log(
      `flush-load hot workload (1,000 series): ${fmt(rHot.sent * 10)} lines at ${fmt((rHot.sent * 10) / rHot.took)} lines/s over ${rHot.took.toFixed(1)} s`,
    );
  for (const f of rows)
    console.log(
      `flush-load   flush: ${fmt(f.series)} series, counted ${fmt(f.processed)} lines${full.includes(f) ? ` (expected ${fmt(expected)}: loss ${(((expected - f.processed) / expected) * 100).toFixed(3)}%)` : f.series === undefined ? ' (burst without the flush gauges: not counted)' : ' (warm-up or partial interval)'}, ` +
        `flush ${f.ms === undefined ? '?' : fmt(f.ms)} ms, event-loop delay max until the next flush ${f.loopMax?.toFixed(1) ?? '?'} ms, RSS ${fmt(f.rss / 2 ** 20)} MiB`,
    );
  const lost = full.reduce((a, f) => a + (expected - f.processed), 0);
  console.log(
    `flush-load RESULT ${fmt(series)} series${hot ? ` kept active (${fmt(spreadRate)} lines/s) + 1,000-series workload` : ''} at ${fmt(linesPerSec)} lines/s: ${full.length} full intervals, loss ${((lost / (expected * Math.max(1, full.length))) * 100).toFixed(3)}%, ` +
      `longest flush ${fmt(Math.max(0, ...full.map((f) => f.ms ?? 0)))} ms, longest event-loop block ${Math.max(0, ...full.map((f) => f.loopMax ?? 0)).toFixed(1)} ms`,
  );
  console.log(
    `flush-load intake: ${fmt(intake.state.bodies)} series bodies, ${fmt(intake.state.busyMs)} ms handling them`,
  );
} finally {
  await server.stop();
  await intake.close();
  stats.close();
  restoreRmem();
}
