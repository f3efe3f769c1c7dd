/**
 * The UDP listener on the native recvmmsg reader, and the socket group the cluster
 * primary binds for its ingest workers (bindSharedUdp): SO_REUSEPORT sockets with
 * random spreading, adopted in another process, own socket first then the others'.
 * Real sockets on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type ListenAddress, parseListenAddress } from '../util/address.js';
import { bindSharedUdp, UdpListener } from './udp.js';
import { ADDON_PATH, loadUnixgramAddon } from './unixgram.js';

function addr(text: string): ListenAddress {
  const a = parseListenAddress(text);
  if (a === null) throw new Error(`bad address ${text}`);
  return a;
}

function recordingLogger(): { logger: Logger; infos: Record<string, unknown>[]; warnings: unknown[][] } {
  const infos: Record<string, unknown>[] = [];
  const warnings: unknown[][] = [];
  const logger = {
    info: (obj: Record<string, unknown>, msg?: string) => infos.push({ ...obj, msg }),
    debug: () => {},
    trace: () => {},
    warn: (...a: unknown[]) => warnings.push(a),
    error: (...a: unknown[]) => warnings.push(a),
  } as unknown as Logger;
  return { logger, infos, warnings };
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Send `count` datagrams `<prefix><i>` from one client socket (one sender address). */
async function sendMany(port: number, count: number, prefix = 'd'): Promise<void> {
  const sock = dgram.createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) =>
        sock.send(`${prefix}${i}`, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
      );
    }
  } finally {
    sock.close();
  }
}

/** A listener collecting what it receives (copied out of the reused receive area). */
function collector(opts: Partial<ConstructorParameters<typeof UdpListener>[0]> = {}): {
  listener: UdpListener;
  got: string[];
  lengths: number[];
  log: ReturnType<typeof recordingLogger>;
} {
  const got: string[] = [];
  const lengths: number[] = [];
  const log = recordingLogger();
  const listener = new UdpListener({
    address: addr('udp://127.0.0.1:0'),
    recvBufferSize: 1 << 20,
    onPacket: (buf, len) => {
      lengths.push(len);
      got.push(buf.toString('latin1', 0, Math.min(len, 100)));
    },
    logger: log.logger,
    maxDatagram: 100,
    ...opts,
  });
  return { listener, got, lengths, log };
}

describe('UdpListener (native reader)', () => {
  it('reads datagrams with recvmmsg and reports an over-long one with its true length', async () => {
    const c = collector();
    await c.listener.start();
    try {
      assert.equal(c.log.infos[0].reader, 'recvmmsg');
      const { port } = c.listener.address();
      await sendMany(port, 50);
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.send(Buffer.alloc(300, 'x'), port, '127.0.0.1', () => r()));
      sock.close();
      await waitFor(() => c.got.length === 51, '51 datagrams');
      assert.deepEqual(
        c.got.slice(0, 50),
        Array.from({ length: 50 }, (_, i) => `d${i}`),
      );
      assert.equal(c.lengths[50], 300); // > maxDatagram: the aggregator counts it as too long
    } finally {
      await c.listener.stop(Date.now() + 1000);
    }
  });

  it('resolves a host name as node:dgram would', async () => {
    const c = collector({ address: addr('udp://localhost:0') });
    await c.listener.start();
    try {
      assert.equal(c.listener.address().host, '127.0.0.1');
      await sendMany(c.listener.address().port, 3);
      await waitFor(() => c.got.length === 3, '3 datagrams');
    } finally {
      await c.listener.stop(Date.now() + 1000);
    }
  });
});

