/**
 * veneur-proxy's own metrics (reference §8.3): DogStatsD to `statsd.address`, names
 * as given (`veneur_proxy.*`, no namespace), aggregated in the process and sent
 * every `statsd.aggregation_interval` (Go's client-side aggregation): counters
 * summed, gauges last value, timings sent as each sample (`|ms`, at most
 * MAX_TIMINGS per interval). Datagrams of at most 1,432 bytes.
 * `statsd.address` is `host:port` or `udp://host:port`; '' disables sending.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { packLines } from '../telemetry/stats-address.js';
import type { Telemetry } from '../telemetry/types.js';
import { parseHostPort } from '../util/address.js';

const MAX_TIMINGS = 10_000;

function key(name: string, tags: readonly string[]): string {
  return tags.length === 0 ? name : `${name}|#${tags.join(',')}`;
}

/** Aggregates in memory; `drainLines()` returns the DogStatsD lines and resets. */
export class AggregatingTelemetry implements Telemetry {
  #counters = new Map<string, number>();
  #gauges = new Map<string, number>();
  #timings: string[] = [];

  count(name: string, value: number, tags: readonly string[] = []): void {
    const k = key(name, tags);
    this.#counters.set(k, (this.#counters.get(k) ?? 0) + value);
  }

  gauge(name: string, value: number, tags: readonly string[] = []): void {
    this.#gauges.set(key(name, tags), value);
  }

  timing(name: string, value: number, tags: readonly string[] = []): void {
    if (this.#timings.length >= MAX_TIMINGS) return;
    this.#timings.push(line(key(name, tags), value, 'ms'));
  }

  drainLines(): string[] {
    const out: string[] = [];
    for (const [k, v] of this.#counters) out.push(line(k, v, 'c'));
    for (const [k, v] of this.#gauges) out.push(line(k, v, 'g'));
    out.push(...this.#timings);
    this.#counters = new Map();
    this.#gauges = new Map();
    this.#timings = [];
    return out;
  }
}

/** `name:value|type|#tags` from a `name|#tags` key. */
function line(k: string, value: number, type: string): string {
  const bar = k.indexOf('|#');
  const v = Number.isInteger(value) ? String(value) : String(+value.toFixed(6));
  return bar < 0 ? `${k}:${v}|${type}` : `${k.slice(0, bar)}:${v}|${type}${k.slice(bar)}`;
}

export class StatsdTelemetry extends AggregatingTelemetry {
  readonly #host: string;
  readonly #port: number;
  #socket: dgram.Socket | null = null;
  #timer: NodeJS.Timeout | undefined;

  /** Throws on an address that is not `host:port` / `udp://host:port`. */
  constructor(
    address: string,
    readonly intervalMs: number,
  ) {
    super();
    const text = address.startsWith('udp://') ? address.slice(6) : address;
    const hp = parseHostPort(text);
    if (hp === null) throw new Error(`statsd.address: expected host:port, got ${JSON.stringify(address)}`);
    this.#host = hp.host === '' ? '127.0.0.1' : hp.host;
    this.#port = hp.port;
  }

  start(): void {
    if (this.#socket !== null) return;
    this.#socket = dgram.createSocket(isIPv6(this.#host) ? 'udp6' : 'udp4');
    this.#socket.on('error', () => {});
    this.#socket.unref();
    this.#timer = setInterval(() => this.flush(), this.intervalMs);
    this.#timer.unref();
  }

  flush(): void {
    const s = this.#socket;
    const lines = this.drainLines();
    if (s === null) return;
    for (const p of packLines(lines)) s.send(p, this.#port, this.#host);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.flush();
    const s = this.#socket;
    this.#socket = null;
    // give the last datagrams a turn to leave before closing
    if (s !== null) await new Promise<void>((resolve) => setImmediate(() => s.close(() => resolve())));
  }
}
