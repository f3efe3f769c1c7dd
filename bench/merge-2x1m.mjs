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
import { HANDOVER_PART } from '../dist/app/cluster.js';
import { everySeriesOnce } from './workload.mjs';

const ms = (t) => `${(performance.now() - t).toFixed(0)} ms`;
const opts = { extendTags: [], metricMaxLength: 1 << 20 };

if (process.argv[2] === '--worker') {
  const [, , , series, out] = process.argv;
  const w = new Aggregator(opts);
  for (const d of everySeriesOnce({ series: Number(series) })) w.ingestPacket(Buffer.from(d));
  // as src/app/cluster.ts hands over: parts of HANDOVER_PART series, each exported
  // and structured-cloned in one event-loop turn (the worker's longest block)
  const snap = w.swap();
  const frames = [];
  let exportMs = 0;
  let cloneMs = 0;
  let longest = 0;
  let count = 0;
  for (let from = 0; from < snap.series.size; from += HANDOVER_PART) {
    const part = snap.series.slice(from, from + HANDOVER_PART);
    let t = performance.now();
    const batch = exportStateBatch(part, part.length);
    const e = performance.now() - t;
    t = performance.now();
    const wire = serialize(batch);
    const c = performance.now() - t;
    exportMs += e;
    cloneMs += c;
    longest = Math.max(longest, e + c);
    if (process.env.BENCH_PARTS)
      console.error(`part ${from}: export ${e.toFixed(0)} ms, clone ${c.toFixed(0)} ms`);
    count += batch.count;
    const len = Buffer.alloc(4);
    len.writeUInt32LE(wire.length);
    frames.push(len, wire);
  }
  const all = Buffer.concat(frames);
  writeFileSync(out, all);
  console.log(
    JSON.stringify({ count, exportMs, cloneMs, longest, parts: frames.length / 2, bytes: all.length }),
  );
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
      `merge worker ${i}: export ${w.count.toLocaleString('en-US')} series in ${w.parts} parts ${w.exportMs.toFixed(0)} ms, structured clone ${(w.bytes / 2 ** 20).toFixed(0)} MiB ${w.cloneMs.toFixed(0)} ms; the worker's longest part ${w.longest.toFixed(0)} ms`,
    );
    const wire = readFileSync(file);
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    let de = 0;
    let im = 0;
    for (let off = 0; off < wire.length; ) {
      const len = wire.readUInt32LE(off);
      let t = performance.now();
      const batch = deserialize(wire.subarray(off + 4, off + 4 + len));
      de += performance.now() - t;
      off += 4 + len;
      t = performance.now();
      await primary.importStateBatchSliced(batch);
      im += performance.now() - t;
      // the next part arrives as another IPC message, in a later event-loop turn
      await new Promise((r) => setImmediate(r));
    }
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
