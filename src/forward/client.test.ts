import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Server,
  ServerCredentials,
  type ServerErrorResponse,
  type ServerReadableStream,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { pino } from 'pino';
import { hasOpenssl, makeTestPki, type TestPki } from '../../test/helpers/tls-certs.js';
import { decodeMetric, encodeMetric } from '../protocol/forward/metricpb.js';
import { ForwardClient, ForwardError, SEND_METRICS_V2_PATH } from './client.js';

const logger = pino({ level: 'silent' });
const FIXTURES = new URL('../../test/fixtures/forward-from-go/', import.meta.url);

type Mode = 'ok' | 'hang' | (Partial<ServerErrorResponse> & { code: number });

/**
 * A grpc-js server for SendMetricsV2 that keeps each message's raw bytes (identity
 * deserializer), so the test sees exactly what went over the wire.
 */
/** SendMetricsV2 with raw bytes in and an empty reply out (the test servers decode nothing). */
const RAW_SEND_METRICS_V2 = {
  SendMetricsV2: {
    path: SEND_METRICS_V2_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => Buffer.from(b),
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: () => ({}),
  },
};

class RawServer {
  readonly server = new Server();
  readonly calls: Buffer[][] = [];
  mode: Mode = 'ok';
  port = 0;
  readonly hanging: ServerReadableStream<Buffer, object>[] = [];

  async start(port = 0, creds = ServerCredentials.createInsecure()): Promise<this> {
    this.server.addService(RAW_SEND_METRICS_V2, {
      SendMetricsV2: (call: ServerReadableStream<Buffer, object>, cb: sendUnaryData<object>) => {
        const got: Buffer[] = [];
        this.calls.push(got);
        call.on('data', (b: Buffer) => got.push(b));
        call.on('end', () => {
          const mode = this.mode;
          if (mode === 'hang') this.hanging.push(call);
          else if (mode === 'ok') cb(null, {});
          else cb(mode);
        });
      },
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
    return this;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function rejectsWith(p: Promise<unknown>, cause: string): Promise<ForwardError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ForwardError, `not a ForwardError: ${String(err)}`);
    assert.equal(err.cause, cause, err.message);
    return err;
  }
  assert.fail(`expected a ${cause} rejection`);
}

function messages(n: number, prefix = 'm'): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      encodeMetric({
        name: `${prefix}.${i}`,
        tags: [`i:${i}`],
        type: 0,
        scope: 2,
        value: { kind: 'counter', value: i },
      }),
    );
  }
  return out;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const timeout = (ms = 10_000): AbortSignal => AbortSignal.timeout(ms);

