#!/usr/bin/env node
/**
 * veneur-proxy routing rate (issue 5, item 6): the real proxy (dist/main/veneur-proxy.js,
 * static `forward_addresses`) routes N forwarded series (50% global counters, 25% timer
 * digests, 15% global gauges, 10% sets; bench/forwarded.mjs) that this
 * process sends on one SendMetricsV2 stream, to 2 real globals (dist/main/veneur.js,
 * `grpc_address`, blackhole sink). 3 rounds; each is timed from the first send until
 * both globals have read every byte the proxy sent them.
 *
 * How we know the globals have everything:
 * - Which global owns each series is computed here with the proxy's own ring
 *   (dist/proxy/ring.js, the same two addresses), so each global's share is known:
 *   its message count and its gRPC payload bytes (5 + length per message).
 * - While a round runs, each global's `rchar` (/proc/<pid>/io: bytes it read, here all
 *   from the proxy's HTTP/2 connection) is polled every POLL_MS. A global is done at
 *   the last poll where rchar moved, once rchar has grown by at least its payload
 *   bytes and then stayed still for QUIET_MS. Its import server merges what a read
 *   brought in that I/O turn or the next setImmediate, so the last merge follows within
 *   milliseconds.
 * - The counts are then checked exactly: the globals flush every `interval` (10 s,
 *   `synchronize_with_interval`) and send their `veneur.worker.metrics_imported_total`
 *   to our UDP sockets (`stats_address`); after each round we wait for those flushes
 *   and require each global's count to equal its share (sum = N). A round starts just
 *   after a flush, so no flush runs during a round of less than ~9 s. (A global
 *   flushing every 100 ms under this load starves its flushes and drops their stats
 *   batches as "busy", so the counts cannot come from short intervals.)
 * - The proxy reports its own counters (`statsd.address`, 100 ms): routed, forwarded,
 *   dropped.
 *
 * The proxy is pinned to core 0, the globals and this process to core 1 (`taskset`;
 * BENCH_PIN=0: unpinned). BENCH_PROXY_FLAGS adds Node flags for the proxy (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/p`), BENCH_PROXY_CONFIG more proxy YAML lines, `;`-separated
 * (e.g. `resend_window: 0s`). BENCH_TIMEOUT_S (default 300) bounds the whole
 * run: every child is then killed by PID. `npm run build` first.
 *   node bench/proxy.mjs [series=500000]
 */
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { ForwardClient } from '../dist/forward/client.js';
import { HashRing, keyHashFromBytes } from '../dist/proxy/ring.js';
import { forwardedMessages } from './forwarded.mjs';
import { shebangFlags } from './server.mjs';

const n = Number(process.argv[2] ?? 500_000);
if (!Number.isInteger(n) || n <= 0) throw new Error(`usage: node bench/proxy.mjs [series > 0]`);
const ROUNDS = 3;
const PIN = process.env.BENCH_PIN !== '0';
const PROXY_FLAGS = (process.env.BENCH_PROXY_FLAGS ?? '').split(/\s+/).filter(Boolean);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 300) * 1000;
const GLOBAL_INTERVAL_S = 10;
const ROUND_TIMEOUT_MS = 60_000;
const POLL_MS = 2;
const QUIET_MS = 50;

const fmt = (x) => Math.round(x).toLocaleString('en-US');
const pct = (a, b) => `${((a / b) * 100).toFixed(1)}%`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Children: started here, stopped by PID in every case (also on timeout or signal)

/** @type {import('node:child_process').ChildProcess[]} */
const children = [];
const dir = mkdtempSync(join(tmpdir(), 'veneur-bench-proxy-'));

function killAll(signal) {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, signal);
      } catch {}
    }
  }
}
const watchdog = setTimeout(() => {
  console.error(`bench/proxy.mjs: timed out after ${TIMEOUT_MS / 1000} s; killing every child`);
  killAll('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}, TIMEOUT_MS);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll('SIGKILL');
    process.exit(130);
  });
}

/** SIGTERM a child by PID, SIGKILL after `ms`; resolves with its exit code. */
async function stopChild(c, ms = 15_000) {
  if (c.exitCode !== null || c.signalCode !== null) return c.exitCode ?? c.signalCode;
  const exited = new Promise((r) => c.once('exit', (code, sig) => r(code ?? sig)));
  try {
    process.kill(c.pid, 'SIGTERM');
  } catch {}
  const t = setTimeout(() => {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {}
  }, ms);
  const code = await exited;
  clearTimeout(t);
  return code;
}

