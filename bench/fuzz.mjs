#!/usr/bin/env node
/**
 * Fuzz at volume (issue 5): millions of random and mutated datagrams through the
 * real server over UDP. Pass criteria: the server never crashes, its own
 * accounting (veneur.worker.metrics_processed_total + veneur.packet.error_total,
 * as delivered to a local intake) equals exactly what an in-process Aggregator
 * computes for the same bytes (the property test checks that Aggregator against an
 * independent grammar oracle), the kernel dropped nothing, and RSS stays flat.
 *   node bench/fuzz.mjs [datagrams=10000000] [rate=150000]
 * `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator } from '../dist/aggregate/aggregator.js';
import { startIntake } from './intake.mjs';
import { buildGenerator, shebangFlags } from './server.mjs';

const total = Number(process.argv[2] ?? 10_000_000);
const rate = Number(process.argv[3] ?? 150_000);
const here = import.meta.dirname;

// ---- corpus: 20k datagrams of valid, mutated and random lines (no '\n' escapes issue: encoded below)
let seed = 12345;
const rnd = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
const valid = () =>
  `fz.${pick(['a', 'b', 'c', 'd'])}${Math.floor(rnd() * 50)}:${pick(['1', '2.5', '-3', '1e3', 'x', 'nan', '', '0x1p3'])}|${pick(['c', 'g', 'h', 'ms', 's', 'd', 'x', ''])}${pick(['', '|@0.5', '|@2', '|#a:b,c', '|#', '|c:abc', '|T12', '|zz'])}`;
const mutate = (l) => {
  const i = Math.floor(rnd() * (l.length + 1));
  return l.slice(0, i) + pick(['|', ':', '#', '@', ',', '', '\u00e9', '\r']) + l.slice(i + 1);
};
const randomLine = () => {
  let s = '';
  const n = Math.floor(rnd() * 40);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rnd() * 255) + 1;
    s += c === 10 || c === 92 ? 'z' : String.fromCharCode(c); // no newline or backslash (udpgen escapes)
  }
  return s;
};
const special = ['_e{3,3}:foo|bar|p:low', '_e{3,4}:foo|bar', '_sc|fz.chk|1|m:x', '_sc|fz.chk|9'];
const corpus = [];
for (let d = 0; d < 20_000; d++) {
  const lines = [];
  const k = 1 + Math.floor(rnd() * 10);
  for (let i = 0; i < k; i++) {
    const r = rnd();
    lines.push(r < 0.4 ? valid() : r < 0.7 ? mutate(valid()) : r < 0.95 ? randomLine() : pick(special));
  }
  corpus.push(lines.join('\n'));
}
const dir = mkdtempSync(join(tmpdir(), 'veneur-fuzz-'));
const file = join(dir, 'corpus.txt');
writeFileSync(file, `${corpus.map((d) => d.replaceAll('\n', '\\n')).join('\n')}\n`, 'latin1');

// ---- expected accounting for one pass, from the same bytes udpgen will send
const oracle = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
for (const d of corpus) oracle.ingestPacket(Buffer.from(d, 'latin1'));
const perPass = { processed: oracle.processed, errors: oracle.errorTotal };
const passes = total / corpus.length;
console.log(
  `fuzz: ${corpus.length.toLocaleString()} datagrams per pass, ${perPass.processed} samples and ${perPass.errors} errors each; ${passes} passes`,
);

// ---- intake + server
const intake = await startIntake();
const state = intake.state;
const cfg = join(dir, 'fuzz.yaml');
writeFileSync(
  cfg,
  `statsd_listen_addresses: [udp://127.0.0.1:0]\ninterval: 1s\nread_buffer_size_bytes: 4194304\nmetric_sinks: [{kind: datadog, name: dd, config: {api_key: k, api_hostname: "http://127.0.0.1:${intake.port}"}}]\n`,
);
const bin = join(here, '../dist/main/veneur.js');
const flags = shebangFlags(bin);
// e.g. BENCH_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server
if (process.env.BENCH_SERVER_FLAGS)
  flags.push(...process.env.BENCH_SERVER_FLAGS.split(/\s+/).filter(Boolean));
const child = spawn('taskset', ['-c', '0', process.execPath, ...flags, bin, '-f', cfg], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
let crashed = null;
child.on('exit', (code, sig) => {
  if (!stopping) crashed = `exit ${code} ${sig}`;
});
let stopping = false;
const port = await new Promise((resolve) => {
  let buf = '';
  child.stderr.on('data', (d) => {
    buf += d;
    const m = /"address":"udp:\/\/127\.0\.0\.1:(\d+)"/.exec(buf);
    if (m && buf.includes('veneur started')) resolve(Number(m[1]));
  });
});
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
const drops = () => {
  const l = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((x) => x.startsWith('Udp:'));
  return Number(l[1].split(/\s+/)[l[0].split(/\s+/).indexOf('RcvbufErrors')]);
};
const drops0 = drops();
const rssSamples = [rss()];
const sampler = setInterval(() => rssSamples.push(rss()), 5000);
const secs = total / rate;
await new Promise((resolve, reject) => {
  const g = spawn('taskset', ['-c', '1', buildGenerator(), String(port), file, String(rate), String(secs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  g.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`udpgen ${c}`))));
});
await new Promise((r) => setTimeout(r, 2500));
clearInterval(sampler);
rssSamples.push(rss());
stopping = true;
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
await new Promise((r) => setTimeout(r, 300));
await intake.close();
const kernelDrops = drops() - drops0;
const want = { processed: perPass.processed * passes, errors: perPass.errors * passes };
console.log(
  `fuzz: sent ${total.toLocaleString()} datagrams at ${rate.toLocaleString()}/s; kernel drops ${kernelDrops}; crashed: ${crashed ?? 'no'}`,
);
console.log(
  `fuzz: samples ${Math.round(state.processed).toLocaleString()} (expected ${want.processed.toLocaleString()}), errors ${Math.round(state.errors).toLocaleString()} (expected ${want.errors.toLocaleString()})`,
);
console.log(`fuzz: RSS MiB over the run: ${rssSamples.map((x) => x.toFixed(0)).join(' ')}`);
// heap used after each flush (1 s interval), as min..max per 10 flushes: the young generation fills
// and empties between them, so the minimum is what stays
const heap = [];
for (let i = 0; i < state.heapUsed.length; i += 10) {
  const w = state.heapUsed.slice(i, i + 10).map((b) => b / 2 ** 20);
  heap.push(`${Math.min(...w).toFixed(0)}..${Math.max(...w).toFixed(0)}`);
}
console.log(`fuzz: heap used MiB per 10 flushes (min..max): ${heap.join(' ')}`);
const exact = Math.round(state.processed) === want.processed && Math.round(state.errors) === want.errors;
console.log(`fuzz: ${crashed === null && kernelDrops === 0 && exact ? 'PASS' : 'FAIL'}`);
