/**
 * Multi-core ingest (num_readers > 1): worker processes share the UDP socket and
 * the primary merges their state. Same input, same output as one process (t-digest
 * percentiles within tolerance: digests merge approximately); a killed worker is
 * replaced and counted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DdSeries, startFakeDatadog } from '../helpers/fake-datadog.js';
import { sendUdpLines, startVeneur } from '../helpers/veneur-process.js';

function config(url: string, readers: number, interval = '60s'): string {
  return `statsd_listen_addresses: [udp://127.0.0.1:0]
interval: ${interval}
num_readers: ${readers}
hostname: mc
percentiles: [0.5, 0.9, 0.99]
aggregates: [min, max, count, sum, avg]
metric_sinks:
  - kind: datadog
    name: datadog
    config: {api_key: k, api_hostname: "${url}"}
`;
}

function workload(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 6000; i++) {
    lines.push(`mc.count.${i % 11}:${(i % 4) + 1}|c|@0.5|#shard:${i % 3}`);
    lines.push(`mc.lat.${i % 5}:${(i * 7919) % 997}|ms|#route:/r${i % 2}`);
    lines.push(`mc.users.${i % 3}:user${i % 2500}|s`);
  }
  for (let i = 0; i < 40; i++) lines.push(`mc.gauge.${i}:${i * 1.5}|g`);
  return lines;
}

async function run(readers: number, lines: string[]): Promise<Map<string, number>> {
  const fake = await startFakeDatadog({ apiKey: 'k' });
  const v = await startVeneur(config(fake.url, readers));
  try {
    // small datagrams so the kernel spreads them over the workers' reads
    await sendUdpLines(v.statsd[0].port, lines, 200);
    await new Promise((r) => setTimeout(r, 800));
  } finally {
    assert.equal(await v.stop(), 0);
    await fake.close();
  }
  assert.deepEqual(fake.violations, []);
  const out = new Map<string, number>();
  for (const s of fake.series as DdSeries[]) {
    if (s.metric.startsWith('mc.')) out.set(`${s.metric}|${(s.tags ?? []).join(',')}`, s.points[0][1]);
  }
  return out;
}

describe('multi-core ingest', { timeout: 90_000 }, () => {
  it('2 ingest workers produce the same output as 1 process', async () => {
    const lines = workload();
    const one = await run(1, lines);
    const two = await run(2, lines);
    assert.ok(one.size > 50, `series: ${one.size}`);
    assert.deepEqual([...two.keys()].sort(), [...one.keys()].sort());
    for (const [k, v] of one) {
      const g = two.get(k) as number;
      if (k.includes('percentile')) assert.ok(Math.abs(g - v) <= 10, `${k}: ${g} vs ${v}`);
      else if (/\.(sum|avg)\|/.test(k))
        assert.ok(Math.abs(g - v) <= 1e-9 * Math.abs(v), `${k}: ${g} vs ${v}`);
      else assert.equal(g, v, k);
    }
  });

  it('replaces a worker that dies and counts it; the primary keeps serving', async () => {
    const fake = await startFakeDatadog({ apiKey: 'k' });
    const v = await startVeneur(config(fake.url, 2, '1s'));
    try {
      const started = v.logs.find((l) => l.msg === 'ingest workers started') as
        | { pids: number[] }
        | undefined;
      assert.ok(started && started.pids.length === 2);
      process.kill(started.pids[0], 'SIGKILL');
      const deadline = Date.now() + 10_000;
      while (!v.logs.some((l) => l.msg === 'ingest worker restarted') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(
        v.logs.some((l) => l.msg === 'ingest worker restarted'),
        'restart logged',
      );
      for (let i = 0; i < 5; i++) {
        await sendUdpLines(v.statsd[0].port, ['after.restart:1|c']);
        await new Promise((r) => setTimeout(r, 100));
      }
      await fake.waitFor((f) => f.series.some((s) => s.metric === 'after.restart'), 5_000);
      await fake.waitFor(
        (f) => f.series.some((s) => s.metric === 'veneur.worker.ingest_restarts_total'),
        5_000,
      );
    } finally {
      assert.equal(await v.stop(), 0);
      await fake.close();
    }
    const total = fake.series
      .filter((s) => s.metric === 'after.restart')
      .reduce((n, s) => n + s.points[0][1] * (s.interval ?? 1), 0);
    assert.equal(total, 5);
  });
});
