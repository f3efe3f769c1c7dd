/**
 * The proxy's gRPC ingest server on node:http2: framing, status answers, TLS,
 * compression, back-pressure and connection limits, against real clients (grpc-js,
 * our ForwardClient, a bare node:http2 session) on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { hasOpenssl, makeTestPki, type TestPki } from '../../test/helpers/tls-certs.js';
import { ForwardClient } from '../forward/client.js';
import { MessageReader } from '../forward/grpc-server.js';
import { encodeMetricList } from '../forward/service.js';
import { encodeMetric, type MetricMessage } from '../protocol/forward/metricpb.js';
import { RecordingTelemetry } from '../telemetry/types.js';
import type { ProxyConfig } from './config.js';
import { IngestServer, type Router, rawForwardService } from './server.js';
import { silentLogger } from './testing.js';

const metric = (i: number): MetricMessage => ({
  name: `m${i}`,
  tags: ['a:b'],
  type: 0,
  scope: 2,
  value: { kind: 'counter', value: i },
});

/** gRPC length-prefixed framing of one message. */
function frame(msg: Uint8Array, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

class StubRouter implements Router {
  readonly routed: Buffer[] = [];
  /** Answer 'full' for these many routes, then 'ok'. */
  fullFor = 0;
  #waiters: (() => void)[] = [];
  route(msg: Uint8Array): 'ok' | 'full' | 'invalid' {
    // kept as given, not copied, like the proxy's re-send window: a receive buffer
    // reused under a routed view would show as changed bytes when the test compares
    this.routed.push(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
    if (this.fullFor > 0) {
      this.fullFor--;
      return 'full';
    }
    return 'ok';
  }
  writable(): Promise<void> {
    return new Promise((r) => this.#waiters.push(r));
  }
  release(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
  get waiting(): number {
    return this.#waiters.length;
  }
}

async function server(
  opts: {
    tls?: { certFile: string; keyFile: string };
    grpcServer?: ProxyConfig['grpcServer'];
    max?: number;
  } = {},
) {
  const router = new StubRouter();
  const telemetry = new RecordingTelemetry();
  const s = new IngestServer({
    address: '127.0.0.1:0',
    router,
    telemetry,
    logger: silentLogger,
    ...(opts.tls ? { tls: opts.tls } : {}),
    ...(opts.grpcServer ? { grpcServer: opts.grpcServer } : {}),
    ...(opts.max ? { maxMessageBytes: opts.max } : {}),
  });
  await s.start();
  return { s, router, telemetry };
}

/** One call over a bare HTTP/2 session: the response headers, body and trailers. */
function call(
  port: number,
  path: string,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let h: http2.IncomingHttpHeaders = {};
    let t: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (x) => {
      h = x;
    });
    req.on('trailers', (x) => {
      t = x;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      session.close();
      resolve({ headers: h, trailers: t, body: Buffer.concat(chunks) });
    });
    req.end(body);
  });
}

const statusOf = (r: { headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }) =>
  Number(r.trailers['grpc-status'] ?? r.headers['grpc-status']);

describe('proxy ingest server: framing', () => {
  it('cuts messages at any chunk boundary, several per chunk or one across many', () => {
    const msgs = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(300, 7), Buffer.from('xyz')];
    const wire = Buffer.concat(msgs.map((m) => frame(m)));
    for (const size of [1, 2, 3, 5, 6, 7, 64, wire.length]) {
      const reader = new MessageReader(1 << 20);
      const got: Buffer[] = [];
      for (let i = 0; i < wire.length; i += size) {
        assert.equal(
          reader.push(wire.subarray(i, i + size), (m) => got.push(Buffer.from(m))),
          null,
        );
      }
      assert.deepEqual(got, msgs, `chunks of ${size}`);
      assert.equal(reader.partial, false);
    }
    const r = new MessageReader(1 << 20);
    r.push(wire.subarray(0, 8), () => {});
    assert.equal(r.partial, true, 'inside a message');
  });

  it('refuses a message over the limit and a bad flag', () => {
    const r = new MessageReader(10);
    assert.equal(r.push(frame(Buffer.alloc(11)), () => {})?.code, 8);
    assert.equal(new MessageReader(10).push(Buffer.from([2, 0, 0, 0, 0]), () => {})?.code, 13);
  });
});

