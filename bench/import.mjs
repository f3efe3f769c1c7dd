#!/usr/bin/env node
/**
 * Global tier import rate (issue 5): a real global (dist/main/veneur.js, grpc_address)
 * receives N forwarded series (50% global counters, 25% timer digests, 15% global
 * gauges, 10% sets, as a local would forward them) on one SendMetricsV2 stream;
 * we time until the global answers (it merges every message into its aggregator
 * before answering). `npm run build` first.   node bench/import.mjs [series=500000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ForwardClient } from '../dist/forward/client.js';
import { forwardedMessages } from './forwarded.mjs';
import { shebangFlags } from './server.mjs';

const n = Number(process.argv[2] ?? 500_000);
// what a local forwards: global-only counters/gauges, digests, sets
const msgs = await forwardedMessages(n, 'imp');
console.log(
  `forwarding ${msgs.length.toLocaleString()} series (${(msgs.reduce((a, m) => a + m.length, 0) / 2 ** 20).toFixed(0)} MiB of metricpb)`,
);

const dir = mkdtempSync(join(tmpdir(), 'veneur-bench-'));
const cfg = join(dir, 'global.yaml');
writeFileSync(cfg, 'grpc_address: 127.0.0.1:0\ninterval: 60s\nmetric_sinks: [{kind: blackhole, name: bh}]\n');
const bin = join(import.meta.dirname, '../dist/main/veneur.js');
const flags = shebangFlags(bin);
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
