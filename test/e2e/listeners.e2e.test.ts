/**
 * Every way in, end to end: TCP (a final line without a newline still counts, a bad
 * line does not close the connection), TLS with client certificates, unix stream
 * sockets, and TCP through multi-core ingest workers.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { UnixgramClient } from '../../src/ingest/unixgram.js';
import { type FakeDatadog, startFakeDatadog } from '../helpers/fake-datadog.js';
import { makeTestPki, type TestPki } from '../helpers/tls-certs.js';
import { sendUdpLines, startVeneur } from '../helpers/veneur-process.js';

const indent = (pem: string): string =>
  pem
    .trim()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

function sinkYaml(fake: FakeDatadog): string {
  return `metric_sinks:
  - kind: datadog
    name: datadog
    config: {api_key: "${fake.apiKey}", api_hostname: "${fake.url}"}
`;
}

function total(fake: FakeDatadog, metric: string, tag?: string): number {
  return fake.series
    .filter((s) => s.metric === metric && (tag === undefined || (s.tags ?? []).includes(tag)))
    .reduce((n, s) => n + s.points[0][1] * (s.interval ?? 1), 0);
}

function writeAndClose(sock: net.Socket, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.on('error', reject);
    sock.end(data, () => resolve());
  });
}

describe('statsd listeners end to end', { timeout: 90_000 }, () => {
  let fake: FakeDatadog;
  before(async () => {
    fake = await startFakeDatadog({ apiKey: 'k' });
  });
  after(async () => {
    await fake.close();
  });

  it('TCP and unix stream: final unterminated lines count, bad lines are counted and skipped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'veneur-unix-'));
    const path = join(dir, 'statsd.sock');
    const v = await startVeneur(
      `statsd_listen_addresses: [tcp://127.0.0.1:0, "unix://${path}"]\ninterval: 60s\n${sinkYaml(fake)}`,
    );
    try {
      const t = net.connect(v.tcp[0].port, '127.0.0.1');
      await new Promise((r) => t.once('connect', r));
      t.write('tcp.c:1|c\r\ntcp.c:2');
      t.write('|c\nnot a metric\ntcp.c:4|c\n');
      await writeAndClose(t, 'tcp.c:8|c'); // no trailing newline
      const u = net.connect(path);
      await new Promise((r) => u.once('connect', r));
      await writeAndClose(u, 'unix.c:5|c\nunix.c:6|c');
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      assert.equal(await v.stop(), 0);
    }
    assert.equal(total(fake, 'tcp.c'), 15);
    assert.equal(total(fake, 'unix.c'), 11);
    assert.equal(total(fake, 'veneur.packet.error_total', 'cause:no_pipe'), 1);
    assert.equal(
      total(fake, 'veneur.listen.received_per_protocol_total', 'protocol:dogstatsd-unix-stream'),
      2,
    );
    assert.ok(total(fake, 'veneur.tcp.connects') >= 1);
  });

  it('unixgram (native addon), alone and beside ingest workers; over-long datagrams are counted', async () => {
    for (const readers of [1, 2]) {
      const f4 = await startFakeDatadog({ apiKey: 'k' });
      const dir = mkdtempSync(join(tmpdir(), 'veneur-unixgram-'));
      const path = join(dir, 'statsd.sock');
      const v = await startVeneur(
        `statsd_listen_addresses: [udp://127.0.0.1:0, "unixgram://${path}"]\nnum_readers: ${readers}\nmetric_max_length: 100\ninterval: 60s\n${sinkYaml(f4)}`,
      );
      try {
        const client = new UnixgramClient(path);
        for (let i = 0; i < 20; i++) await client.send(Buffer.from('ug.c:1|c\nug.h:5|h'));
        await client.send(Buffer.from(`ug.long:1|c|#${'x'.repeat(200)}`));
        // the UDP listener (native recvmmsg reader when single-process) drops over-long datagrams too
        await sendUdpLines(v.statsd[0].port, [`udp.long:1|c|#${'y'.repeat(5000)}`], 10_000);
        await sendUdpLines(v.statsd[0].port, ['udp.ok:1|c']);
        client.close();
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        assert.equal(await v.stop(), 0);
        await f4.close();
      }
      assert.equal(total(f4, 'ug.c'), 20, `readers ${readers}`);
      assert.equal(total(f4, 'ug.h.count'), 20);
      assert.equal(total(f4, 'veneur.packet.error_total', 'reason:toolong'), 2);
      assert.equal(total(f4, 'udp.ok'), 1);
      assert.equal(total(f4, 'udp.long'), 0);
      assert.equal(total(f4, 'veneur.listen.received_per_protocol_total', 'protocol:dogstatsd-unix'), 21);
      assert.equal(existsSync(path), false, 'socket file removed at stop');
    }
  });

  it('TLS: only clients with a certificate from tls_authority_certificate get in', async (t) => {
    let pki: TestPki;
    try {
      pki = makeTestPki();
    } catch (err) {
      // CI installs openssl (.ci/run); a machine without it cannot make certificates
      assert.fail(`openssl is needed to make test certificates: ${String(err)}`);
    }
    t.after(() => pki.cleanup());
    const f2 = await startFakeDatadog({ apiKey: 'k' });
    const v = await startVeneur(`statsd_listen_addresses: [tcp://127.0.0.1:0]
interval: 60s
tls_key: |
${indent(pki.serverKey)}
tls_certificate: |
${indent(pki.serverCert)}
tls_authority_certificate: |
${indent(pki.caCert)}
${sinkYaml(f2)}`);
    const send = (opts: tls.ConnectionOptions, line: string): Promise<boolean> =>
      new Promise((resolve) => {
        const s = tls.connect({
          port: v.tcp[0].port,
          host: '127.0.0.1',
          ca: pki.caCert,
          servername: 'localhost',
          ...opts,
        });
        s.on('secureConnect', () => {
          s.end(`${line}\n`);
        });
        s.on('error', () => resolve(false));
        s.on('close', () => resolve(true));
      });
    try {
      await send({ key: pki.clientKey, cert: pki.clientCert }, 'tls.good:1|c');
      await send({}, 'tls.nocert:1|c');
      await send({ key: pki.otherClientKey, cert: pki.otherClientCert }, 'tls.wrongca:1|c');
      await send({ key: pki.clientKey, cert: pki.expiredClientCert }, 'tls.expired:1|c');
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      assert.equal(await v.stop(), 0);
      await f2.close();
    }
    assert.equal(total(f2, 'tls.good'), 1);
    assert.equal(total(f2, 'tls.nocert'), 0);
    assert.equal(total(f2, 'tls.wrongca'), 0);
    assert.equal(total(f2, 'tls.expired'), 0);
    assert.equal(total(f2, 'veneur.tcp.tls_handshake_failures'), 3);
  });

  it('TCP and unix stream through multi-core ingest workers', async () => {
    const f3 = await startFakeDatadog({ apiKey: 'k' });
    const dir = mkdtempSync(join(tmpdir(), 'veneur-unix-'));
    const path = join(dir, 'mc.sock');
    const v = await startVeneur(
      `statsd_listen_addresses: [tcp://127.0.0.1:0, "unix://${path}"]\nnum_readers: 2\ninterval: 60s\n${sinkYaml(f3)}`,
    );
    try {
      for (let i = 0; i < 4; i++) {
        const u = net.connect(path);
        await new Promise((r) => u.once('connect', r));
        await writeAndClose(u, 'mc.unix:1|c\n');
      }
      for (let i = 0; i < 6; i++) {
        const s = net.connect(v.tcp[0].port, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        await writeAndClose(s, 'mc.tcp:1|c\nmc.tcp:1|c\n');
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      assert.equal(await v.stop(), 0);
      await f3.close();
    }
    assert.equal(total(f3, 'mc.tcp'), 12);
    assert.equal(total(f3, 'mc.unix'), 4);
    assert.equal(existsSync(path), false, 'socket file removed at shutdown');
  });
});
