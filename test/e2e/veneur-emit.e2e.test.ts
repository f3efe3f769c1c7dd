/**
 * The built `veneur-emit` (dist/main/veneur-emit.js) as a child process, against
 * plain UDP/TCP/unix listeners that check the exact bytes, and against our real
 * server (debug sink on stdout).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startVeneur } from '../helpers/veneur-process.js';

const EMIT_BIN = fileURLToPath(new URL('../../dist/main/veneur-emit.js', import.meta.url));

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runEmit(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EMIT_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`veneur-emit ${args.join(' ')} did not exit:\n${stderr}`));
    }, opts.timeoutMs ?? 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface UdpListener {
  port: number;
  datagrams: string[];
  next(timeoutMs?: number): Promise<string>;
  close(): void;
}

async function udpListener(): Promise<UdpListener> {
  const sock = dgram.createSocket('udp4');
  const datagrams: string[] = [];
  const waiters: ((d: string) => void)[] = [];
  let taken = 0;
  sock.on('message', (msg) => {
    datagrams.push(msg.toString('utf8'));
    const w = waiters.shift();
    if (w) w(datagrams[taken++]);
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return {
    port: sock.address().port,
    datagrams,
    next(timeoutMs = 5000) {
      if (taken < datagrams.length) return Promise.resolve(datagrams[taken++]);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no datagram received')), timeoutMs);
        waiters.push((d) => {
          clearTimeout(t);
          resolve(d);
        });
      });
    },
    close: () => sock.close(),
  };
}

interface StreamListener {
  /** One entry per connection: everything received until the client closed it. */
  connections: Promise<string>[];
  server: net.Server;
  close(): Promise<void>;
}

