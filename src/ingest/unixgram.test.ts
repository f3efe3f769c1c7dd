import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type ListenAddress, parseListenAddress } from '../util/address.js';
import {
  ADDON_PATH,
  loadUnixgramAddon,
  UnixgramClient,
  UnixgramListener,
  type UnixgramListenerOptions,
} from './unixgram.js';

function addr(text: string): ListenAddress {
  const a = parseListenAddress(text);
  if (a === null) throw new Error(`bad address ${text}`);
  return a;
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** A logger keeping error/warn calls. */
function recordingLogger(): { logger: Logger; errors: unknown[][] } {
  const errors: unknown[][] = [];
  const noop = (): void => {};
  const logger = {
    info: noop,
    debug: noop,
    trace: noop,
    warn: (...a: unknown[]) => errors.push(a),
    error: (...a: unknown[]) => errors.push(a),
  } as unknown as Logger;
  return { logger, errors };
}

/** Run python3 code; resolves once it printed `ready` (or exited), with the child. */
function python(
  code: string,
  args: string[] = [],
): Promise<{ child: ChildProcess; exited: Promise<number> }> {
  const child = spawn('python3', ['-c', code, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c ?? -1));
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve({ child, exited });
    });
    child.once('error', reject);
    child.once('exit', () => resolve({ child, exited }));
  });
}

const uniq = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