describe('proxy ingest server: calls', () => {
  it('routes a SendMetricsV2 stream from our client and answers OK', async () => {
    const { s, router, telemetry } = await server();
    const client = new ForwardClient({ address: `127.0.0.1:${s.port}`, logger: silentLogger });
    try {
      // messages larger than a DATA frame (16 KiB) too
      const msgs = Array.from({ length: 300 }, (_, i) =>
        encodeMetric({ ...metric(i), tags: i % 50 === 0 ? [`big:${'x'.repeat(40_000)}`] : ['a:b'] }),
      );
      await client.sendMetricsV2(msgs, AbortSignal.timeout(5000));
      assert.deepEqual(
        router.routed.map((b) => b.toString('hex')),
        msgs.map((b) => Buffer.from(b).toString('hex')),
      );
      assert.equal(telemetry.total('veneur_proxy.ingest.request_count', ['protocol:grpc-stream']), 1);
    } finally {
      await client.close();
      await s.stop(Date.now() + 1000);
    }
  });

  it('takes gzip-compressed messages from a grpc-js client (unary and stream)', async () => {
    const { s, router } = await server();
    const { Client, credentials, compressionAlgorithms } = await import('@grpc/grpc-js');
    const c = new Client(`127.0.0.1:${s.port}`, credentials.createInsecure(), {
      'grpc.default_compression_algorithm': compressionAlgorithms.gzip,
    });
    try {
      const list = encodeMetricList(Array.from({ length: 40 }, (_, i) => metric(i)));
      await new Promise<void>((resolve, reject) =>
        c.makeUnaryRequest(
          rawForwardService.SendMetrics.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from(list),
          (err) => (err ? reject(err) : resolve()),
        ),
      );
      assert.equal(router.routed.length, 40);
      await new Promise<void>((resolve, reject) => {
        const st = c.makeClientStreamRequest(
          rawForwardService.SendMetricsV2.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          (err) => (err ? reject(err) : resolve()),
        );
        for (let i = 0; i < 25; i++) st.write(Buffer.from(encodeMetric(metric(100 + i))));
        st.end();
      });
      assert.equal(router.routed.length, 65);
      assert.deepEqual(router.routed.at(-1), Buffer.from(encodeMetric(metric(124))));
    } finally {
      c.close();
      await s.stop(Date.now() + 1000);
    }
  });

  it('answers unknown methods, bad encodings, oversized and truncated messages with gRPC statuses', async () => {
    const { s, router, telemetry } = await server({ max: 1000 });
    try {
      const ok = frame(encodeMetric(metric(1)));
      assert.equal(statusOf(await call(s.port, '/forwardrpc.Forward/Nope', ok)), 12);
      assert.equal(
        statusOf(await call(s.port, rawForwardService.SendMetricsV2.path, ok, { 'grpc-encoding': 'snappy' })),
        12,
      );
      assert.equal(
        statusOf(await call(s.port, rawForwardService.SendMetricsV2.path, frame(Buffer.alloc(1001)))),
        8,
      );
      assert.equal(statusOf(await call(s.port, rawForwardService.SendMetricsV2.path, ok.subarray(0, 7))), 13);
      assert.equal(
        statusOf(await call(s.port, rawForwardService.SendMetrics.path, frame(Buffer.from([0x0b])))),
        3,
        'malformed MetricList',
      );
      // a compressed flag without an encoding
      assert.equal(
        statusOf(await call(s.port, rawForwardService.SendMetricsV2.path, frame(gzipSync('x'), true))),
        13,
      );
      assert.equal(telemetry.total('veneur_proxy.ingest.request_error_count'), 4);
      assert.equal(router.routed.length, 0);
      // not gRPC at all
      const plain = await call(s.port, rawForwardService.SendMetricsV2.path, ok, {
        'content-type': 'text/plain',
      });
      assert.equal(plain.headers[':status'], 415);
      // and a good call still works on the same server
      const good = await call(s.port, rawForwardService.SendMetricsV2.path, Buffer.concat([ok, ok]));
      assert.equal(statusOf(good), 0);
      assert.equal(good.headers['content-type'], 'application/grpc');
      assert.deepEqual(good.body, Buffer.alloc(5), 'one empty message (google.protobuf.Empty)');
      assert.equal(router.routed.length, 2);
    } finally {
      await s.stop(Date.now() + 1000);
    }
  });

  it('pauses a stream while the router is full and resumes it when there is room', async () => {
    const { s, router } = await server();
    router.fullFor = 1;
    const client = new ForwardClient({ address: `127.0.0.1:${s.port}`, logger: silentLogger });
    try {
      const msgs = Array.from({ length: 2000 }, (_, i) =>
        encodeMetric({ ...metric(i), tags: ['t:'.repeat(200)] }),
      );
      const sent = client.sendMetricsV2(msgs, AbortSignal.timeout(10_000));
      const deadline = Date.now() + 5000;
      while (router.waiting === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(router.waiting, 1, 'the server waits for room');
      await new Promise((r) => setTimeout(r, 200));
      const whilePaused = router.routed.length;
      assert.ok(whilePaused < msgs.length, `paused: ${whilePaused} of ${msgs.length} routed`);
      router.release();
      await sent;
      assert.equal(router.routed.length, msgs.length);
    } finally {
      await client.close();
      await s.stop(Date.now() + 1000);
    }
  });

  it('closes a connection idle for max_connection_idle with a GOAWAY', async () => {
    const gs = {
      connectionTimeoutMs: 0,
      maxConnectionIdleMs: 200,
      maxConnectionAgeMs: 0,
      maxConnectionAgeGraceMs: 0,
      pingTimeoutMs: 0,
      keepaliveTimeoutMs: 0,
    };
    const { s } = await server({ grpcServer: gs });
    try {
      const session = http2.connect(`http://127.0.0.1:${s.port}`);
      const t0 = Date.now();
      const closed = await new Promise<string>((resolve) => {
        session.on('goaway', () => resolve('goaway'));
        session.on('close', () => resolve('close'));
        session.on('error', () => {});
      });
      const ms = Date.now() - t0;
      session.destroy();
      assert.equal(closed, 'goaway');
      assert.ok(ms >= 150 && ms < 3000, `closed after ${ms} ms`);
    } finally {
      await s.stop(Date.now() + 1000);
    }
  });
});

describe('proxy ingest server: connection age and keep-alive', () => {
  const limits = (o: Partial<ProxyConfig['grpcServer']>): ProxyConfig['grpcServer'] => ({
    connectionTimeoutMs: 0,
    maxConnectionIdleMs: 0,
    maxConnectionAgeMs: 0,
    maxConnectionAgeGraceMs: 0,
    pingTimeoutMs: 0,
    keepaliveTimeoutMs: 0,
    ...o,
  });

  it('sends a GOAWAY at max_connection_age (±10%), even to a busy connection', async () => {
    const { s } = await server({
      grpcServer: limits({ maxConnectionAgeMs: 300, maxConnectionAgeGraceMs: 5000 }),
    });
    try {
      const session = http2.connect(`http://127.0.0.1:${s.port}`);
      session.on('error', () => {});
      // keep a call open across the age limit: it still completes (the grace period)
      const req = session.request({
        ':method': 'POST',
        ':path': rawForwardService.SendMetricsV2.path,
        'content-type': 'application/grpc',
      });
      const t0 = Date.now();
      await new Promise<void>((resolve) => session.once('goaway', () => resolve()));
      const ms = Date.now() - t0;
      assert.ok(ms >= 250 && ms < 2000, `GOAWAY after ${ms} ms`);
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('trailers', resolve));
      req.resume();
      req.end(frame(encodeMetric(metric(1))));
      assert.equal((await trailers)['grpc-status'], '0', 'the call in flight finished');
      session.destroy();
    } finally {
      await s.stop(Date.now() + 1000);
    }
  });

  it('pings an idle connection every ping_timeout and keeps it while the client answers', async () => {
    const { s } = await server({ grpcServer: limits({ pingTimeoutMs: 100, keepaliveTimeoutMs: 200 }) });
    try {
      const session = http2.connect(`http://127.0.0.1:${s.port}`);
      let pings = 0;
      session.on('ping', () => pings++);
      session.on('error', () => {});
      await new Promise((r) => setTimeout(r, 700));
      assert.ok(pings >= 3, `${pings} pings in 700 ms`);
      assert.equal(session.closed || session.destroyed, false, 'still open');
      session.destroy();
    } finally {
      await s.stop(Date.now() + 1000);
    }
  });
});

describe('proxy ingest server: TLS (grpc_tls_address)', {
  skip: hasOpenssl() ? false : 'needs the openssl CLI',
}, () => {
  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki?.cleanup());

  it('serves gRPC over TLS with the configured certificate', async () => {
    const f = (name: string): string => join(pki.dir, name);
    const { s, router } = await server({ tls: { certFile: f('server.pem'), keyFile: f('server.key') } });
    const client = new ForwardClient({
      address: `127.0.0.1:${s.port}`,
      tls: { caFile: f('ca.pem'), certFile: '', keyFile: '', serverName: 'localhost' },
      logger: silentLogger,
    });
    try {
      await client.sendMetricsV2(
        Array.from({ length: 20 }, (_, i) => encodeMetric(metric(i))),
        AbortSignal.timeout(5000),
      );
      assert.equal(router.routed.length, 20);
    } finally {
      await client.close();
      await s.stop(Date.now() + 1000);
    }
  });
});
