import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addr, recordingListener, silentLogger, waitFor } from '../../test/helpers/stream-listener.js';
import { RecordingTelemetry } from '../telemetry/types.js';
import { createStreamListener, type StreamListener, TcpListener } from './stream.js';

const toStop: StreamListener[] = [];
afterEach(async () => {
  for (const l of toStop.splice(0)) await l.stop(Date.now() + 1000);
});

async function tcp(extra: Parameters<typeof recordingListener>[2] = {}) {
  const telemetry = new RecordingTelemetry();
  const { listener, lines } = recordingListener('tcp://127.0.0.1:0', telemetry, extra);
  toStop.push(listener);
  await listener.start();
  assert.ok(listener instanceof TcpListener);
  const { port } = listener.address();
  return { listener, lines, telemetry, port };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => {
      c.off('error', reject);
      resolve(c);
    });
    c.once('error', reject);
    c.setNoDelay(true);
  });
}

function write(c: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => c.write(data, (err) => (err ? reject(err) : resolve())));
}

function closed(c: net.Socket): Promise<void> {
  return new Promise((resolve) => (c.closed ? resolve() : c.once('close', () => resolve())));
}

describe('TCP listener', () => {
  it('delivers several lines written at once', async () => {
    const { lines, port } = await tcp();
    const c = await connect(port);
    await write(c, 'a:1|c\nb:2|g|#x:y\nc:3|ms|@0.5\n');
    await waitFor(() => lines.length === 3, '3 lines');
    assert.deepEqual(lines, ['a:1|c', 'b:2|g|#x:y', 'c:3|ms|@0.5']);
    c.destroy();
  });

  it('reassembles a line split across writes at every byte position', async () => {
    const { lines, port } = await tcp();
    const c = await connect(port);
    const line = 'split.metric:42|c|#tag:v\r';
    const want: string[] = [];
    for (let i = 0; i <= line.length; i++) {
      await write(c, line.slice(0, i));
      await sleep(2); // separate segments, not coalesced by the client
      await write(c, `${line.slice(i)}\n`);
      want.push(line.slice(0, -1));
    }
    await waitFor(() => lines.length === want.length, `${want.length} lines`);
    assert.deepEqual(lines, want);
    c.destroy();
  });

  it('handles \\r\\n endings and ignores empty lines', async () => {
    const { lines, port } = await tcp();
    const c = await connect(port);
    await write(c, 'a:1|c\r\n\r\n\n\nb:1|c\r\n');
    await waitFor(() => lines.length === 2, '2 lines');
    await sleep(20);
    assert.deepEqual(lines, ['a:1|c', 'b:1|c']);
    c.destroy();
  });

  it('delivers a final line without newline when the client closes', async () => {
    const { lines, port } = await tcp();
    const c = await connect(port);
    c.end('first:1|c\nlast:1|c');
    await waitFor(() => lines.length === 2, '2 lines');
    assert.deepEqual(lines, ['first:1|c', 'last:1|c']);
  });

  it('drops and counts an over-long line; the connection stays open and the next line arrives', async () => {
    const { lines, port, telemetry } = await tcp({ maxLineLength: 100 });
    const c = await connect(port);
    await write(c, `before:1|c\n${'x'.repeat(60)}`);
    await sleep(5);
    await write(c, `${'x'.repeat(60)}:1|c\nafter:1|c\n`);
    await waitFor(() => lines.length === 2, '2 lines');
    assert.deepEqual(lines, ['before:1|c', 'after:1|c']);
    assert.equal(
      telemetry.total('packet.error_total', ['packet_type:unknown', 'reason:toolong', 'cause:toolong']),
      1,
    );
    await write(c, 'still:1|c\n');
    await waitFor(() => lines.length === 3, '3rd line');
    assert.equal(c.destroyed, false);
    c.destroy();
  });

  it('the default cap is 64 KiB: a 65536-byte line passes, a longer one is dropped', async () => {
    const { lines, port, telemetry } = await tcp();
    const c = await connect(port);
    const ok = `${'a'.repeat(65536 - 4)}:1|c`;
    await write(c, `${ok}\n${'b'.repeat(65537)}\nnext:1|c\n`);
    await waitFor(() => lines.length === 2, '2 lines');
    assert.equal(lines[0], ok);
    assert.equal(lines[1], 'next:1|c');
    assert.equal(telemetry.total('packet.error_total', ['reason:toolong']), 1);
    c.destroy();
  });

  it('passes bad lines through without closing the connection (the aggregator counts them)', async () => {
    const { lines, port } = await tcp();
    const c = await connect(port);
    await write(c, Buffer.from('garbage\xff\x00line\nok:1|c\n', 'latin1'));
    await waitFor(() => lines.length === 2, '2 lines');
    assert.deepEqual(lines, ['garbage\xff\x00line', 'ok:1|c']);
    assert.equal(c.destroyed, false);
    c.destroy();
  });

  it('closes an idle connection after idleTimeoutMs and drops its unfinished line', async () => {
    const { lines, port, telemetry } = await tcp({ idleTimeoutMs: 150 });
    const c = await connect(port);
    await write(c, 'x:1|c\npartial:1');
    const t0 = Date.now();
    await closed(c);
    assert.ok(Date.now() - t0 >= 100, `closed after ${Date.now() - t0} ms`);
    assert.deepEqual(lines, ['x:1|c']);
    await waitFor(() => telemetry.total('tcp.disconnects') === 1, 'disconnect counted');
  });

  it('keeps a connection that sends data within the idle timeout', async () => {
    const { lines, port } = await tcp({ idleTimeoutMs: 200 });
    const c = await connect(port);
    for (let i = 0; i < 5; i++) {
      await write(c, `tick:${i}|c\n`);
      await sleep(80);
    }
    assert.equal(c.destroyed, false);
    assert.equal(lines.length, 5);
    c.destroy();
  });

  it('counts tcp.connects and tcp.disconnects', async () => {
    const { port, telemetry } = await tcp();
    const a = await connect(port);
    const b = await connect(port);
    await waitFor(() => telemetry.total('tcp.connects') === 2, '2 connects');
    assert.equal(telemetry.total('tcp.disconnects'), 0);
    a.destroy();
    await waitFor(() => telemetry.total('tcp.disconnects') === 1, '1 disconnect');
    b.end();
    await waitFor(() => telemetry.total('tcp.disconnects') === 2, '2 disconnects');
  });

  it('stop() delivers complete lines already sent, closes connections, is idempotent', async () => {
    const { listener, lines, port, telemetry } = await tcp();
    const c = await connect(port);
    // written to the kernel, not yet read by the server when stop() begins
    await write(c, 'a:1|c\nb:1|c\nunfinished:1');
    await Promise.all([listener.stop(Date.now() + 1000), listener.stop(Date.now() + 1000)]);
    assert.deepEqual(lines, ['a:1|c', 'b:1|c']);
    await closed(c);
    assert.equal(telemetry.total('tcp.disconnects'), 1);
    await listener.stop(Date.now() + 1000);
    await assert.rejects(connect(port));
  });

  it('stop() without start() is fine; address() before start() throws', async () => {
    const { listener } = recordingListener('tcp://127.0.0.1:0', new RecordingTelemetry());
    await listener.stop(Date.now());
    assert.throws(() => listener.address(), /not started/);
  });

  it('listens on all interfaces with an empty host', async () => {
    const telemetry = new RecordingTelemetry();
    const { listener, lines } = recordingListener('tcp4://:0', telemetry);
    toStop.push(listener);
    await listener.start();
    const { host, port } = (listener as TcpListener).address();
    assert.equal(host, '0.0.0.0');
    const c = await connect(port);
    c.end('all:1|c\n');
    await waitFor(() => lines.length === 1, '1 line');
  });

  it('fails start() with a clear error when the port is taken', async () => {
    const { port } = await tcp();
    const { listener } = recordingListener(`tcp://127.0.0.1:${port}`, new RecordingTelemetry());
    await assert.rejects(listener.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_LISTEN');
      assert.match(err.message, /cannot listen on tcp:\/\/127\.0\.0\.1:\d+: .*EADDRINUSE/);
      return true;
    });
    await listener.stop(Date.now());
  });

  it('createStreamListener refuses datagram and mismatched addresses', () => {
    const opts = { onLine: () => {}, logger: silentLogger, telemetry: new RecordingTelemetry() };
    assert.throws(() => createStreamListener(addr('unixgram:///tmp/x.sock'), opts), /not a stream transport/);
    assert.throws(() => createStreamListener(addr('udp://127.0.0.1:0'), opts), /not a stream transport/);
    assert.throws(() => createStreamListener(addr('tcp4://[::1]:0'), opts), /IPv4/);
    assert.throws(
      () => createStreamListener(addr('tcp://127.0.0.1:0'), { ...opts, maxLineLength: 0 }),
      RangeError,
    );
  });
});