describe('unixgram listener', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'veneur-unixgram-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const toStop: UnixgramListener[] = [];
  const clients: UnixgramClient[] = [];
  afterEach(async () => {
    for (const l of toStop.splice(0)) await l.stop(Date.now() + 1000);
    for (const c of clients.splice(0)) c.close();
  });

  function listen(text: string, extra: Partial<UnixgramListenerOptions> = {}) {
    const packets: string[] = [];
    let tooLong = 0;
    const listener = new UnixgramListener({
      address: addr(text),
      recvBufferSize: 1 << 20,
      maxLength: 4096,
      onPacket: (buf, len) => packets.push(buf.toString('latin1', 0, len)),
      onTooLong: () => tooLong++,
      logger: recordingLogger().logger,
      ...extra,
    });
    toStop.push(listener);
    return { listener, packets, tooLong: () => tooLong };
  }

  function client(path: string): UnixgramClient {
    const c = new UnixgramClient(path);
    clients.push(c);
    return c;
  }

  it('delivers datagrams intact, several per wakeup; socket 0666, files removed at stop', async () => {
    const path = join(dir, 'statsd.sock');
    const { listener, packets } = listen(`unixgram://${path}`);
    await listener.start();
    assert.equal(listener.kind, 'unixgram');
    assert.equal(listener.address(), path);
    const st = lstatSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o666);
    assert.equal(readFileSync(`${path}.lock`, 'latin1'), `${process.pid}\n`);

    // queued while the event loop is busy here, then read in one wakeup
    const c = client(path);
    const sent = ['a:1|c', 'b:2|g\nc:3|ms', '', 'd:4|h|#x:y', 'é:5|s', 'f:6|c\n', 'g:7|d', 'h:8|c'];
    for (const s of sent) assert.ok(c.trySend(Buffer.from(s, 'latin1')));
    await waitFor(() => packets.length === sent.length, 'all datagrams');
    assert.deepEqual(packets, sent);
    assert.equal(listener.stats.datagrams, sent.length);
    assert.ok(listener.stats.batches < sent.length, `batches ${listener.stats.batches}`);

    await listener.stop(Date.now() + 1000);
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(`${path}.lock`), false);
    await listener.stop(Date.now() + 1000); // idempotent
  });

  it('receives a 10k datagram burst from another process with no loss', async () => {
    const path = join(dir, 'burst.sock');
    const { listener, packets } = listen(`unixgram://${path}`, { recvBufferSize: 8 << 20 });
    await listener.start();
    const n = 10_000;
    const { exited } = await python(
      [
        'import socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        'for i in range(int(sys.argv[2])): s.sendto(b"burst.%d:1|c" % i, sys.argv[1])',
      ].join('\n'),
      [path, String(n)],
    );
    assert.equal(await exited, 0);
    await waitFor(() => packets.length === n, `${n} datagrams (got ${packets.length})`, 20_000);
    const seen = new Set(packets);
    for (let i = 0; i < n; i++) assert.ok(seen.has(`burst.${i}:1|c`), `burst.${i}`);
    assert.ok(listener.stats.batches < n);
  });

  it('reports a datagram over maxLength as too long; the next one still arrives', async () => {
    const path = join(dir, 'long.sock');
    const { listener, packets, tooLong } = listen(`unixgram://${path}`, { maxLength: 64, batch: 4 });
    await listener.start();
    const c = client(path);
    await c.send(Buffer.alloc(64, 'a')); // exactly the limit: fine
    await c.send(Buffer.alloc(65, 'b')); // one over
    await c.send(Buffer.alloc(100_000, 'c')); // far over (truncated by the kernel copy)
    await c.send(Buffer.from('next:1|c'));
    await waitFor(() => packets.length === 2, 'two packets');
    assert.deepEqual(packets, ['a'.repeat(64), 'next:1|c']);
    assert.equal(tooLong(), 2);
    assert.equal(listener.stats.tooLong, 2);
  });

  it('keeps reading after onPacket throws', async () => {
    const { logger, errors } = recordingLogger();
    const path = join(dir, 'throw.sock');
    const packets: string[] = [];
    const { listener } = listen(`unixgram://${path}`, {
      logger,
      onPacket: (buf, len) => {
        const s = buf.toString('latin1', 0, len);
        if (s === 'boom') throw new Error('boom');
        packets.push(s);
      },
    });
    await listener.start();
    const c = client(path);
    for (const s of ['x', 'boom', 'y']) await c.send(Buffer.from(s));
    await waitFor(() => packets.length === 2, 'two packets');
    assert.deepEqual(packets, ['x', 'y']);
    assert.equal(errors.length, 1);
  });

  it('listens on an abstract socket reached by a client using the exact name length', async () => {
    const name = `veneur-ts-test-${uniq}`;
    const { listener, packets } = listen(`unixgram:@${name}`);
    await listener.start();
    assert.equal(listener.address(), `@${name}`);
    // the kernel shows abstract names with NULs as '@': no padding after the name
    const table = readFileSync('/proc/net/unix', 'latin1').split('\n');
    assert.ok(
      table.some((l) => l.endsWith(` @${name}`)),
      'abstract name registered unpadded',
    );
    const { exited } = await python(
      [
        'import socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        's.sendto(b"py:1|c", "\\0" + sys.argv[1])',
      ].join('\n'),
      [name],
    );
    assert.equal(await exited, 0);
    assert.equal(loadUnixgramAddon().send(-1, `@${name}`, Buffer.from('addon:2|c')), 9);
    await client(`@${name}`).send(Buffer.from('client:3|c'));
    await waitFor(() => packets.length === 3, 'three packets');
    assert.deepEqual(packets, ['py:1|c', 'addon:2|c', 'client:3|c']);
    await listener.stop(Date.now() + 1000);
    // the name is free again
    const again = listen(`unixgram:@${name}`).listener;
    await again.start();
  });

  it('replaces a stale socket file and takes over a stale lock file', async () => {
    const path = join(dir, 'stale.sock');
    // a socket file nobody serves (bound, then closed without unlinking)
    const addon = loadUnixgramAddon();
    addon.close(addon.bind(path, 0));
    assert.ok(lstatSync(path).isSocket());
    writeFileSync(`${path}.lock`, '999999999\n'); // left by a dead process: no flock held
    const { listener, packets } = listen(`unixgram://${path}`);
    await listener.start();
    assert.equal(readFileSync(`${path}.lock`, 'latin1'), `${process.pid}\n`);
    assert.equal(addon.send(-1, path, Buffer.from('fresh:1|c')), 9);
    await waitFor(() => packets.length === 1, 'packet');
    assert.deepEqual(packets, ['fresh:1|c']);
  });

  it('refuses to start while a live process holds the lock, and after it died starts', async () => {
    const path = join(dir, 'locked.sock');
    const { child, exited } = await python(
      [
        'import fcntl, os, sys',
        'f = open(sys.argv[1] + ".lock", "w")',
        'fcntl.flock(f, fcntl.LOCK_EX)',
        'f.write(str(os.getpid())); f.flush()',
        'print("ready", flush=True)',
        'sys.stdin.read()',
      ].join('\n'),
      [path],
    );
    const first = listen(`unixgram://${path}`).listener;
    await assert.rejects(first.start(), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`locked\\.sock\\.lock is locked by another process \\(pid ${child.pid}\\)`),
      );
      return true;
    });
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(`${path}.lock`), true); // not ours to remove
    await first.stop(Date.now() + 1000); // safe after a failed start
    child.kill('SIGKILL');
    await exited;
    const { listener, packets } = listen(`unixgram://${path}`);
    await listener.start();
    await client(path).send(Buffer.from('after:1|c'));
    await waitFor(() => packets.length === 1, 'packet');
  });

  it('refuses a second listener on the same path in this process', async () => {
    const path = join(dir, 'twice.sock');
    const { listener } = listen(`unixgram://${path}`);
    await listener.start();
    const second = listen(`unixgram://${path}`).listener;
    await assert.rejects(second.start(), /is locked by another process/);
    assert.ok(lstatSync(path).isSocket()); // the first one's socket is untouched
  });

  it('does not remove a non-socket file at the socket path', async () => {
    const path = join(dir, 'regular.sock');
    writeFileSync(path, 'keep me');
    const { listener } = listen(`unixgram://${path}`);
    await assert.rejects(listener.start(), /exists and is not a socket/);
    assert.equal(readFileSync(path, 'latin1'), 'keep me');
    assert.equal(existsSync(`${path}.lock`), false);
  });

  it('reports bind errors with the errno code', async () => {
    const missing = join(dir, 'no-such-dir', 'x.sock');
    await assert.rejects(listen(`unixgram://${missing}`).listener.start(), { code: 'ENOENT' });
    const long = join(dir, 'x'.repeat(120));
    mkdirSync(dir, { recursive: true });
    await assert.rejects(listen(`unixgram://${long}`).listener.start(), { code: 'ENAMETOOLONG' });
    assert.equal(existsSync(`${long}.lock`), false);
  });

  it('stop is safe without start', async () => {
    const { listener } = listen('unixgram:@never-started');
    await listener.stop(Date.now() + 1000);
    await listener.stop(Date.now() + 1000);
    assert.throws(() => listener.address(), /not started/);
  });

  it('reads an inherited fd in a child process (cluster workers)', async () => {
    const addon = loadUnixgramAddon();
    const name = `@veneur-ts-adopt-${uniq}`;
    const fd = addon.bind(name, 0);
    try {
      const script = `
        const a = require(${JSON.stringify(ADDON_PATH)});
        const fd = a.adopt(3);
        a.startReading(fd, 100, 8, (buf, lens, n) => {
          for (let i = 0; i < n; i++) process.stdout.write(buf.toString('latin1', i * 101, i * 101 + lens[i]) + '\\n');
          a.close(fd);
        });
        process.stdout.write('ready\\n');`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit', fd] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      await waitFor(() => out.includes('ready'), 'child ready');
      assert.equal(addon.send(-1, name, Buffer.from('worker:1|c')), 10);
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 0);
      assert.equal(out, 'ready\nworker:1|c\n');
    } finally {
      addon.close(fd);
    }
  });
});