describe('bindSharedUdp (the ingest workers sockets)', () => {
  it('binds one SO_REUSEPORT socket per worker, spreads one sender at random, and keeps the port exclusive', async () => {
    const { logger } = recordingLogger();
    const group = await bindSharedUdp(addr('udp://127.0.0.1:0'), 1 << 20, 2, logger);
    assert.ok(group !== null);
    try {
      assert.equal(group.fds.length, 2);
      assert.equal(group.spread, 'random');
      assert.ok(group.port > 0);
      const addon = loadUnixgramAddon();
      assert.equal(addon.getRecvBufferSize(group.fds[1]), group.recvBufferKernel);
      // SO_RCVBUF applies (the kernel reports twice the granted size; rmem_max is at least 208 KiB)
      assert.ok(group.recvBufferKernel >= 2 * 212_992, `SO_RCVBUF ${group.recvBufferKernel}`);
      // taken: a plain bind and a second group both fail, as a second veneur must
      assert.throws(() => addon.bindUdp('127.0.0.1', group.port, 0, false), { code: 'EADDRINUSE' });
      await assert.rejects(bindSharedUdp(addr(`udp://127.0.0.1:${group.port}`), 0, 2, logger), {
        code: 'EADDRINUSE',
      });

      // one listener per socket, no stealing: both get part of one sender's datagrams
      const a = collector({ inherited: { own: group.fds[0], steal: [] }, exclusive: false });
      const b = collector({ inherited: { own: group.fds[1], steal: [] }, exclusive: false });
      await a.listener.start();
      await b.listener.start();
      try {
        assert.equal(a.listener.address().port, group.port);
        assert.equal(a.log.infos[0].reader, 'recvmmsg');
        await sendMany(group.port, 400);
        await waitFor(() => a.got.length + b.got.length === 400, '400 datagrams');
        assert.ok(a.got.length > 0 && b.got.length > 0, `spread ${a.got.length}/${b.got.length}`);
        assert.equal(new Set([...a.got, ...b.got]).size, 400, 'each datagram read once');
      } finally {
        await a.listener.stop(Date.now() + 1000);
        await b.listener.stop(Date.now() + 1000);
      }
    } finally {
      group.close();
    }
  });

  it('one reader drains its own socket and steals the others (a stopped or dead worker)', async () => {
    const { logger } = recordingLogger();
    const group = await bindSharedUdp(addr('udp://127.0.0.1:0'), 1 << 20, 3, logger);
    assert.ok(group !== null);
    try {
      const [own, ...steal] = group.fds;
      const a = collector({ inherited: { own, steal }, exclusive: false });
      await a.listener.start();
      try {
        assert.equal(a.log.infos[0].sockets, 3);
        await sendMany(group.port, 300);
        await waitFor(() => a.got.length === 300, '300 datagrams');
        assert.equal(new Set(a.got).size, 300);
      } finally {
        await a.listener.stop(Date.now() + 1000);
      }
    } finally {
      group.close();
    }
  });

  it('a child process adopts the inherited sockets and reads them (cluster workers)', async () => {
    const addon = loadUnixgramAddon();
    const { logger } = recordingLogger();
    const group = await bindSharedUdp(addr('udp://127.0.0.1:0'), 0, 2, logger);
    assert.ok(group !== null);
    const unix = addon.bind(`@veneur-ts-udp-test-${process.pid}`, 0);
    try {
      const script = `
        const a = require(${JSON.stringify(ADDON_PATH)});
        const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
        process.stdout.write('unix as udp: ' + code(() => a.adoptUdp(5)) + '\\n');
        process.stdout.write('udp as unix: ' + code(() => a.adopt(3)) + '\\n');
        const own = a.adoptUdp(3), other = a.adoptUdp(4);
        process.stdout.write('port ' + a.localPort(own) + '\\n');
        let n = 0;
        a.startReading(own, 100, 8, (buf, lens, count) => {
          n += count;
          if (n === 100) { process.stdout.write('got 100\\n'); a.close(own); a.close(other); }
        }, [other]);
        process.stdout.write('ready\\n');`;
      const child = spawn(process.execPath, ['-e', script], {
        stdio: ['ignore', 'pipe', 'inherit', group.fds[0], group.fds[1], unix],
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      try {
        await waitFor(() => out.includes('ready'), 'child ready');
        await sendMany(group.port, 100);
        assert.equal(await exited, 0);
      } finally {
        child.kill('SIGKILL');
      }
      assert.equal(out, `unix as udp: ENOTSOCK\nudp as unix: ENOTSOCK\nport ${group.port}\nready\ngot 100\n`);
    } finally {
      addon.close(unix);
      group.close();
    }
  });

  it('startReading checks the sockets to steal from; closing one stops the reader', () => {
    const a = loadUnixgramAddon();
    const x = a.bindUdp('127.0.0.1', 0, 0, false);
    const y = a.bindUdp('127.0.0.1', 0, 0, false);
    const z = a.bindUdp('127.0.0.1', 0, 0, false);
    const file = openSync(ADDON_PATH, 'r');
    try {
      const cb = (): void => {};
      assert.throws(() => a.startReading(x, 10, 1, cb, 'no' as unknown as number[]), TypeError);
      assert.throws(() => a.startReading(x, 10, 1, cb, [x]), { code: 'EINVAL' });
      assert.throws(() => a.startReading(x, 10, 1, cb, [y, y]), { code: 'EINVAL' });
      assert.throws(() => a.startReading(x, 10, 1, cb, [file]), { code: 'EBADF' });
      assert.throws(() => a.adoptUdp(file), { code: 'ENOTSOCK' });
      a.startReading(x, 10, 1, cb, [y]);
      assert.throws(() => a.startReading(z, 10, 1, cb, [y]), { code: 'EBUSY' }); // y is read by x's reader
      assert.throws(() => a.startReading(y, 10, 1, cb), { code: 'EBUSY' });
      a.close(y); // never leave a poll on a closed fd: x's reader stops
      assert.equal(a.stopReading(x), false);
      a.startReading(z, 10, 1, cb, [x]);
      assert.equal(a.stopReading(z), true);
    } finally {
      closeSync(file);
      a.close(x);
      a.close(z);
    }
  });
});
