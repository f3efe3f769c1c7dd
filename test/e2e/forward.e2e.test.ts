/**
 * Local -> global forwarding between real processes (reference §2.4, §3.1): the
 * local flushes its local parts to its own sinks and streams digests, sets and
 * global-only counters/gauges to the global's import server; the global flushes
 * percentiles, cardinalities and global counters, without double counting. Also:
 * the raw messages a Go Veneur local forwarded are accepted by our global.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import { type FakeDatadog, startFakeDatadog } from '../helpers/fake-datadog.js';
import { sendUdpLines, startVeneur } from '../helpers/veneur-process.js';

const sink = (f: FakeDatadog) => `metric_sinks:
  - kind: datadog
    name: datadog
    config: {api_key: "${f.apiKey}", api_hostname: "${f.url}"}
`;
const value = (f: FakeDatadog, metric: string): number | undefined => {
  const s = f.series.find((x) => x.metric === metric);
  return s === undefined ? undefined : s.points[0][1] * (s.type === 'rate' ? (s.interval ?? 1) : 1);
};

describe('local -> global forwarding', { timeout: 60_000 }, () => {
  it('splits local and global parts as Veneur does', async () => {
    const gFake = await startFakeDatadog({ apiKey: 'g' });
    const lFake = await startFakeDatadog({ apiKey: 'l' });
    const global = await startVeneur(
      `grpc_address: 127.0.0.1:0\ninterval: 60s\nhostname: global\npercentiles: [0.5, 0.99]\naggregates: [min, max, count]\n${sink(gFake)}`,
    );
    const local = await startVeneur(
      `statsd_listen_addresses: [udp://127.0.0.1:0]\nforward_address: 127.0.0.1:${global.grpcPort}\ninterval: 60s\nhostname: local\npercentiles: [0.5, 0.99]\naggregates: [min, max, count]\n${sink(lFake)}`,
    );
    try {
      const lines = ['fw.c:3|c', 'fw.gc:7|c|#veneurglobalonly', 'fw.gg:4.5|g|#veneurglobalonly', 'fw.g:1|g'];
      for (const v of [1, 2, 7, 8, 100])
        lines.push(`fw.h:${v}|h`, `fw.lo:${v}|h|#veneurlocalonly`, `fw.go:${v}|h|#veneurglobalonly`);
      for (let i = 0; i < 50; i++) lines.push(`fw.s:u${i}|s`);
      await sendUdpLines(local.statsd[0].port, lines);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await local.stop(), 0); // final flush forwards
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await local.stop('SIGKILL');
      assert.equal(await global.stop(), 0);
      await gFake.close();
      await lFake.close();
    }
    assert.deepEqual(lFake.violations, []);
    assert.deepEqual(gFake.violations, []);
    // local: counters/gauges, histogram aggregates (no percentiles), local-only everything
    assert.equal(value(lFake, 'fw.c'), 3);
    assert.equal(value(lFake, 'fw.g'), 1);
    assert.equal(value(lFake, 'fw.h.max'), 100);
    assert.equal(value(lFake, 'fw.h.count'), 5);
    assert.equal(value(lFake, 'fw.h.50percentile'), undefined);
    assert.equal(value(lFake, 'fw.lo.50percentile'), 6);
    assert.equal(value(lFake, 'fw.s'), undefined);
    assert.equal(value(lFake, 'fw.gc'), undefined);
    assert.equal(value(lFake, 'fw.go.max'), undefined);
    // global: percentiles of mixed digests only (no count/min/max: no double counting)
    assert.equal(value(gFake, 'fw.h.50percentile'), 6);
    assert.ok(Math.abs((value(gFake, 'fw.h.99percentile') as number) - 97.7) < 1e-9);
    assert.equal(value(gFake, 'fw.h.max'), undefined);
    assert.equal(value(gFake, 'fw.h.count'), undefined);
    // global-only: everything at the global
    assert.equal(value(gFake, 'fw.go.max'), 100);
    assert.equal(value(gFake, 'fw.go.count'), 5);
    assert.equal(value(gFake, 'fw.gc'), 7);
    assert.equal(value(gFake, 'fw.gg'), 4.5);
    assert.equal(value(gFake, 'fw.s'), 50);
    assert.equal(value(gFake, 'fw.c'), undefined);
    assert.equal(value(gFake, 'fw.lo.max'), undefined);
  });

  it('chains of tiers: local -> middle (imports and forwards) -> top', async () => {
    const topFake = await startFakeDatadog({ apiKey: 't' });
    const midFake = await startFakeDatadog({ apiKey: 'm' });
    const top = await startVeneur(
      `grpc_address: 127.0.0.1:0\ninterval: 60s\nhostname: top\npercentiles: [0.5]\naggregates: [min, max, count]\n${sink(topFake)}`,
    );
    const mid = await startVeneur(
      `grpc_address: 127.0.0.1:0\nforward_address: 127.0.0.1:${top.grpcPort}\ninterval: 60s\nhostname: mid\npercentiles: [0.5]\naggregates: [min, max, count]\n${sink(midFake)}`,
    );
    const local = await startVeneur(
      `statsd_listen_addresses: [udp://127.0.0.1:0]\nforward_address: 127.0.0.1:${mid.grpcPort}\ninterval: 60s\nhostname: local\n${sink(midFake)}`,
    );
    try {
      const lines = ['ch.gc:5|c|#veneurglobalonly'];
      for (const v of [1, 2, 7, 8, 100]) lines.push(`ch.h:${v}|h`);
      for (let i = 0; i < 30; i++) lines.push(`ch.s:u${i}|s`);
      await sendUdpLines(local.statsd[0].port, lines);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await local.stop(), 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await mid.stop(), 0);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await local.stop('SIGKILL');
      await mid.stop('SIGKILL');
      assert.equal(await top.stop(), 0);
      await topFake.close();
      await midFake.close();
    }
    // the middle tier forwards everything mergeable: only the top flushes it
    assert.equal(value(topFake, 'ch.gc'), 5);
    assert.equal(value(topFake, 'ch.h.50percentile'), 6);
    assert.equal(value(topFake, 'ch.s'), 30);
    assert.equal(value(midFake, 'ch.gc'), undefined);
    assert.equal(value(midFake, 'ch.h.50percentile'), undefined);
    assert.equal(value(midFake, 'ch.s'), undefined);
  });

  it('a global accepts the exact messages a Go Veneur local streamed', async () => {
    const gFake = await startFakeDatadog({ apiKey: 'g' });
    const global = await startVeneur(
      `grpc_address: 127.0.0.1:0\ninterval: 60s\nhostname: global\npercentiles: [0.5]\naggregates: [min, max, count]\n${sink(gFake)}`,
    );
    try {
      const msgs = readFileSync(
        new URL('../fixtures/forward-from-go/messages.jsonl', import.meta.url),
        'utf8',
      )
        .trim()
        .split('\n')
        .map((l) => Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64'));
      const framed = Buffer.concat(
        msgs.map((m) => {
          const h = Buffer.alloc(5);
          h.writeUInt32BE(m.length, 1);
          return Buffer.concat([h, m]);
        }),
      );
      // a raw HTTP/2 gRPC call, as Go's client makes it
      const session = http2.connect(`http://127.0.0.1:${global.grpcPort}`);
      const status = await new Promise<string>((resolve, reject) => {
        const req = session.request({
          ':method': 'POST',
          ':path': '/forwardrpc.Forward/SendMetricsV2',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        req.on('trailers', (t) => resolve(String(t['grpc-status'])));
        req.on('error', reject);
        req.resume();
        req.end(framed);
      });
      session.close();
      assert.equal(status, '0');
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      assert.equal(await global.stop(), 0);
      await gFake.close();
    }
    assert.equal(value(gFake, 'fwd.counter.global'), 21);
    assert.equal(value(gFake, 'fwd.gauge.global'), 42.5);
    assert.equal(value(gFake, 'fwd.tdigest.five.50percentile'), 6);
    assert.equal(value(gFake, 'fwd.set.small'), 10);
    assert.ok(Math.abs((value(gFake, 'fwd.set.large') as number) - 5000) < 100);
    assert.equal(value(gFake, 'fwd.hist.global.max'), 5);
  });
});
