#!/usr/bin/env node
/**
 * Global tier import rate (issue 5): a real global (dist/main/veneur.js, grpc_address)
 * receives N forwarded series (50% global counters, 25% timer digests, 15% global
 * gauges, 10% sets, as a local would forward them) on one SendMetricsV2 stream;
 * we time until the global answers (it merges every message into its aggregator
 * before answering). `npm run build` first.   node bench/import.mjs [series=500000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Aggregator } from '../dist/aggregate/aggregator.js';
import { generate } from '../dist/flush/generate.js';
import { makePolicy } from '../dist/flush/policy.js';
import { ForwardClient } from '../dist/forward/client.js';
import { encodeSeriesSliced } from '../dist/forward/convert.js';

const n = Number(process.argv[2] ?? 500_000);
// build what a local forwards: global-only counters/gauges, digests, sets
const agg = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
const lines = [];
for (let i = 0; i < n; i++) {
  const k = i % 20;
  if (k < 10) lines.push(`imp.c.${i}:1|c|#veneurglobalonly`);
  else if (k < 15) for (let v = 0; v < 5; v++) lines.push(`imp.t.${i}:${v * 7 + (i % 13)}|ms`);
  else if (k < 18) lines.push(`imp.g.${i}:${i}|g|#veneurglobalonly`);
  else for (let m = 0; m < 3; m++) lines.push(`imp.s.${i}:u${m}|s`);
  if (lines.length > 2000) agg.ingestPacket(Buffer.from(lines.splice(0).join('\n')));
}
agg.ingestPacket(Buffer.from(lines.join('\n')));
const gen = await generate(
  agg.swap().series.values(),
  makePolicy({ isLocal: true, percentiles: [0.5], aggregates: ['min', 'max', 'count'] }),
  0,
);
const msgs = await encodeSeriesSliced(gen.forward);
console.log(
  `forwarding ${msgs.length.toLocaleString()} series (${(msgs.reduce((a, m) => a + m.length, 0) / 2 ** 20).toFixed(0)} MiB of metricpb)`,
);

const dir = mkdtempSync(join(tmpdir(), 'veneur-bench-'));
const cfg = join(dir, 'global.yaml');
writeFileSync(cfg, 'grpc_address: 127.0.0.1:0\ninterval: 60s\nmetric_sinks: [{kind: blackhole, name: bh}]\n');
const bin = join(import.meta.dirname, '../dist/main/veneur.js');
const flags = /^#!.*?\bnode\b(.*)$/.exec(readFileSync(bin, 'utf8').split('\n', 1)[0])[1].trim().split(/\s+/);
const child = spawn(process.execPath, [...flags, bin, '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
const port = await new Promise((resolve) => {
  let buf = '';
  child.stderr.on('data', (d) => {
    buf += d;
    const m = /"port":(\d+),"msg":"gRPC import server listening"/.exec(buf);
    if (m) resolve(Number(m[1]));
  });
});
const client = new ForwardClient({ address: `127.0.0.1:${port}`, logger: pino({ level: 'silent' }) });
for (let round = 0; round < 3; round++) {
  const t = performance.now();
  await client.sendMetricsV2(msgs, AbortSignal.timeout(60_000));
  const s = (performance.now() - t) / 1000;
  console.log(
    `import round ${round + 1}: ${msgs.length.toLocaleString()} series in ${(s * 1000).toFixed(0)} ms = ${Math.round(msgs.length / s).toLocaleString()} series/s`,
  );
}
await client.close();
child.kill('SIGTERM');