describe('unixgram addon', () => {
  it('fails clearly when the addon is missing', () => {
    assert.throws(
      () => loadUnixgramAddon('/nonexistent/build/Release/unixgram.node'),
      /unixgram listeners need the native addon: run npm ci \/ npm run build:native/,
    );
  });

  it('throws JS errors for bad arguments and foreign fds', () => {
    const a = loadUnixgramAddon();
    assert.throws(() => a.close(0), { code: 'EBADF' });
    assert.throws(() => a.send(1, '@x', Buffer.from('x')), { code: 'EBADF' });
    assert.throws(() => a.bind(42 as unknown as string, 0), TypeError);
    assert.throws(() => a.bind('', 0), { code: 'EINVAL' });
    assert.throws(() => a.bind('@', 0), { code: 'EINVAL' });
    assert.throws(() => a.bind('@ok', -1), RangeError);
    assert.throws(() => a.send(-1, '@x', 'str' as unknown as Buffer), TypeError);
    const fd = a.socket();
    try {
      assert.throws(() => a.startReading(fd, 0, 1, () => {}), RangeError);
      assert.throws(() => a.startReading(fd, 10, 1, 'no' as unknown as () => void), TypeError);
      assert.throws(() => a.send(fd, `@veneur-ts-nobody-${uniq}`, Buffer.from('x')), {
        code: 'ECONNREFUSED',
      });
      assert.equal(a.stopReading(fd), false);
    } finally {
      a.close(fd);
    }
    assert.throws(() => a.close(fd), { code: 'EBADF' }); // closed once only
    const file = openSync(ADDON_PATH, 'r');
    try {
      assert.throws(() => a.adopt(file), { code: 'ENOTSOCK' });
    } finally {
      closeSync(file);
    }
  });

  it('send reports a full receiver queue as -1 instead of blocking', () => {
    const a = loadUnixgramAddon();
    const name = `@veneur-ts-full-${uniq}`;
    const fd = a.bind(name, 0);
    const c = a.socket();
    try {
      let sent = 0;
      while (a.send(c, name, Buffer.from('q')) === 1) {
        sent++;
        assert.ok(sent < 100_000, 'queue never filled');
      }
      assert.ok(sent > 0);
    } finally {
      a.close(c);
      a.close(fd);
    }
  });
});