describe('ForwardClient', () => {
  let srv: RawServer;
  let client: ForwardClient;
  before(async () => {
    srv = await new RawServer().start();
    client = new ForwardClient({ address: srv.address, logger });
  });
  after(async () => {
    await client.close();
    srv.stop();
  });

  it('delivers messages intact and in order, including one larger than a write chunk', async () => {
    srv.calls.length = 0;
    const big = encodeMetric({
      name: 'big',
      tags: [],
      type: 3,
      scope: 0,
      value: { kind: 'set', hll: new Uint8Array(200_000).fill(7) },
    });
    const msgs = [...messages(500, 'a'), big, ...messages(500, 'b'), new Uint8Array(0)];
    await client.sendMetricsV2(msgs, timeout());
    assert.equal(srv.calls.length, 1);
    assert.deepEqual(srv.calls[0].map(hex), msgs.map(hex));
  });

  it('delivers the golden Go messages byte for byte', async () => {
    srv.calls.length = 0;
    const golden = readFileSync(new URL('messages.jsonl', FIXTURES), 'utf8')
      .trim()
      .split('\n')
      .map((l) => new Uint8Array(Buffer.from((JSON.parse(l) as { b64: string }).b64, 'base64')));
    await client.sendMetricsV2(golden, timeout());
    assert.deepEqual(srv.calls[0].map(hex), golden.map(hex));
  });

  it('streams 100k messages', async () => {
    srv.calls.length = 0;
    const msgs = messages(100_000);
    await client.sendMetricsV2(msgs, timeout(30_000));
    const got = srv.calls[0];
    assert.equal(got.length, 100_000);
    assert.equal(decodeMetric(got[0]).name, 'm.0');
    assert.equal(decodeMetric(got[99_999]).name, 'm.99999');
    assert.equal(hex(got[54_321]), hex(msgs[54_321]));
  });

  it('sends nothing for zero messages', async () => {
    srv.calls.length = 0;
    await client.sendMetricsV2([], timeout());
    assert.equal(srv.calls.length, 0);
  });

  it('maps a grpc-status to status_<code> with the decoded grpc-message', async () => {
    srv.mode = { code: status.RESOURCE_EXHAUSTED, details: 'too many metrics: 100% über' };
    try {
      const err = await rejectsWith(client.sendMetricsV2(messages(3), timeout()), 'status_8');
      assert.equal(err.grpcCode, 8);
      assert.equal(err.grpcMessage, 'too many metrics: 100% über');
      // the connection is fine: the next call succeeds on it
      srv.mode = 'ok';
      await client.sendMetricsV2(messages(3), timeout());
    } finally {
      srv.mode = 'ok';
    }
  });

  it('gets status_12 from a server without the service', async () => {
    const empty = new Server();
    const port = await new Promise<number>((resolve, reject) =>
      empty.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const c = new ForwardClient({ address: `127.0.0.1:${port}`, logger });
    try {
      await rejectsWith(c.sendMetricsV2(messages(2), timeout()), 'status_12');
    } finally {
      await c.close();
      empty.forceShutdown();
    }
  });

  it('aborts a call the server never answers with deadline_exceeded, then recovers', async () => {
    srv.mode = 'hang';
    try {
      const t0 = Date.now();
      const err = await rejectsWith(
        client.sendMetricsV2(messages(10), AbortSignal.timeout(200)),
        'deadline_exceeded',
      );
      assert.equal(err.grpcCode, 4);
      assert.ok(Date.now() - t0 < 2000, 'aborted promptly');
      await rejectsWith(client.sendMetricsV2(messages(1), AbortSignal.abort()), 'deadline_exceeded');
    } finally {
      srv.mode = 'ok';
    }
    await client.sendMetricsV2(messages(3), timeout());
  });

  it('reports a refused connection as unavailable', async () => {
    const c = new ForwardClient({ address: `127.0.0.1:${await freePort()}`, logger });
    try {
      const err = await rejectsWith(c.sendMetricsV2(messages(2), timeout()), 'unavailable');
      assert.equal(err.grpcCode, 14);
    } finally {
      await c.close();
    }
  });

  it('reconnects after the server restarts', async () => {
    const s1 = await new RawServer().start();
    const port = s1.port;
    const c = new ForwardClient({ address: `127.0.0.1:${port}`, logger });
    try {
      await c.sendMetricsV2(messages(5), timeout());
      assert.equal(s1.calls.length, 1);
      s1.stop();
      await rejectsWith(c.sendMetricsV2(messages(5), timeout()), 'unavailable');
      const s2 = await new RawServer().start(port);
      try {
        await c.sendMetricsV2(messages(5), timeout());
        assert.equal(s2.calls.length, 1);
        assert.equal(s2.calls[0].length, 5);
      } finally {
        s2.stop();
      }
    } finally {
      await c.close();
    }
  });

  it('finishes a call in flight when the server shuts down gracefully (GOAWAY), then redials', async () => {
    const s1 = await new RawServer().start();
    const c = new ForwardClient({ address: s1.address, logger });
    try {
      await c.sendMetricsV2(messages(1), timeout()); // connection established
      const stream = c.openStream();
      for (const m of messages(10)) stream.write(m);
      await new Promise((r) => setTimeout(r, 50));
      const shut = new Promise<void>((r) => s1.server.tryShutdown(() => r()));
      await stream.end();
      await shut;
      assert.equal(s1.calls[1].length, 10);
      await rejectsWith(c.sendMetricsV2(messages(1), timeout()), 'unavailable');
    } finally {
      await c.close();
      s1.stop();
    }
  });

  it('exposes a stream with back-pressure, end() and closed', async () => {
    srv.calls.length = 0;
    const stream = client.openStream();
    let waits = 0;
    for (const m of messages(50_000)) {
      if (!stream.write(m)) {
        waits++;
        await stream.drained();
      }
    }
    await stream.end();
    assert.equal(await stream.closed, null);
    assert.equal(srv.calls[0].length, 50_000);
    assert.ok(waits > 0, 'write() reported back-pressure at least once');
    // writes after the end are refused
    assert.equal(stream.write(new Uint8Array(1)), false);
  });

  it('destroy() cancels the call and resolves closed with the error', async () => {
    const stream = client.openStream();
    stream.write(messages(1)[0]);
    const why = new ForwardError('send', 1, 'test cancel');
    stream.destroy(why);
    assert.equal(await stream.closed, why);
    await assert.rejects(stream.end(), (e) => e === why);
    // the client still works
    await client.sendMetricsV2(messages(2), timeout());
  });

  it('settles closed as soon as the server answers a stream it has not seen end', async () => {
    // like a global that stops gracefully: it answers its open streams at once and only
    // later closes the connection; a proxy must learn it then, not at the connection's end
    const server = new Server();
    let answered = 0;
    server.addService(RAW_SEND_METRICS_V2, {
      SendMetricsV2: (call: ServerReadableStream<Buffer, object>, cb: sendUnaryData<object>) => {
        call.once('data', () => {
          answered = Date.now();
          cb({ code: status.UNAVAILABLE, details: 'draining received=1' });
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const c = new ForwardClient({ address: `127.0.0.1:${port}`, logger });
    try {
      const stream = c.openStream();
      stream.write(messages(1)[0]);
      const closed = await Promise.race([
        stream.closed,
        new Promise<'pending'>((r) => setTimeout(() => r('pending'), 3000)),
      ]);
      assert.ok(closed instanceof ForwardError, `closed: ${String(closed)}`);
      assert.equal(closed.cause, 'status_14');
      assert.equal(closed.grpcMessage, 'draining received=1');
      assert.ok(Date.now() - answered < 1000, `settled ${Date.now() - answered} ms after the answer`);
      assert.equal(stream.write(messages(1)[0]), false, 'no writes into an answered call');
      // the connection stays usable
      const again = c.openStream();
      again.write(messages(1)[0]);
      assert.equal(((await again.closed) as ForwardError).cause, 'status_14');
    } finally {
      await c.close();
      server.forceShutdown();
    }
  });

  it('fails calls after close() with unavailable', async () => {
    const c = new ForwardClient({ address: srv.address, logger });
    await c.sendMetricsV2(messages(1), timeout());
    await c.close();
    await rejectsWith(c.sendMetricsV2(messages(1), timeout()), 'unavailable');
  });

  it('rejects an address without a port', () => {
    assert.throws(() => new ForwardClient({ address: 'localhost', logger }), /host:port/);
  });

  it('does not keep the process alive while idle', async () => {
    const clientPath = fileURLToPath(new URL('./client.ts', import.meta.url));
    const script = `
      import { ForwardClient } from ${JSON.stringify(clientPath)};
      const c = new ForwardClient({ address: ${JSON.stringify(srv.address)}, logger: { debug() {} } });
      await c.sendMetricsV2([new Uint8Array([10, 1, 120])], AbortSignal.timeout(5000));
      console.log('sent');
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { timeout: 15_000, cwd: join(fileURLToPath(new URL('.', import.meta.url)), '../..') },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    assert.equal(out.trim(), 'sent');
  });
});

describe('ForwardClient over mTLS', { skip: hasOpenssl() ? false : 'openssl CLI not available' }, () => {
  let pki: TestPki;
  let srv: RawServer;
  before(async () => {
    pki = makeTestPki();
    srv = await new RawServer().start(
      0,
      ServerCredentials.createSsl(
        Buffer.from(pki.caCert),
        [{ private_key: Buffer.from(pki.serverKey), cert_chain: Buffer.from(pki.serverCert) }],
        true,
      ),
    );
  });
  after(() => {
    srv?.stop();
    pki?.cleanup();
  });
  const f = (name: string): string => join(pki.dir, name);

  it('sends with a client certificate signed by the CA the server trusts', async () => {
    const c = new ForwardClient({
      address: srv.address,
      tls: {
        caFile: f('ca.pem'),
        certFile: f('client.pem'),
        keyFile: f('client.key'),
        serverName: 'localhost',
      },
      logger,
    });
    try {
      await c.sendMetricsV2(messages(20), timeout());
      assert.equal(srv.calls.at(-1)?.length, 20);
    } finally {
      await c.close();
    }
  });

  it('is unavailable without a client certificate, with a foreign one, or with the wrong server name', async () => {
    const cases = [
      { caFile: f('ca.pem'), certFile: '', keyFile: '', serverName: 'localhost' },
      {
        caFile: f('ca.pem'),
        certFile: f('other-client.pem'),
        keyFile: f('other-client.key'),
        serverName: 'localhost',
      },
      {
        caFile: f('ca.pem'),
        certFile: f('client.pem'),
        keyFile: f('client.key'),
        serverName: 'not-the-server',
      },
      {
        caFile: f('other-ca.pem'),
        certFile: f('client.pem'),
        keyFile: f('client.key'),
        serverName: 'localhost',
      },
    ];
    for (const tls of cases) {
      const c = new ForwardClient({ address: srv.address, tls, logger });
      try {
        await rejectsWith(c.sendMetricsV2(messages(2), timeout()), 'unavailable');
      } finally {
        await c.close();
      }
    }
  });

  it('a plaintext client against the TLS server is unavailable', async () => {
    const c = new ForwardClient({ address: srv.address, logger });
    try {
      await rejectsWith(c.sendMetricsV2(messages(2), timeout(5000)), 'unavailable');
    } finally {
      await c.close();
    }
  });
});
