#!/usr/bin/env node
/**
 * Memory per series, by type (issue 5.4): a fresh process per (type, count) holds
 * `count` series of one type (3 tags each, 850 distinct tag sets, one sample each)
 * in an Aggregator; prints RSS, V8 heap and off-heap bytes per series after a full
 * GC. `npm run build` first.
 *   node bench/memory-types.mjs [counts=100000,1000000] [types=c,g,ms,h,s]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
if (process.argv[2] === '--child') {
  const [, , , type, nStr] = process.argv;
  const n = Number(nStr);
  const { Aggregator } = await import('../dist/aggregate/aggregator.js');
  const agg = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
  globalThis.gc();
  const before = process.memoryUsage();
  for (let i = 0; i < n; i += 10) {
    const lines = [];
    for (let j = i; j < i + 10 && j < n; j++) {
      const tags = `env:prod,service:svc${j % 17},host:host-${j % 50}`;
      const v = type === 's' ? `user${j % 1000}` : ((j * 7919) % 50000) / 100;
      lines.push(`bench.${type}.${j}:${v}|${type}|#${tags}`);
    }
    agg.ingestPacket(Buffer.from(lines.join('\n')));
  }
  globalThis.gc();
  const after = process.memoryUsage();
  const per = (k) => (after[k] - before[k]) / n;
  console.log(
    JSON.stringify({
      type,
      n: agg.seriesCount,
      rssMiB: after.rss / 2 ** 20,
      heapPer: per('heapUsed'),
      offHeapPer: per('external') + per('arrayBuffers'),
    }),
  );
} else {
  const counts = (process.argv[2] ?? '100000,1000000').split(',').map(Number);
  const types = (process.argv[3] ?? 'c,g,ms,h,s').split(',');
  const names = { c: 'counter', g: 'gauge', ms: 'timer', h: 'histogram', s: 'set' };
  console.log(
    '# memory per series type: RSS of a process holding only those series; bytes per series after GC',
  );
  for (const n of counts) {
    for (const t of types) {
      const out = execFileSync(process.execPath, ['--expose-gc', self, '--child', t, String(n)], {
        encoding: 'utf8',
      });
      const r = JSON.parse(out);
      console.log(
        `memory ${names[t].padEnd(9)} x ${n.toLocaleString('en-US').padStart(9)}: RSS ${Math.round(r.rssMiB).toLocaleString('en-US').padStart(5)} MiB; ` +
          `${Math.round(r.heapPer)} B heap + ${Math.round(r.offHeapPer)} B off-heap per series`,
      );
    }
  }
}
