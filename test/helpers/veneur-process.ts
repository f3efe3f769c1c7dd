/**
 * Start the built `veneur` (dist/main/veneur.js) as a real child process for
 * end-to-end tests, learn its bound addresses from its log lines, and stop it by PID.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const VENEUR_BIN = fileURLToPath(new URL('../../dist/main/veneur.js', import.meta.url));

/** The node flags of veneur's shebang (`#!/usr/bin/env -S node --flag ...`), so tests run it as users do. */
export function veneurNodeFlags(bin = VENEUR_BIN): string[] {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0];
  const m = /^#!.*?\bnode\b(.*)$/.exec(first);
  return m
    ? m[1]
        .trim()
        .split(/\s+/)
        .filter((f) => f !== '')
    : [];
}

export interface VeneurProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** UDP statsd listeners, in config order, as bound (port 0 resolved). */
  readonly statsd: { host: string; port: number }[];
  /** TCP statsd listeners as bound. */
  readonly tcp: { host: string; port: number }[];
  /** gRPC import server port (grpc_address), once listening, or 0. */
  readonly grpcPort: number;
  /** HTTP address once listening, or null. */
  readonly http: { host: string; port: number } | null;
  readonly logs: Record<string, unknown>[];
  readonly stdout: string[];
  readonly stderrText: () => string;
  /** Send SIGTERM (or the given signal) and wait for exit; resolves the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

export function writeTempConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'veneur-test-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** Run veneur with these args to completion (e.g. -validate-config). */
export function runVeneur(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...veneurNodeFlags(), VENEUR_BIN, ...args], {
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`veneur ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Start veneur with a YAML config (written to a temp file) and wait until it is serving. */
export async function startVeneur(
  yaml: string | null,
  opts: { env?: Record<string, string>; args?: string[]; startTimeoutMs?: number } = {},
): Promise<VeneurProcess> {
  const args = yaml === null ? [] : ['-f', writeTempConfig(yaml)];
  const child = spawn(process.execPath, [...veneurNodeFlags(), VENEUR_BIN, ...args, ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stdout: string[] = [];
  let stderr = '';
  const statsd: { host: string; port: number }[] = [];
  const tcp: { host: string; port: number }[] = [];
  let grpcPort = 0;
  let http: { host: string; port: number } | null = null;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  createInterface({ input: child.stdout! }).on('line', (l) => stdout.push(l));
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr += `${line}\n`;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(rec);
      if (rec.msg === 'listening for DogStatsD over UDP' && typeof rec.address === 'string') {
        const m = /^udp\d?:\/\/(.*):(\d+)$/.exec(rec.address);
        if (m) statsd.push({ host: m[1], port: Number(m[2]) });
      }
      if (rec.msg === 'listening for DogStatsD over TCP' && typeof rec.address === 'string') {
        const m = /^tcp\d?:\/\/(.*):(\d+)$/.exec(rec.address);
        if (m && !tcp.some((t) => t.port === Number(m[2]))) tcp.push({ host: m[1], port: Number(m[2]) });
      }
      if (rec.msg === 'gRPC import server listening' && typeof rec.port === 'number') grpcPort = rec.port;
      if (rec.msg === 'HTTP server listening' && typeof rec.address === 'string') {
        const i = rec.address.lastIndexOf(':');
        http = { host: rec.address.slice(0, i), port: Number(rec.address.slice(i + 1)) };
      }
      if (rec.msg === 'veneur started') resolve();
    });
    void exited.then((code) => reject(new Error(`veneur exited (${code}) before starting:\n${stderr}`)));
  });
  const timeout = opts.startTimeoutMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`veneur did not start within ${timeout} ms:\n${stderr}`)),
          timeout,
        );
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    child,
    pid: child.pid!,
    statsd,
    tcp,
    get grpcPort() {
      return grpcPort;
    },
    get http() {
      return http;
    },
    logs,
    stdout,
    stderrText: () => stderr,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      process.kill(child.pid!, signal);
      let t: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<number | null>((resolve) => {
          t = setTimeout(() => {
            child.kill('SIGKILL');
            resolve(null);
          }, timeoutMs);
        }),
      ]);
      clearTimeout(t);
      return code;
    },
  };
}

/** Send lines over UDP in datagrams of at most `maxBytes`, lines joined by `\n`. */
export async function sendUdpLines(
  port: number,
  lines: readonly string[],
  maxBytes = 1400,
  host = '127.0.0.1',
): Promise<number> {
  const dgram = await import('node:dgram');
  const sock = dgram.createSocket('udp4');
  const packets: Buffer[] = [];
  let cur: string[] = [];
  let size = 0;
  for (const l of lines) {
    const n = Buffer.byteLength(l) + (cur.length > 0 ? 1 : 0);
    if (cur.length > 0 && size + n > maxBytes) {
      packets.push(Buffer.from(cur.join('\n')));
      cur = [];
      size = 0;
    }
    size += Buffer.byteLength(l) + (cur.length > 0 ? 1 : 0);
    cur.push(l);
  }
  if (cur.length > 0) packets.push(Buffer.from(cur.join('\n')));
  for (const p of packets) {
    await new Promise<void>((resolve, reject) =>
      sock.send(p, port, host, (err) => (err ? reject(err) : resolve())),
    );
  }
  sock.close();
  return packets.length;
}