/**
 * Start `bin` (on `core` when pinning) with `-f cfg`. `started` resolves with the first
 * JSON log record for which `ready(record)` is true. Warnings and errors go to `problems`.
 */
function startNode(name, bin, extraFlags, cfg, core, ready) {
  const args = [...shebangFlags(bin), ...extraFlags, bin, '-f', cfg];
  const child = PIN
    ? spawn('taskset', ['-c', String(core), process.execPath, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const proc = { name, child, problems: [] };
  proc.started = new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${text}`)), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}):\n${text}`));
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (text.length < 20_000) text += `${line}\n`;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        proc.problems.push(line);
        return;
      }
      if (rec.level >= 40) proc.problems.push(line);
      if (ready(rec)) {
        clearTimeout(timer);
        resolve(rec);
      }
    });
  });
  proc.started.catch(() => {});
  return proc;
}

/** utime + stime of a process, in ms (/proc; 10 ms ticks). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}
/** Bytes a process has read (any fd, sockets included). */
function rchar(pid) {
  return Number(/rchar: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

// ---------------------------------------------------------------------------
// Self-metrics over UDP: counters summed per `name|#tags`

class StatsSocket {
  counters = new Map();
  constructor() {
    this.socket = dgram.createSocket('udp4');
    this.socket.on('message', (buf) => {
      for (const line of buf.toString().split('\n')) {
        const m = /^([^:]+):([^|]+)\|c(?:\|#(.*))?$/.exec(line);
        if (!m) continue;
        const key = m[3] ? `${m[1]}|#${m[3]}` : m[1];
        this.counters.set(key, (this.counters.get(key) ?? 0) + Number(m[2]));
      }
    });
  }
  async bind() {
    await new Promise((r) => this.socket.bind(0, '127.0.0.1', r));
    return this.socket.address().port;
  }
  /** Sum of the counters named `name` that carry every one of `tags`. */
  count(name, ...tags) {
    let s = 0;
    for (const [k, v] of this.counters) {
      const [kn, kt = ''] = k.split('|#');
      const have = kt.split(',');
      if (kn === name && tags.every((t) => have.includes(t))) s += v;
    }
    return s;
  }
  close() {
    try {
      this.socket.close();
    } catch {}
  }
}

async function waitFor(cond, what, ms) {
  const until = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Poll the globals' rchar until each has read at least its payload bytes beyond
 * `base` and then nothing for QUIET_MS; resolves with the last time each one's rchar moved.
 */
function whenGlobalsRead(pids, base, bytes) {
  return new Promise((resolve, reject) => {
    const last = pids.map(() => 0);
    const prev = [...base];
    const started = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      try {
        for (let g = 0; g < pids.length; g++) {
          const r = rchar(pids[g]);
          if (r !== prev[g]) {
            prev[g] = r;
            last[g] = now;
          }
        }
      } catch (err) {
        clearInterval(timer);
        reject(err);
        return;
      }
      if (pids.every((_, g) => prev[g] - base[g] >= bytes[g] && now - last[g] >= QUIET_MS)) {
        clearInterval(timer);
        resolve(last);
      } else if (now - started > ROUND_TIMEOUT_MS) {
        clearInterval(timer);
        reject(
          new Error(
            `globals read ${prev.map((p, g) => p - base[g]).join(' + ')} of ${bytes.join(' + ')} bytes`,
          ),
        );
      }
    }, POLL_MS);
  });
}

// ---------------------------------------------------------------------------

const IMPORTED = 'veneur.worker.metrics_imported_total';
const procs = [];
const stats = { globals: [new StatsSocket(), new StatsSocket()], proxy: new StatsSocket() };
let client;
let failed = false;
try {
  if (PIN) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const msgs = await forwardedMessages(n, 'prx');
  if (msgs.length !== n) throw new Error(`built ${msgs.length} series, expected ${n}`);
  console.log(
    `# veneur-proxy routing: ${fmt(n)} series (${(msgs.reduce((a, m) => a + m.length, 0) / 2 ** 20).toFixed(0)} MiB of metricpb) ` +
      `on one SendMetricsV2 stream -> proxy -> 2 globals; ` +
      `${PIN ? 'proxy pinned to core 0, both globals and this sender to core 1' : 'unpinned'}` +
      `${PROXY_FLAGS.length ? `; proxy flags: ${PROXY_FLAGS.join(' ')}` : ''}`,
  );

  const veneurBin = join(import.meta.dirname, '../dist/main/veneur.js');
  const proxyBin = join(import.meta.dirname, '../dist/main/veneur-proxy.js');
  const globals = [];
  for (let g = 0; g < 2; g++) {
    const cfg = join(dir, `global${g}.yaml`);
    writeFileSync(
      cfg,
      [
        'grpc_address: 127.0.0.1:0',
        `interval: ${GLOBAL_INTERVAL_S}s`,
        'synchronize_with_interval: true',
        `stats_address: 127.0.0.1:${await stats.globals[g].bind()}`,
        'metric_sinks: [{kind: blackhole, name: bh}]',
      ].join('\n'),
    );
    const p = startNode(
      `global ${g}`,
      veneurBin,
      [],
      cfg,
      1,
      (r) => r.msg === 'gRPC import server listening',
    );
    procs.push(p);
    globals.push(p);
  }
  const addrs = (await Promise.all(globals.map((p) => p.started))).map((r) => `127.0.0.1:${r.port}`);

  // each global's share, by the proxy's ring over the same addresses
  const ring = new HashRing();
  for (const a of addrs) ring.add(a);
  const share = addrs.map(() => ({ count: 0, bytes: 0 }));
  for (const m of msgs) {
    const s = share[addrs.indexOf(ring.ownerOfHash(keyHashFromBytes(m)))];
    s.count++;
    s.bytes += 5 + m.length;
  }

  const proxyCfg = join(dir, 'proxy.yaml');
  writeFileSync(
    proxyCfg,
    [
      'grpc_address: 127.0.0.1:0',
      `forward_addresses: [${addrs.map((a) => `"${a}"`).join(', ')}]`,
      'statsd:',
      `  address: 127.0.0.1:${await stats.proxy.bind()}`,
      '  aggregation_interval: 100ms',
      ...(process.env.BENCH_PROXY_CONFIG ?? '').split(';').filter(Boolean),
    ].join('\n'),
  );
  let proxyPort = 0;
  const proxy = startNode('proxy', proxyBin, PROXY_FLAGS, proxyCfg, 0, (r) => {
    if (r.msg === 'gRPC ingest server listening') proxyPort = r.port;
    return r.msg === 'veneur-proxy running';
  });
  procs.push(proxy);
  const running = await proxy.started;
  if (running.destinations?.length !== 2)
    throw new Error(`proxy runs with destinations ${JSON.stringify(running.destinations)}, expected 2`);
  client = new ForwardClient({ address: `127.0.0.1:${proxyPort}`, logger: pino({ level: 'silent' }) });

  const imported = () => stats.globals.map((s) => s.count(IMPORTED));
  const proxyCounts = () => ({
    routed: stats.proxy.count('veneur_proxy.handle.metrics_count'),
    invalid: stats.proxy.count('veneur_proxy.ingest.metrics_count', 'error:true'),
    forwarded: stats.proxy.count('veneur_proxy.forward.metrics_count', 'error:false'),
    dropped: stats.proxy.count('veneur_proxy.forward.metrics_count', 'error:dropped'),
    queueFull: stats.proxy.count('veneur_proxy.handle.enqueue'),
    rerouted: stats.proxy.count('veneur_proxy.forward.rerouted_count'),
    resendOverflow: stats.proxy.count('veneur_proxy.forward.resend_overflow'),
  });
  const pids = { proxy: proxy.child.pid, globals: globals.map((g) => g.child.pid) };
  const importedBefore = imported();

  // start just after the globals' (idle) flush, as every later round does
  await sleep(GLOBAL_INTERVAL_S * 1000 - (Date.now() % (GLOBAL_INTERVAL_S * 1000)) + 300);
  const rates = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pBase = proxyCounts();
    const readBase = pids.globals.map(rchar);
    const cpu0 = { proxy: cpuMs(pids.proxy), globals: pids.globals.map(cpuMs) };
    const read = whenGlobalsRead(
      pids.globals,
      readBase,
      share.map((s) => s.bytes),
    );
    const t0 = performance.now();
    await client.sendMetricsV2(msgs, AbortSignal.timeout(ROUND_TIMEOUT_MS));
    const sentAt = performance.now();
    const lastRead = await read;
    const cpu1 = { proxy: cpuMs(pids.proxy), globals: pids.globals.map(cpuMs) };
    const doneAt = Math.max(...lastRead);
    const s = (doneAt - t0) / 1000;
    rates.push(n / s);
    console.log(
      `proxy round ${round + 1}${round === 0 ? ' (cold)' : ''}: ${fmt(n)} series in ${fmt(s * 1000)} ms = ${fmt(n / s)} metrics/s ` +
        `(proxy answered the stream after ${fmt(sentAt - t0)} ms; globals read their last bytes at ${lastRead.map((t) => fmt(t - t0)).join(' / ')} ms)`,
    );
    console.log(
      `  CPU in the round: proxy ${fmt(cpu1.proxy - cpu0.proxy)} ms (${fmt(n / ((cpu1.proxy - cpu0.proxy) / 1000))} metrics per proxy CPU-second), ` +
        `globals ${cpu1.globals.map((c, i) => fmt(c - cpu0.globals[i])).join(' + ')} ms; proxy RSS ${fmt(rssMiB(pids.proxy))} MiB`,
    );

    // exact counts: the proxy's (100 ms), then the globals' at their next flush
    await waitFor(() => proxyCounts().routed - pBase.routed >= n, "the proxy's routed count", 5_000);
    const want = share.map((sh, g) => importedBefore[g] + (round + 1) * sh.count);
    await waitFor(
      () => imported().every((v, g) => v >= want[g]),
      "the globals' imported counts (their next flush)",
      (GLOBAL_INTERVAL_S + 5) * 1000,
    ).catch(() => {});
    await sleep(300); // one more proxy stats interval: a late drop or re-route would show
    const p = proxyCounts();
    const d = Object.fromEntries(Object.keys(p).map((k) => [k, p[k] - pBase[k]]));
    const got = imported().map((v, g) => v - importedBefore[g] - round * share[g].count);
    console.log(
      `  globals imported ${fmt(got[0])} + ${fmt(got[1])} = ${fmt(got[0] + got[1])} (${pct(got[0], n)} / ${pct(got[1], n)}; ` +
        `the ring says ${fmt(share[0].count)} + ${fmt(share[1].count)}); proxy counted routed ${fmt(d.routed)}, forwarded ${fmt(d.forwarded)}, ` +
        `dropped ${fmt(d.dropped)}, invalid ${fmt(d.invalid)}, re-routed ${fmt(d.rerouted)}, queue-full events ${fmt(d.queueFull)}, ` +
        `resend-window overflow ${fmt(d.resendOverflow)}`,
    );
    const problems = [];
    if (got[0] + got[1] !== n)
      problems.push(`the globals imported ${got[0] + got[1]} series, ${n} were sent`);
    if (got.some((v, g) => v !== share[g].count)) problems.push('the split differs from the ring');
    if (d.routed !== n) problems.push(`the proxy counted ${d.routed} routed, ${n} were sent`);
    if (d.dropped !== 0 || d.invalid !== 0)
      problems.push(`the proxy dropped ${d.dropped}, invalid ${d.invalid}`);
    const errors = stats.globals.reduce((a, g) => a + g.count('veneur.import.errors_total'), 0);
    if (errors !== 0) problems.push(`the globals counted ${errors} import errors`);
    if (problems.length > 0) throw new Error(`round ${round + 1}: ${problems.join('; ')}`);
  }
  console.log(`# metrics/s per round: ${rates.map(fmt).join(' / ')}`);
} catch (err) {
  failed = true;
  console.error(`bench/proxy.mjs FAILED: ${err?.stack ?? err}`);
} finally {
  await client?.close(Date.now() + 2000).catch(() => {});
  // the proxy first: it ends its streams to the globals (and writes its --cpu-prof profile on exit)
  const codes = [];
  for (const p of [...procs].reverse()) codes.push(`${p.name} ${await stopChild(p.child)}`);
  console.log(`# stopped: ${codes.join(', ')}`);
  for (const p of procs) {
    const byMsg = new Map();
    for (const line of p.problems) {
      let msg = line;
      try {
        msg = JSON.parse(line).msg;
      } catch {}
      const e = byMsg.get(msg) ?? { count: 0, first: line };
      e.count++;
      byMsg.set(msg, e);
    }
    for (const [msg, e] of byMsg) console.log(`# ${p.name} logged "${msg}" ${e.count}x, first: ${e.first}`);
  }
  for (const s of [...stats.globals, stats.proxy]) s.close();
  rmSync(dir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
if (failed) process.exit(1);
