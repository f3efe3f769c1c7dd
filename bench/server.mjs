/**
 * What the benches share: pinning, the udpgen generator, starting the real server
 * (dist/main/veneur.js with the node flags of its shebang, as users run it) and
 * reading the kernel's UDP drop counter. 127.0.0.1 only.
 */
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist');

export const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();
export const pin = (core, cmd, args) =>
  hasTaskset ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
/**
 * Run this bench script pinned to core 1 (the generator and the local intake live
 * there; the server gets core 0): re-executes itself under taskset once and exits
 * with its status. No-op without taskset or when already pinned.
 */
export function runPinnedToCore1() {
  if (!hasTaskset || process.env.BENCH_PINNED) return;
  const r = spawnSync('taskset', ['-c', '1', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  process.exit(r.status ?? 1);
}
export const fmt = (n) => Math.round(n).toLocaleString('en-US');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** bench/udpgen.c, compiled once into bench/.build. */
export function buildGenerator() {
  const outDir = join(here, '.build');
  mkdirSync(outDir, { recursive: true });
  const bin = join(outDir, 'udpgen');
  if (!existsSync(bin)) execFileSync('cc', ['-O2', '-o', bin, join(here, 'udpgen.c')]);
  return bin;
}

/** Send the file's datagrams (cycling) at a paced rate, pinned to core 1. */
export function runGenerator(gen, port, file, datagramsPerSec, secs) {
  const [cmd, args] = pin(1, gen, [String(port), file, String(Math.round(datagramsPerSec)), String(secs)]);
  const out = execFileSync(cmd, args, { encoding: 'utf8' });
  const [, sent, took] = out.trim().split(' ');
  return { sent: Number(sent), took: Number(took) };
}

/** runGenerator without blocking this process (whose event loop serves the local intake). */
export function runGeneratorAsync(gen, port, file, datagramsPerSec, secs) {
  const [cmd, args] = pin(1, gen, [String(port), file, String(Math.round(datagramsPerSec)), String(secs)]);
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, out) => {
      if (err) return reject(err);
      const [, sent, took] = out.trim().split(' ');
      resolve({ sent: Number(sent), took: Number(took) });
    });
  });
}

/** One datagram per line, newlines escaped (udpgen's format). */
export function writeDatagramFile(dgs) {
  const dir = mkdtempSync(join(tmpdir(), 'veneur-bench-'));
  const file = join(dir, 'datagrams.txt');
  writeFileSync(file, `${dgs.map((d) => d.replaceAll('\n', '\\n')).join('\n')}\n`);
  return file;
}

/**
 * Write the benches' server config (UDP on an ephemeral port, the mixed workload's
 * percentiles, a Datadog sink posting to the local intake) to a temp file; `extra`
 * is appended as YAML. Returns the file's path.
 */
export function writeBenchConfig({ interval, intakePort, readBuffer = 4194304, extra = '' }) {
  const cfg = join(mkdtempSync(join(tmpdir(), 'veneur-bench-')), 'bench.yaml');
  writeFileSync(
    cfg,
    `statsd_listen_addresses: [udp://127.0.0.1:0]
interval: ${interval}
hostname: bench
read_buffer_size_bytes: ${readBuffer}
metric_max_length: 16384
percentiles: [0.5, 0.75, 0.99]
metric_sinks:
${
  // BENCH_SINK=blackhole: no Datadog rendering (to tell the sink's cost from the rest)
  process.env.BENCH_SINK === 'blackhole'
    ? '  - kind: blackhole\n    name: blackhole'
    : `  - kind: datadog
    name: datadog
    config: {api_key: bench, api_hostname: "http://127.0.0.1:${intakePort}", flush_max_per_body: 25000}`
}
${extra}`,
  );
  return cfg;
}

/**
 * Raise net.core.rmem_max to at least `bytes` for this run (root only). Returns a
 * function that restores the old value, or null when it cannot be raised.
 */
export function raiseRmemMax(bytes) {
  const path = '/proc/sys/net/core/rmem_max';
  const old = readFileSync(path, 'utf8').trim();
  try {
    writeFileSync(path, String(Math.max(Number(old), bytes)));
  } catch {
    return null;
  }
  return () => writeFileSync(path, old);
}

/** Datagrams the kernel dropped for full receive buffers (all UDP sockets; only ours is busy). */
export function kernelUdpDrops() {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')]);
  } catch {
    return Number.NaN;
  }
}

/** The node flags of a built bin's shebang (`#!/usr/bin/env -S node --flag ...`); veneur.js by default. */
export function shebangFlags(bin = join(dist, 'main/veneur.js')) {
  const m = /^#!.*?\bnode\b(.*)$/.exec(readFileSync(bin, 'utf8').split('\n', 1)[0]);
  return (m?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/**
 * Start dist/main/veneur.js with the node flags of its shebang (as users run it),
 * pinned to `core` (or to every core with null); resolves once it is serving.
 */
export async function spawnServer(cfg, core) {
  const bin = join(dist, 'main/veneur.js');
  // BENCH_NODE_FLAGS="..." replaces the shebang's node flags (A/B of GC settings)
  const flags =
    process.env.BENCH_NODE_FLAGS !== undefined
      ? process.env.BENCH_NODE_FLAGS.trim().split(/\s+/).filter(Boolean)
      : shebangFlags(bin);
  // e.g. BENCH_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server under load
  if (process.env.BENCH_SERVER_FLAGS)
    flags.push(...process.env.BENCH_SERVER_FLAGS.split(/\s+/).filter(Boolean));
  const [cmd, args] =
    core === null
      ? ['taskset', ['-c', '0,1', process.execPath, ...flags, bin, '-f', cfg]]
      : pin(core, process.execPath, [...flags, bin, '-f', cfg]);
  const child = spawn(cmd, args, {
    stdio: ['ignore', process.env.BENCH_SERVER_STDERR ? 'pipe' : 'ignore', 'pipe'],
    env: { ...process.env, VENEUR_LOG_LEVEL: process.env.BENCH_SERVER_LOG_LEVEL ?? 'info' },
  });
  child.stdout?.on('data', (d) => appendFileSync(process.env.BENCH_SERVER_STDERR, d));
  let port = 0;
  let pids = [child.pid];
  await new Promise((resolve, reject) => {
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        // BENCH_SERVER_STDERR=file keeps the server's stderr (e.g. with --trace-gc)
        if (process.env.BENCH_SERVER_STDERR) appendFileSync(process.env.BENCH_SERVER_STDERR, `${line}\n`);
        try {
          const rec = JSON.parse(line);
          if (rec.msg === 'listening for DogStatsD over UDP') port = Number(rec.address.split(':').pop());
          if (rec.msg === 'ingest workers started') pids = rec.pids;
          if (rec.msg === 'veneur started') resolve();
          if (process.env.BENCH_SERVER_LOG && rec.level >= 40) console.log(`  server: ${line.slice(0, 300)}`);
        } catch {}
      }
    });
    child.on('exit', (c) => reject(new Error(`server exited ${c}`)));
  });
  let stopping = false;
  const exited = new Promise((r) =>
    child.on('exit', (code, signal) => {
      if (!stopping)
        console.log(`server (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}`);
      r();
    }),
  );
  return {
    port,
    pid: child.pid,
    /** processes reading the socket: the server, or its ingest workers */
    pids,
    rssKiB() {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : 0;
    },
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}
