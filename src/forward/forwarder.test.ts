import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import {
  Server,
  ServerCredentials,
  type ServerReadableStream,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { pino } from 'pino';
import { Aggregator } from '../aggregate/aggregator.js';
import { generateSync } from '../flush/generate.js';
import { makePolicy } from '../flush/policy.js';
import type { MetricMessage } from '../protocol/forward/metricpb.js';
import { RecordingTelemetry } from '../telemetry/types.js';
import { ForwardClient } from './client.js';
import { metricsToStates } from './convert.js';
import { Forwarder } from './forwarder.js';
import { ImportServer } from './import-server.js';
import { SEND_METRICS_V2_PATH } from './service.js';

const logger = pino({ level: 'silent' });
const newAgg = (): Aggregator => new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
const localPolicy = makePolicy({ isLocal: true, percentiles: [0.5], aggregates: ['min', 'max', 'count'] });
const globalPolicy = makePolicy({
  isLocal: false,
  percentiles: [0.5, 0.99],
  aggregates: ['min', 'max', 'count'],
});

function localForward(lines: string[]) {
  const a = newAgg();
  for (const l of lines) a.ingestPacket(Buffer.from(l));
  return generateSync(a.swap().series.values(), localPolicy, 0).forward;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A grpc-js SendMetricsV2 server answering every call with `answer`. */
async function fixedServer(
  answer: 'hang' | { code: number; details: string },
): Promise<{ port: number; calls: () => number; stop: () => void }> {
  const server = new Server();
  let calls = 0;
  server.addService(
    {
      SendMetricsV2: {
        path: SEND_METRICS_V2_PATH,
        requestStream: true,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: () => ({}),
      },
    },
    {
      SendMetricsV2: (call: ServerReadableStream<Buffer, object>, cb: sendUnaryData<object>) => {
        calls++;
        call.on('data', () => {});
        call.on('end', () => {
          if (answer !== 'hang') cb(answer);
        });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { port, calls: () => calls, stop: () => server.forceShutdown() };
}

describe('Forwarder', () => {
  it('forwards a local flush to a global, which imports and flushes it', async () => {
    const global = newAgg();
    const telemetry = new RecordingTelemetry();
    const server = new ImportServer({
      address: '127.0.0.1:0',
      onMetrics: (ms: MetricMessage[]) => global.importStates(metricsToStates(ms)),
      logger,
      telemetry: new RecordingTelemetry(),
    });
    await server.start();
    const client = new ForwardClient({ address: `127.0.0.1:${server.address().port}`, logger });
    const fwd = new Forwarder({ client, logger, telemetry });
    try {
      const series = localForward([
        'c:2|c|#veneurglobalonly,k:v',
        'c:3|c|#k:v,veneurglobalonly',
        'g:7|g|#veneurglobalonly',
        'h:1|h\nh:2|h\nh:3|h\nh:4|h',
        's:a|s\ns:b|s\ns:a|s',
        'local:1|c',
      ]);
      const r = await fwd.forward(series, Date.now() + 5000);
      assert.deepEqual(r, { metrics: 4, attempts: 1, error: null });
    } finally {
      await client.close();
      await server.stop(Date.now() + 1000);
    }
    const out = new Map(
      generateSync(global.swap().series.values(), globalPolicy, 0)
        .metrics.filter((m) => !m.name.startsWith('veneur.'))
        .map((m) => [`${m.name}|${m.tags.join(',')}`, m.value] as const),
    );
    assert.deepEqual([...out.keys()].sort(), ['c|k:v', 'g|', 'h.50percentile|', 'h.99percentile|', 's|']);
    assert.equal(out.get('c|k:v'), 5);
    assert.equal(out.get('g|'), 7);
    assert.equal(out.get('s|'), 2);
    assert.equal(telemetry.total('forward.metrics_total'), 4);
    assert.equal(telemetry.total('forward.error_total'), 0);
    assert.ok(telemetry.calls.some((c) => c.kind === 'timing' && c.name === 'forward.duration_ns'));
  });

  it('does nothing when there is nothing to forward', async () => {
    const telemetry = new RecordingTelemetry();
    const client = new ForwardClient({ address: `127.0.0.1:${await freePort()}`, logger });
    const fwd = new Forwarder({ client, logger, telemetry });
    assert.deepEqual(await fwd.forward(localForward(['x:1|c', 'y:1|g']), Date.now() + 1000), {
      metrics: 0,
      attempts: 0,
      error: null,
    });
    assert.equal(telemetry.calls.length, 0);
    await client.close();
  });

  it('retries an unavailable global within the deadline and succeeds when it comes up', async () => {
    const port = await freePort();
    const telemetry = new RecordingTelemetry();
    const got: MetricMessage[] = [];
    const server = new ImportServer({
      address: `127.0.0.1:${port}`,
      onMetrics: (ms) => got.push(...ms),
      logger,
      telemetry: new RecordingTelemetry(),
    });
    const client = new ForwardClient({ address: `127.0.0.1:${port}`, logger });
    const fwd = new Forwarder({ client, logger, telemetry, maxAttempts: 5, backoffMs: 100 });
    const up = new Promise<void>((resolve) => setTimeout(() => server.start().then(resolve), 150));
    try {
      const r = await fwd.forward(localForward(['c:1|c|#veneurglobalonly']), Date.now() + 5000);
      assert.equal(r.error, null);
      assert.ok(r.attempts >= 2, `attempts ${r.attempts}`);
      assert.equal(got.length, 1);
      assert.ok(telemetry.total('forward.retries_total', ['cause:unavailable']) >= 1);
      assert.equal(telemetry.total('forward.error_total'), 0);
    } finally {
      await up;
      await client.close();
      await server.stop(Date.now() + 1000);
    }
  });

  it('gives up after maxAttempts and counts one error', async () => {
    const telemetry = new RecordingTelemetry();
    const client = new ForwardClient({ address: `127.0.0.1:${await freePort()}`, logger });
    const fwd = new Forwarder({ client, logger, telemetry, maxAttempts: 3, backoffMs: 10 });
    const r = await fwd.forward(localForward(['c:1|c|#veneurglobalonly']), Date.now() + 5000);
    assert.equal(r.attempts, 3);
    assert.equal(r.error?.cause, 'unavailable');
    assert.equal(telemetry.total('forward.error_total', ['cause:unavailable']), 1);
    assert.equal(telemetry.total('forward.retries_total'), 2);
    await client.close();
  });

  it('does not retry a status the global answered', async () => {
    const srv = await fixedServer({ code: status.INTERNAL, details: 'nope' });
    const telemetry = new RecordingTelemetry();
    const client = new ForwardClient({ address: `127.0.0.1:${srv.port}`, logger });
    const fwd = new Forwarder({ client, logger, telemetry });
    try {
      const r = await fwd.forward(localForward(['c:1|c|#veneurglobalonly']), Date.now() + 5000);
      assert.equal(r.attempts, 1);
      assert.equal(r.error?.cause, 'status_13');
      assert.equal(srv.calls(), 1);
      assert.equal(telemetry.total('forward.error_total', ['cause:status_13']), 1);
    } finally {
      await client.close();
      srv.stop();
    }
  });

  it('stops at the deadline against a global that never answers, without throwing', async () => {
    const srv = await fixedServer('hang');
    const telemetry = new RecordingTelemetry();
    const client = new ForwardClient({ address: `127.0.0.1:${srv.port}`, logger });
    const fwd = new Forwarder({ client, logger, telemetry });
    try {
      const t0 = Date.now();
      const r = await fwd.forward(localForward(['c:1|c|#veneurglobalonly']), Date.now() + 300);
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
      assert.equal(r.error?.cause, 'deadline_exceeded');
      assert.equal(telemetry.total('forward.error_total', ['cause:deadline_exceeded']), 1);
      // a deadline already passed: no call at all
      const r2 = await fwd.forward(localForward(['c:1|c|#veneurglobalonly']), Date.now() - 1);
      assert.equal(r2.attempts, 0);
      assert.equal(r2.error?.cause, 'deadline_exceeded');
    } finally {
      await client.close();
      srv.stop();
    }
  });

  it('encodes before its first await, so the series can be recycled right after the call', async () => {
    const a = newAgg();
    a.ingestPacket(Buffer.from('c:4|c|#veneurglobalonly'));
    const snap = a.swap();
    const series = generateSync(snap.series.values(), localPolicy, 0).forward;
    const got: MetricMessage[] = [];
    const server = new ImportServer({
      address: '127.0.0.1:0',
      onMetrics: (ms) => got.push(...ms),
      logger,
      telemetry: new RecordingTelemetry(),
    });
    await server.start();
    const client = new ForwardClient({ address: `127.0.0.1:${server.address().port}`, logger });
    try {
      const p = new Forwarder({ client, logger, telemetry: new RecordingTelemetry() }).forward(
        series,
        Date.now() + 5000,
      );
      a.recycle(snap);
      // reuse the recycled series for a different counter
      a.ingestPacket(Buffer.from('other:99|c|#veneurglobalonly'));
      assert.equal((await p).error, null);
    } finally {
      await client.close();
      await server.stop(Date.now() + 1000);
    }
    assert.equal(got.length, 1);
    assert.equal(got[0].name, 'c');
    assert.deepEqual(got[0].value, { kind: 'counter', value: 4 });
  });
});
