import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, makeGenericClientConstructor, type ServiceError, status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { hasOpenssl, makeTestPki, type TestPki } from '../../test/helpers/tls-certs.js';
import { decodeMetric, encodeMetric, type MetricMessage } from '../protocol/forward/metricpb.js';
import { RecordingTelemetry } from '../telemetry/types.js';
import { ForwardClient, ForwardError, SEND_METRICS_V2_PATH } from './client.js';
import { ImportServer, type ImportServerTlsOptions } from './import-server.js';
import { DRAINING_MESSAGE, decodeMetricList, encodeMetricList, forwardServiceDefinition } from './service.js';

const logger = pino({ level: 'silent' });
const FIXTURES = new URL('../../test/fixtures/forward-from-go/', import.meta.url);

function golden(): Uint8Array[] {
  return readFileSync(new URL('messages.jsonl', FIXTURES), 'utf8')
    .trim()
    .split('\n')
    .map((l) => new Uint8Array(Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64')));
}

function metric(i: number): MetricMessage {
  return { name: `m.${i}`, tags: ['a:b'], type: 1, scope: 2, value: { kind: 'gauge', value: i + 0.5 } };
}

/** A standard grpc-js client for forwardrpc.Forward (interop with the usual gRPC stack). */
const GrpcForwardClient = makeGenericClientConstructor(forwardServiceDefinition, 'Forward');
interface GrpcForward {
  SendMetricsV2(cb: (err: ServiceError | null) => void): {
    write(m: MetricMessage): boolean;
    end(): void;
    cancel(): void;
  };
  SendMetrics(list: readonly MetricMessage[], cb: (err: ServiceError | null) => void): void;
  close(): void;
}

class Harness {
  readonly batches: MetricMessage[][] = [];
  readonly telemetry = new RecordingTelemetry();
  readonly server: ImportServer;
  constructor(batchSize = 1000, tls?: ImportServerTlsOptions) {
    this.server = new ImportServer({
      address: '127.0.0.1:0',
      onMetrics: (ms) => this.batches.push(ms),
      logger,
      telemetry: this.telemetry,
      batchSize,
      tls,
    });
  }
  get address(): string {
    return `127.0.0.1:${this.server.address().port}`;
  }
  get received(): MetricMessage[] {
    return this.batches.flat();
  }
  grpcClient(): GrpcForward {
    return new GrpcForwardClient(this.address, credentials.createInsecure()) as unknown as GrpcForward;
  }
}

describe('ImportServer', () => {
  let h: Harness;
  before(async () => {
    h = new Harness(100);
    await h.server.start();
    assert.ok(h.server.address().port > 0);
    assert.equal(h.server.address().host, '127.0.0.1');
  });
  after(async () => {
    await h.server.stop(Date.now() + 1000);
  });
  const reset = (): void => {
    h.batches.length = 0;
    h.telemetry.calls.length = 0;
  };

  it('accepts a SendMetricsV2 stream from a grpc-js client, in order, in batches', async () => {
    reset();
    const c = h.grpcClient();
    try {
      await new Promise<void>((resolve, reject) => {
        const call = c.SendMetricsV2((err) => (err ? reject(err) : resolve()));
        for (let i = 0; i < 250; i++) call.write(metric(i));
        call.end();
      });
    } finally {
      c.close();
    }
    // full batches as the messages come in, the rest once the reads are done (how the
    // 250 split over reads is up to the transport): never more than batchSize at once
    assert.ok(
      h.batches.every((b) => b.length > 0 && b.length <= 100),
      `batches ${h.batches.map((b) => b.length)}`,
    );
    assert.deepEqual(
      h.received,
      Array.from({ length: 250 }, (_, i) => metric(i)),
    );
    assert.equal(h.telemetry.total('worker.metrics_imported_total'), 250);
    assert.equal(h.telemetry.total('import.request_total', ['rpc:SendMetricsV2']), 1);
  });

  it('imports what a stream sent without waiting for a full batch or the end of the call', async () => {
    // a veneur-proxy keeps one stream per global open for its whole life: messages
    // held back until the 100th (or the call's end) missed their interval's flush, and
    // were lost when the global was killed after the proxy dropped its re-send copy
    reset();
    const c = h.grpcClient();
    try {
      let ended!: (err: ServiceError | null) => void;
      const settled = new Promise<ServiceError | null>((resolve) => {
        ended = resolve;
      });
      const call = c.SendMetricsV2((err) => ended(err));
      const waitFor = async (n: number): Promise<void> => {
        const until = Date.now() + 5000;
        while (h.received.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      };
      for (let i = 0; i < 3; i++) call.write(metric(i));
      await waitFor(3);
      assert.deepEqual(h.received, [metric(0), metric(1), metric(2)], 'imported while the stream is open');
      for (let i = 3; i < 5; i++) call.write(metric(i));
      await waitFor(5);
      assert.deepEqual(
        h.received,
        Array.from({ length: 5 }, (_, i) => metric(i)),
      );
      assert.equal(h.telemetry.total('worker.metrics_imported_total'), 5);
      call.end();
      assert.equal(await settled, null);
    } finally {
      c.close();
    }
    assert.equal(h.received.length, 5, 'nothing delivered twice at the end of the call');
  });

  it('accepts the unary SendMetrics (MetricList) from a grpc-js client', async () => {
    reset();
    const c = h.grpcClient();
    const list = Array.from({ length: 150 }, (_, i) => metric(i));
    try {
      await new Promise<void>((resolve, reject) =>
        c.SendMetrics(list, (err) => (err ? reject(err) : resolve())),
      );
    } finally {
      c.close();
    }
    assert.deepEqual(h.received, list);
    assert.deepEqual(
      h.batches.map((b) => b.length),
      [100, 50],
    );
    assert.equal(h.telemetry.total('import.request_total', ['rpc:SendMetrics']), 1);
  });

  it('receives the golden Go messages sent by our client unchanged', async () => {
    reset();
    const msgs = golden();
    const c = new ForwardClient({ address: h.address, logger });
    try {
      await c.sendMetricsV2(msgs, AbortSignal.timeout(10_000));
    } finally {
      await c.close();
    }
    assert.deepEqual(
      h.received,
      msgs.map((b) => decodeMetric(b)),
    );
  });

  it('skips and counts a message that does not decode, keeping the rest of the stream', async () => {
    reset();
    const c = new ForwardClient({ address: h.address, logger });
    try {
      const s = c.openStream();
      s.write(encodeMetric(metric(1)));
      s.write(new Uint8Array([0x0a, 0x05, 0x61])); // name claims 5 bytes, has 1
      s.write(encodeMetric(metric(2)));
      await s.end();
    } finally {
      await c.close();
    }
    assert.deepEqual(h.received, [metric(1), metric(2)]);
    assert.equal(h.telemetry.total('import.errors_total', ['cause:decode']), 1);
  });

  it('answers INVALID_ARGUMENT to a malformed MetricList', async () => {
    reset();
    const c = h.grpcClient();
    // Bypass the serializer: a raw call with a truncated list.
    const raw = c as unknown as {
      makeUnaryRequest(
        path: string,
        ser: (b: Buffer) => Buffer,
        de: (b: Buffer) => object,
        arg: Buffer,
        cb: (err: ServiceError | null) => void,
      ): void;
    };
    try {
      const err = await new Promise<ServiceError | null>((resolve) =>
        raw.makeUnaryRequest(
          '/forwardrpc.Forward/SendMetrics',
          (b) => b,
          () => ({}),
          Buffer.from([0x0a, 0x10, 0x0a]),
          resolve,
        ),
      );
      assert.equal(err?.code, status.INVALID_ARGUMENT);
    } finally {
      c.close();
    }
    assert.equal(h.received.length, 0);
  });

  it('keeps what arrived before a client cancels', async () => {
    reset();
    const c = h.grpcClient();
    try {
      const err = await new Promise<ServiceError | null>((resolve) => {
        const call = c.SendMetricsV2(resolve);
        for (let i = 0; i < 30; i++) call.write(metric(i));
        setTimeout(() => call.cancel(), 100);
      });
      assert.equal(err?.code, status.CANCELLED);
    } finally {
      c.close();
    }
    for (let i = 0; i < 50 && h.received.length < 30; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(h.received.length, 30);
  });

  it('counts a throwing callback and keeps serving', async () => {
    const t = new RecordingTelemetry();
    const s = new ImportServer({
      address: '127.0.0.1:0',
      onMetrics: () => {
        throw new Error('boom');
      },
      logger,
      telemetry: t,
    });
    await s.start();
    const c = new ForwardClient({ address: `127.0.0.1:${s.address().port}`, logger });
    try {
      await c.sendMetricsV2([encodeMetric(metric(1))], AbortSignal.timeout(5000));
      await c.sendMetricsV2([encodeMetric(metric(2))], AbortSignal.timeout(5000));
    } finally {
      await c.close();
      await s.stop(Date.now() + 1000);
    }
    assert.equal(t.total('import.errors_total', ['cause:import']), 2);
  });
});

describe('ImportServer lifecycle', () => {
  it('stop is idempotent and safe without start', async () => {
    const s = new ImportServer({
      address: '127.0.0.1:0',
      onMetrics: () => {},
      logger,
      telemetry: new RecordingTelemetry(),
    });
    await s.stop(Date.now() + 100);
    await s.stop(Date.now() + 100);
  });

  it('fails start on an address in use', async () => {
    const a = new ImportServer({
      address: '127.0.0.1:0',
      onMetrics: () => {},
      logger,
      telemetry: new RecordingTelemetry(),
    });
    await a.start();
    const b = new ImportServer({
      address: `127.0.0.1:${a.address().port}`,
      onMetrics: () => {},
      logger,
      telemetry: new RecordingTelemetry(),
    });
    try {
      await assert.rejects(b.start(), /grpc_address/);
    } finally {
      await b.stop(Date.now());
      await a.stop(Date.now() + 1000);
    }
  });

  it('forces shutdown at the deadline when a stream never ends', async () => {
    const h = new Harness();
    await h.server.start();
    // a bare HTTP/2 client that keeps sending and ignores the answer (our ForwardClient
    // closes its side as soon as the draining status arrives)
    const session = http2.connect(`http://${h.address}`);
    session.on('error', () => {});
    const req = session.request({
      ':method': 'POST',
      ':path': SEND_METRICS_V2_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    req.on('error', () => {});
    req.on('data', () => {});
    const closed = new Promise<void>((r) => req.on('close', () => r()));
    const body = encodeMetric(metric(1));
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    req.write(frame);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await h.server.stop(Date.now() + 300);
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 3000, `stopped after ${took} ms`);
    await closed;
    session.destroy();
    assert.deepEqual(h.received, [metric(1)]);
  });

  it('a stop answers our client at once, so the graceful stop does not wait for the deadline', async () => {
    const h = new Harness();
    await h.server.start();
    const c = new ForwardClient({ address: h.address, logger });
    const s = c.openStream();
    s.write(encodeMetric(metric(1)));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await h.server.stop(Date.now() + 3000);
    const took = Date.now() - t0;
    assert.ok(took < 2000, `stopped after ${took} ms`);
    const err = (await s.closed) as ForwardError;
    assert.ok(err instanceof ForwardError);
    assert.ok(err.grpcMessage.startsWith(DRAINING_MESSAGE), err.grpcMessage);
    assert.match(err.grpcMessage, /received=1$/);
    await c.close();
    assert.deepEqual(h.received, [metric(1)]);
  });
});

describe('ImportServer over mTLS', { skip: hasOpenssl() ? false : 'openssl CLI not available' }, () => {
  let pki: TestPki;
  let h: Harness;
  before(async () => {
    pki = makeTestPki();
    h = new Harness(1000, {
      certFile: join(pki.dir, 'server.pem'),
      keyFile: join(pki.dir, 'server.key'),
      caFile: join(pki.dir, 'ca.pem'),
    });
    await h.server.start();
  });
  after(async () => {
    await h?.server.stop(Date.now() + 1000);
    pki?.cleanup();
  });

  it('accepts our client with a client certificate', async () => {
    const f = (n: string): string => join(pki.dir, n);
    const c = new ForwardClient({
      address: h.address,
      tls: {
        caFile: f('ca.pem'),
        certFile: f('client.pem'),
        keyFile: f('client.key'),
        serverName: 'localhost',
      },
      logger,
    });
    try {
      await c.sendMetricsV2([encodeMetric(metric(7))], AbortSignal.timeout(5000));
    } finally {
      await c.close();
    }
    assert.deepEqual(h.received, [metric(7)]);
  });
});

describe('MetricList codec', () => {
  it('round-trips and reports bad elements', () => {
    const list = [metric(1), metric(2)];
    assert.deepEqual(decodeMetricList(encodeMetricList(list)), {
      metrics: list,
      errors: 0,
      malformed: false,
    });
    const bad = Buffer.concat([encodeMetricList([metric(1)]), Buffer.from([0x0a, 0x02, 0x0a, 0x09])]);
    assert.deepEqual(decodeMetricList(bad), { metrics: [metric(1)], errors: 1, malformed: false });
    assert.equal(decodeMetricList(Buffer.from([0x0a, 0x7f])).malformed, true);
    // unknown fields are skipped
    const extra = Buffer.concat([
      Buffer.from([0x10, 0x96, 0x01, 0x1a, 0x01, 0x00]),
      encodeMetricList([metric(3)]),
    ]);
    assert.deepEqual(decodeMetricList(extra).metrics, [metric(3)]);
  });
});
