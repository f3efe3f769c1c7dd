import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { captureLogger } from '../../test/helpers/sink-context.js';
import { recordingListener, waitFor } from '../../test/helpers/stream-listener.js';
import { hasOpenssl, makeTestPki, type TestPki } from '../../test/helpers/tls-certs.js';
import { RecordingTelemetry } from '../telemetry/types.js';
import type { StreamListener, StreamTlsOptions, TcpListener } from './stream.js';

describe('TLS listener', () => {
  it('has the openssl CLI to make test certificates (Debian package openssl, installed by .ci/run)', () => {
    assert.ok(hasOpenssl());
  });

  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki?.cleanup());

  const toStop: StreamListener[] = [];
  afterEach(async () => {
    for (const l of toStop.splice(0)) await l.stop(Date.now() + 1000);
  });

  async function server(withCa: boolean, extra: { idleTimeoutMs?: number; logger?: Logger } = {}) {
    const telemetry = new RecordingTelemetry();
    const tlsOpts: StreamTlsOptions = withCa
      ? { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert }
      : { key: pki.serverKey, cert: pki.serverCert };
    const { listener, lines } = recordingListener('tcp://127.0.0.1:0', telemetry, { tls: tlsOpts, ...extra });
    toStop.push(listener);
    await listener.start();
    return { lines, telemetry, port: (listener as TcpListener).address().port };
  }

  /**
   * Connect, send `data` once the client considers the handshake done, then wait for the
   * connection to end either way. With TLS 1.3 the client finishes its side before the
   * server has checked the client certificate, so a refusal shows up as an alert or reset.
   */
  function session(
    port: number,
    client: { key?: string; cert?: string },
    data: string,
    end = true,
  ): Promise<{ secure: boolean; error: Error | null }> {
    return new Promise((resolve) => {
      let secure = false;
      let error: Error | null = null;
      const c = tls.connect({ host: '127.0.0.1', port, ca: pki.caCert, ...client }, () => {
        secure = true;
        if (end) c.end(data);
        else c.write(data); // and wait for the server's verdict
      });
      c.on('data', () => {});
      c.on('error', (err) => {
        error = err;
      });
      c.on('close', () => resolve({ secure, error }));
    });
  }

  it('accepts a client certificate signed by the CA and delivers its lines', async () => {
    const { lines, telemetry, port } = await server(true);
    const r = await session(port, { key: pki.clientKey, cert: pki.clientCert }, 'tls:1|c\nlast:2|c');
    assert.equal(r.error, null);
    await waitFor(() => lines.length === 2, '2 lines');
    assert.deepEqual(lines, ['tls:1|c', 'last:2|c']);
    await waitFor(() => telemetry.total('tcp.disconnects') === 1, 'disconnect');
    assert.equal(telemetry.total('tcp.connects'), 1);
    assert.equal(telemetry.total('tcp.tls_handshake_failures'), 0);
  });

  // Without a certificate OpenSSL fails the handshake (the client gets a TLS alert); a
  // certificate that does not verify is refused by Node right after the handshake by
  // closing the connection, and the server logs the verification error as `reason`.
  for (const [what, client, reason] of [
    ['no client certificate', () => ({}), /peer did not return a certificate/],
    [
      'a client certificate from another CA',
      () => ({ key: pki.otherClientKey, cert: pki.otherClientCert }),
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    ],
    [
      'an expired client certificate',
      () => ({ key: pki.clientKey, cert: pki.expiredClientCert }),
      /CERT_HAS_EXPIRED/,
    ],
  ] as const) {
    it(`refuses ${what} and counts the handshake failure`, async () => {
      const { logger, lines: logs } = captureLogger();
      const { lines, telemetry, port } = await server(true, { logger });
      // not ending: the session is over only when the server closes the connection
      await session(port, client(), 'sneaky:1|c\n', false);
      await waitFor(() => logs.some((l) => l.msg === 'TLS handshake failed'), 'failure logged');
      const failure = logs.find((l) => l.msg === 'TLS handshake failed')!;
      const err = failure.err as { message: string };
      assert.match(`${err.message} ${String(failure.reason)}`, reason);
      await waitFor(() => telemetry.total('tcp.tls_handshake_failures') === 1, 'handshake failure counted');
      await waitFor(() => telemetry.total('tcp.disconnects') === 1, 'disconnect counted');
      assert.equal(telemetry.total('tcp.connects'), 1);
      assert.deepEqual(lines, []);
    });
  }

  it('without a CA accepts clients that present no certificate', async () => {
    const { lines, telemetry, port } = await server(false);
    const r = await session(port, {}, 'open:1|c\n');
    assert.equal(r.error, null);
    await waitFor(() => lines.length === 1, '1 line');
    assert.deepEqual(lines, ['open:1|c']);
    assert.equal(telemetry.total('tcp.tls_handshake_failures'), 0);
  });

  it('stop() delivers complete lines and closes open TLS connections', async () => {
    const telemetry = new RecordingTelemetry();
    const { listener, lines } = recordingListener('tcp://127.0.0.1:0', telemetry, {
      tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert },
    });
    toStop.push(listener);
    await listener.start();
    const port = (listener as TcpListener).address().port;
    const c = tls.connect({
      host: '127.0.0.1',
      port,
      ca: pki.caCert,
      key: pki.clientKey,
      cert: pki.clientCert,
    });
    c.on('error', () => {});
    const closed = new Promise((resolve) => c.once('close', resolve));
    await new Promise((resolve) => c.once('secureConnect', resolve));
    c.write('kept:1|c\n');
    await waitFor(() => lines.length === 1, 'first line');
    await new Promise<void>((resolve) => c.write('also:1|c\nhalf', () => resolve()));
    await listener.stop(Date.now() + 1000);
    assert.deepEqual(lines, ['kept:1|c', 'also:1|c']);
    await closed;
    await waitFor(() => telemetry.total('tcp.disconnects') === 1, 'disconnect');
  });

  it('stop() closes a connection that is still in its handshake', async () => {
    const telemetry = new RecordingTelemetry();
    const { listener } = recordingListener('tcp://127.0.0.1:0', telemetry, {
      tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert },
    });
    toStop.push(listener);
    await listener.start();
    const net = await import('node:net');
    const c = net.connect({ host: '127.0.0.1', port: (listener as TcpListener).address().port });
    c.on('error', () => {});
    const closed = new Promise((resolve) => c.once('close', resolve));
    await waitFor(() => telemetry.total('tcp.connects') === 1, 'connect');
    const t0 = Date.now();
    await listener.stop(Date.now() + 1000);
    assert.ok(Date.now() - t0 < 500, `stop took ${Date.now() - t0} ms`);
    await closed;
    await waitFor(() => telemetry.total('tcp.disconnects') === 1, 'disconnect');
  });

  it('counts a plain-text client as a handshake failure', async () => {
    const { lines, telemetry, port } = await server(false);
    const net = await import('node:net');
    const c = net.connect({ host: '127.0.0.1', port }, () => c.write('plain:1|c\n'));
    c.on('error', () => {});
    await waitFor(() => telemetry.total('tcp.tls_handshake_failures') === 1, 'handshake failure');
    await waitFor(() => telemetry.total('tcp.disconnects') === 1, 'disconnect');
    assert.deepEqual(lines, []);
    c.destroy();
  });

  it('times out a client that never completes the handshake', async () => {
    const { telemetry, port } = await server(true, { idleTimeoutMs: 150 });
    const net = await import('node:net');
    const c = net.connect({ host: '127.0.0.1', port });
    c.on('error', () => {});
    await new Promise((resolve) => c.once('close', resolve));
    assert.equal(telemetry.total('tcp.tls_handshake_failures'), 1);
    await waitFor(() => telemetry.total('tcp.disconnects') === 1, 'disconnect');
  });
});