async function streamListener(
  listen: { port: number; host: string } | { path: string },
): Promise<StreamListener> {
  const connections: Promise<string>[] = [];
  const server = net.createServer((sock) => {
    connections.push(
      new Promise((resolve) => {
        let data = '';
        sock.on('data', (d) => {
          data += d;
        });
        sock.on('end', () => {
          sock.end();
          resolve(data);
        });
      }),
    );
  });
  server.listen(listen);
  await once(server, 'listening');
  return {
    connections,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('veneur-emit (built binary)', { timeout: 120_000 }, () => {
  let udp: UdpListener;
  let dir: string;
  before(async () => {
    udp = await udpListener();
    dir = mkdtempSync(join(tmpdir(), 'veneur-emit-'));
  });
  after(() => {
    udp.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** Assert nothing more arrived on the UDP listener. */
  const assertNoMoreDatagrams = async (): Promise<void> => {
    const before = udp.datagrams.length;
    await sleep(150);
    assert.equal(udp.datagrams.length, before, `unexpected datagram: ${udp.datagrams.at(-1)}`);
  };

  it('UDP: one datagram, one line per value, tags on every line', async () => {
    const r = await runEmit([
      '-hostport',
      `udp://127.0.0.1:${udp.port}`,
      '-name',
      'deploys',
      '-count',
      '3',
      '-gauge',
      '1.5',
      '-tag',
      'env:prod,canary',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(await udp.next(), 'deploys:1.5|g|#env:prod,canary\ndeploys:3|c|#env:prod,canary');
    await assertNoMoreDatagrams();
  });

  it('UDP: bare host:port; timing in ms; set; big gauge without exponent', async () => {
    const r = await runEmit([
      '-hostport',
      `127.0.0.1:${udp.port}`,
      '-name',
      'x.y',
      '-timing',
      '1.25s',
      '-set',
      'user42',
      '-gauge',
      '1e21',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await udp.next(), 'x.y:1250|ms\nx.y:1000000000000000000000|g\nx.y:user42|s');
  });

  it('UDP: a service check, exactly the reference example', async () => {
    const r = await runEmit([
      '-hostport',
      `udp://127.0.0.1:${udp.port}`,
      '-mode',
      'sc',
      '-sc_name',
      'Redis connection',
      '-sc_status',
      'CRITICAL',
      '-sc_tags',
      'redis_instance:10.0.0.16:6379',
      '-sc_msg',
      'Redis connection timed out after 10s',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await udp.next(),
      '_sc|Redis connection|2|#redis_instance:10.0.0.16:6379|m:Redis connection timed out after 10s',
    );
  });

  it('TCP: newline-terminated lines, then the connection is closed', async () => {
    const tcp = await streamListener({ port: 0, host: '127.0.0.1' });
    try {
      const port = (tcp.server.address() as net.AddressInfo).port;
      const metric = await runEmit([
        '-hostport',
        `tcp://127.0.0.1:${port}`,
        '-name',
        'q',
        '-count',
        '-7',
        '-gauge',
        '0.1',
      ]);
      assert.equal(metric.code, 0, metric.stderr);
      const event = await runEmit([
        '-hostport',
        `tcp://127.0.0.1:${port}`,
        '-mode',
        'event',
        '-e_title',
        'Deploy',
        '-e_text',
        'v2\nrolled out',
        '-e_alert_type',
        'success',
        '-e_event_tags',
        'team:core',
        '-tag',
        'env:prod',
      ]);
      assert.equal(event.code, 0, event.stderr);
      assert.equal(tcp.connections.length, 2);
      assert.equal(await tcp.connections[0], 'q:0.1|g\nq:-7|c\n');
      assert.equal(
        await tcp.connections[1],
        '_e{6,14}:Deploy|v2\\nrolled out|t:success|#team:core,env:prod\n',
      );
    } finally {
      await tcp.close();
    }
  });

  it('unix stream socket: newline-terminated lines', async () => {
    const path = join(dir, 'statsd.sock');
    const unix = await streamListener({ path });
    try {
      const r = await runEmit([
        '-hostport',
        `unix://${path}`,
        '-mode',
        'sc',
        '-sc_name',
        'db',
        '-sc_status',
        '1',
        '-sc_hostname',
        'web1',
        '-sc_time',
        '1136239445',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const r2 = await runEmit(['-hostport', `unix://${path}`, '-name', 'n', '-set', 'a', '-count', '1']);
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(await unix.connections[0], '_sc|db|1|d:1136239445|h:web1\n');
      assert.equal(await unix.connections[1], 'n:1|c\nn:a|s\n');
    } finally {
      await unix.close();
    }
  });

  it('-command: passes stdio through, emits a timing, propagates the exit status', async () => {
    const r = await runEmit(
      [
        '-hostport',
        `udp://127.0.0.1:${udp.port}`,
        '-name',
        'job.duration',
        '-tag',
        'job:test',
        '-command',
        'sh',
        '-c',
        'read line; echo "got $line"; echo oops >&2; exit 3',
      ],
      { input: 'hello\n' },
    );
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'got hello\n');
    assert.equal(r.stderr, 'oops\n');
    const d = await udp.next();
    assert.match(d, /^job\.duration:\d+(\.\d{1,6})?\|ms\|#job:test$/);
    assert.ok(Number(d.split(':')[1].split('|')[0]) >= 0);
    await assertNoMoreDatagrams();

    const ok = await runEmit([
      '-hostport',
      `127.0.0.1:${udp.port}`,
      '-name',
      'j',
      '-command',
      'sh',
      '-c',
      'exit 0',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(await udp.next(), /^j:[0-9.]+\|ms$/);
  });

  it('-command: a program that cannot be started fails with 1 and sends nothing', async () => {
    const r = await runEmit([
      '-hostport',
      `127.0.0.1:${udp.port}`,
      '-name',
      'j',
      '-command',
      '/nonexistent/program-xyz',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^veneur-emit: could not run "\/nonexistent\/program-xyz": .*ENOENT/);
    await assertNoMoreDatagrams();
  });

  it('-h prints usage and exits 0; an unknown flag prints usage and exits 2', async () => {
    const h = await runEmit(['-h']);
    assert.equal(h.code, 0);
    assert.match(h.stderr, /^Usage of veneur-emit:\n/);
    for (const flag of [
      '-hostport string',
      '-count int',
      '-gauge float',
      '-timing duration',
      '-sc_status',
      '-command',
    ])
      assert.ok(h.stderr.includes(`  ${flag}`), flag);
    const bad = await runEmit(['-nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^flag provided but not defined: -nope\nUsage of veneur-emit:/);
  });

  it('invalid combinations exit 1 with one line on stderr and send nothing', async () => {
    const hp = ['-hostport', `127.0.0.1:${udp.port}`];
    const cases: [string[], RegExp][] = [
      [[...hp, '-name', 'x'], /no metric to send/],
      [[...hp, '-count', '1'], /metric mode needs -name/],
      [[...hp, '-mode', 'event', '-e_title', 't'], /event mode needs -e_text/],
      [[...hp, '-mode', 'sc', '-sc_name', 'x', '-sc_status', '7'], /invalid -sc_status "7"/],
      [[...hp, '-name', 'x', '-count', 'lots'], /invalid value "lots" for -count/],
      [[...hp, '-name', 'x', '-count', '1', '-ssf'], /-ssf is not supported in this version/],
      [[...hp, '-name', 'x', '-count', '1', '-trace_id', '99'], /-trace_id is not supported in this version/],
      [['-name', 'x', '-count', '1'], /-hostport is required/],
      [['-hostport', 'unixgram:///tmp/x.sock', '-name', 'x', '-count', '1'], /unixgram is not supported/],
    ];
    for (const [args, re] of cases) {
      const r = await runEmit(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /^veneur-emit: [^\n]+\n$/, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    await assertNoMoreDatagrams();
  });

  it('a send failure exits 1 with one line on stderr', async () => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    const r = await runEmit(['-hostport', `tcp://127.0.0.1:${port}`, '-name', 'x', '-count', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^veneur-emit: sending to tcp:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED.*\n$/);
    const u = await runEmit(['-hostport', `unix://${join(dir, 'nobody.sock')}`, '-name', 'x', '-count', '1']);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /ENOENT/);
  });

  it('-debug logs the destination and the bytes sent to stderr', async () => {
    const r = await runEmit(['-hostport', `127.0.0.1:${udp.port}`, '-name', 'dbg', '-count', '1', '-debug']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await udp.next(), 'dbg:1|c');
    assert.match(r.stderr, /veneur-emit: debug: .*udp/);
    assert.ok(r.stderr.includes('"dbg:1|c"'), r.stderr);
  });

  it('is accepted by our veneur server: metrics, a service check and an event (newline in text)', async () => {
    const v = await startVeneur(`statsd_listen_addresses: [udp://127.0.0.1:0]
http_address: 127.0.0.1:0
interval: 1s
metric_sinks:
  - kind: debug
    name: dbg
`);
    try {
      const hp = ['-hostport', `udp://127.0.0.1:${v.statsd[0].port}`];
      const runs = await Promise.all([
        runEmit([...hp, '-name', 'emit.e2e', '-count', '3', '-gauge', '2.5', '-tag', 'env:prod']),
        runEmit([
          ...hp,
          '-mode',
          'sc',
          '-sc_name',
          'emit.check',
          '-sc_status',
          'WARNING',
          '-sc_msg',
          'disk 91%',
        ]),
        runEmit([
          ...hp,
          '-mode',
          'event',
          '-e_title',
          'emit deploy',
          '-e_text',
          'v2\nrolled',
          '-e_priority',
          'low',
        ]),
      ]);
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const deadline = Date.now() + 10_000;
      const want = [
        /^counter\s+emit\.e2e\s+env:prod\s+3\s*$/,
        /^gauge\s+emit\.e2e\s+env:prod\s+2\.5\s*$/,
        /^status\s+emit\.check\s+1\s+disk 91%/,
        /^\s+\[info\/low\] emit deploy: v2\\nrolled/,
      ];
      const missing = () => want.filter((re) => !v.stdout.some((l) => re.test(l)));
      while (missing().length > 0 && Date.now() < deadline) await sleep(100);
      assert.deepEqual(missing(), [], v.stdout.join('\n'));
    } finally {
      assert.equal(await v.stop(), 0);
    }
  });
});
