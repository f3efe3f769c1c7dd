import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { type InterMetric, InterMetricType } from '../model/metric.js';
import { packLines, StatsAddressSink, statsdLine } from './stats-address.js';

const m = (name: string, value: number, type: InterMetricType, tags: string[] = []): InterMetric => ({
  name,
  value,
  type,
  tags,
  timestamp: 0,
  message: '',
  hostName: '',
  sinks: null,
});

describe('stats_address', () => {
  it('renders counters as |c and everything else as |g', () => {
    assert.equal(statsdLine(m('veneur.a', 3, InterMetricType.Counter, ['x:y', 'z'])), 'veneur.a:3|c|#x:y,z');
    assert.equal(statsdLine(m('veneur.b.max', 1.5, InterMetricType.Gauge)), 'veneur.b.max:1.5|g');
  });

  it('packs lines into datagrams under the limit', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `veneur.metric.${i}:1|c`);
    const packets = packLines(lines, 200);
    assert.ok(packets.every((p) => p.length <= 200));
    assert.deepEqual(
      packets.flatMap((p) => p.toString().split('\n')),
      lines,
    );
  });

  it('sends only veneur.* records to the address over UDP', async () => {
    const server = dgram.createSocket('udp4');
    const got: string[] = [];
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    server.on('message', (b) => got.push(...b.toString().split('\n')));
    const sink = new StatsAddressSink(`127.0.0.1:${server.address().port}`);
    await sink.start();
    const r = await sink.flush(
      [
        m('app.x', 1, InterMetricType.Counter),
        m('veneur.y', 2, InterMetricType.Counter),
        m('veneur.z', 4, InterMetricType.Gauge),
      ],
      new AbortController().signal,
    );
    assert.deepEqual(r, { flushed: 2, skipped: 1, dropped: 0 });
    for (let i = 0; i < 50 && got.length < 2; i++) await new Promise((res) => setTimeout(res, 10));
    await sink.stop();
    server.close();
    assert.deepEqual(got.sort(), ['veneur.y:2|c', 'veneur.z:4|g']);
  });
});
