#!/usr/bin/env node
/**
 * The multi-core flush merge (issue 5.5): two ingest workers each hand the primary
 * a snapshot of the same 1M series (all types) as a columnar StateBatch,
 * structured-cloned as over the cluster IPC channel (serialization 'advanced');
 * the primary deserializes and merges both (sliced). Each worker is a child
 * process with its own heap, as in production. Prints each step's time and the
 * primary's longest event-loop block. `npm run build` first.
 *   node bench/merge-2x1m.mjs [series=1000000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { Aggregator } from '../dist/aggregate/aggregator.js';
import { exportStateBatch } from '../dist/aggregate/state-batch.js';
import { everySeriesOnce } from './workload.mjs';

const ms = (t) => `${(performance.now() - t).toFixed(0)} ms`;
const opts = { extendTags: [], metricMaxLength: 1 << 20 };

if (process.argv[2] === '--worker') {
  const [, , , series, out] = process.argv;
  const w = new Aggregator(opts);
  for (const d of everySeriesOnce({ series: Number(series) })) w.ingestPacket(Buffer.from(d));
  let t = performance.now();
  const snap = w.swap();
  const batch = exportStateBatch(snap.series.values(), snap.series.size);
  const exportMs = performance.now() - t;
  t = performance.now();
  const wire = serialize(batch);
  const cloneMs = performance.now() - t;
  writeFileSync(out, wire);
  console.log(JSON.stringify({ count: batch.count, exportMs, cloneMs, bytes: wire.length }));
} else {
  const series = Number(process.argv[2] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'veneur-merge-'));
  const self = fileURLToPath(import.meta.url);
  const primary = new Aggregator(opts);
  // the primary holds its own interval's series too, as in production
  for (const d of everySeriesOnce({ series })) primary.ingestPacket(Buffer.from(d));
  const t0 = performance.now();
  let primaryMs = 0;
  for (const i of [1, 2]) {
    const file = join(dir, `w${i}.bin`);
    const w = JSON.parse(
      execFileSync(process.execPath, ['--single-threaded-gc', self, '--worker', String(series), file], {
        encoding: 'utf8',
      }),
    );
    console.log(
      `merge worker ${i}: export ${w.count.toLocaleString('en-US')} series ${w.exportMs.toFixed(0)} ms, structured clone ${(w.bytes / 2 ** 20).toFixed(0)} MiB ${w.cloneMs.toFixed(0)} ms (in the worker)`,
    );
    const wire = readFileSync(file);
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    let t = performance.now();
    const batch = deserialize(wire);
    const de = performance.now() - t;
    t = performance.now();
    await primary.importStateBatchSliced(batch);
    const im = performance.now() - t;
    h.disable();
    primaryMs += de + im;
    console.log(
      `merge worker ${i}: primary deserializes in ${de.toFixed(0)} ms, merges (sliced) in ${im.toFixed(0)} ms; primary's longest event-loop block ${(h.max / 1e6).toFixed(0)} ms`,
    );
  }
  console.log(
    `merge RESULT 2 x ${series.toLocaleString('en-US')} series into a primary holding the same ${primary.seriesCount.toLocaleString('en-US')}: primary busy ${primaryMs.toFixed(0)} ms (wall ${ms(t0)} incl. building the workers); primary RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
}
