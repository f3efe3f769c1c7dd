/**
 * Multi-core ingest (num_readers > 1): worker processes share the UDP socket and
 * the primary merges their state. Same input, same output as one process (t-digest
 * percentiles within tolerance: digests merge approximately); a killed worker is
 * replaced and counted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

/** Until nothing is queued on the UDP sockets bound to `port` (/proc/net/udp rx_queue, summed). */
async function waitForEmptyQueue(port: number, ms = 5000): Promise<void> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const until = Date.now() + ms;
  for (;;) {
    let queued = 0;
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 4 && f[1].endsWith(hex)) queued += Number.parseInt(f[4].split(':')[1], 16);
    }
    if (queued === 0) return;
    if (Date.now() > until) throw new Error(`UDP port ${port}: ${queued} bytes still queued`);
    await new Promise((r) => setTimeout(r, 10));
  }
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

  it("workers read the primary's UDP sockets with the native reader: each datagram once, a stopped worker's socket drained by the other", async () => {
    const fake = await startFakeDatadog({ apiKey: 'k' });
    const v = await startVeneur(`${config(fake.url, 2)}read_buffer_size_bytes: 1048576\n`);
    let workers: { id: number; pid: number }[] = [];
    try {
      const bound = v.logs.find((l) => String(l.msg).startsWith('UDP sockets bound for the ingest workers'));
      assert.ok(bound, 'the primary binds the UDP sockets');
      assert.equal(bound.sockets, 2);
      assert.equal(bound.spread, 'random');
      // read_buffer_size_bytes applies (the kernel reports twice what it granted)
      assert.ok(Number(bound.recvBufferKernel) >= 2 * 212_992, `SO_RCVBUF ${bound.recvBufferKernel}`);
      const listening = v.logs.filter((l) => l.msg === 'listening for DogStatsD over UDP');
      assert.equal(listening.length, 2, 'one UDP listener per worker, none in the primary');
      for (const l of listening) {
        assert.equal(l.reader, 'recvmmsg');
        assert.equal(l.sockets, 2);
        assert.equal(l.recvBufferKernel, bound.recvBufferKernel, 'the same sockets');
      }
      workers = (v.logs.find((l) => l.msg === 'ingest workers started') as { workers: typeof workers })
        .workers;
      assert.equal(workers.length, 2);
      const port = v.statsd[0].port;
      // while one worker is stopped, the other reads both sockets; then the other way round
      const phases = [
        { stopped: workers[0], reader: workers[1], metric: 'mc.phase1', count: 300 },
        { stopped: workers[1], reader: workers[0], metric: 'mc.phase2', count: 200 },
      ];
      for (const p of phases) {
        process.kill(p.stopped.pid, 'SIGSTOP');
        try {
          await sendUdpLines(
            port,
            Array.from({ length: p.count }, () => `${p.metric}:1|c`),
            1,
          );
          await waitForEmptyQueue(port);
        } finally {
          process.kill(p.stopped.pid, 'SIGCONT');
        }
      }
    } finally {
      for (const w of workers) {
        try {
          process.kill(w.pid, 'SIGCONT');
        } catch {}
      }
      assert.equal(await v.stop(), 0);
      await fake.close();
    }
    // counters arrive as rates over the interval
    const sum = (metric: string, tag?: string): number =>
      Math.round(
        fake.series
          .filter((s) => s.metric === metric && (tag === undefined || (s.tags ?? []).includes(tag)))
          .reduce((n, s) => n + s.points[0][1] * (s.interval ?? 1), 0),
      );
    assert.equal(sum('mc.phase1'), 300);
    assert.equal(sum('mc.phase2'), 200);
    // each datagram was read by exactly one worker: the one that was running
    assert.equal(sum('veneur.worker.ingest_samples_total', `ingest_worker:${workers[1].id}`), 300);
    assert.equal(sum('veneur.worker.ingest_samples_total', `ingest_worker:${workers[0].id}`), 200);
    assert.equal(sum('veneur.listen.received_per_protocol_total', 'protocol:dogstatsd-udp'), 500);
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
      const restarted = v.logs.find((l) => l.msg === 'ingest worker restarted') as
        | { workers: { slot: number }[] }
        | undefined;
      assert.ok(restarted, 'restart logged');
      // the replacement took the dead worker's slot (its UDP socket) and reads with recvmmsg
      assert.deepEqual(restarted.workers.map((w) => w.slot).sort(), [0, 1]);
      const listening = v.logs.filter((l) => l.msg === 'listening for DogStatsD over UDP');
      assert.equal(listening.length, 3);
      assert.ok(listening.every((l) => l.reader === 'recvmmsg' && l.sockets === 2));
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
