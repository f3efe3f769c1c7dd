/**
 * `stats_address`: veneur's own metrics also sent as DogStatsD (reference §8.1),
 * as Go Veneur does with its statsd client. Self-metrics are always aggregated
 * in-process and flushed with everything else; this sink additionally sends the
 * flushed `veneur.*` records (counters as `|c`, everything else as `|g`) to the
 * address, packed into datagrams of at most 1,432 bytes.
 *
 * When stats_address is one of this veneur's own UDP listeners (a common Go
 * setup), sending would count everything twice, so build.ts does not create it.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { batchSize, chunksOf, type MetricBatch } from '../model/batch.js';
import { type InterMetric, InterMetricType } from '../model/metric.js';
import type { FlushResult, MetricSink } from '../sinks/types.js';
import { parseHostPort } from '../util/address.js';

const MAX_DATAGRAM = 1432;

/** One DogStatsD line for a flushed record (tags joined by `,`). */
export function statsdLine(m: InterMetric): string {
  const type = m.type === InterMetricType.Counter ? 'c' : 'g';
  const tags = m.tags.length > 0 ? `|#${m.tags.join(',')}` : '';
  return `${m.name}:${m.value}|${type}${tags}`;
}

/** Lines packed into `\n`-joined datagrams no longer than `max` bytes (a longer single line goes alone). */
export function packLines(lines: readonly string[], max = MAX_DATAGRAM): Buffer[] {
  const out: Buffer[] = [];
  let cur = '';
  for (const l of lines) {
    if (cur !== '' && Buffer.byteLength(cur) + 1 + Buffer.byteLength(l) > max) {
      out.push(Buffer.from(cur));
      cur = '';
    }
    cur = cur === '' ? l : `${cur}\n${l}`;
  }
  if (cur !== '') out.push(Buffer.from(cur));
  return out;
}

export class StatsAddressSink implements MetricSink {
  readonly kind = 'stats_address';
  readonly name = 'stats_address';
  readonly #host: string;
  readonly #port: number;
  #socket: dgram.Socket | null = null;

  /** `address` is `host:port` (UDP). */
  constructor(address: string) {
    const hp = parseHostPort(address);
    if (hp === null) throw new Error(`stats_address: expected host:port, got "${address}"`);
    this.#host = hp.host === '' ? '127.0.0.1' : hp.host;
    this.#port = hp.port;
  }

  async start(): Promise<void> {
    this.#socket = dgram.createSocket(isIPv6(this.#host) ? 'udp6' : 'udp4');
    this.#socket.on('error', () => {});
    this.#socket.unref();
  }

  async flush(batch: MetricBatch, _signal: AbortSignal): Promise<FlushResult> {
    const socket = this.#socket;
    if (socket === null) return { flushed: 0, skipped: await batchSize(batch), dropped: 0 };
    const own: InterMetric[] = [];
    let total = 0;
    for await (const chunk of chunksOf(batch)) {
      total += chunk.length;
      for (const m of chunk)
        if (m.name.startsWith('veneur.') && m.type !== InterMetricType.Status) own.push(m);
    }
    const packets = packLines(own.map(statsdLine));
    await Promise.all(
      packets.map(
        (p) =>
          new Promise<void>((resolve, reject) =>
            socket.send(p, this.#port, this.#host, (err) => (err ? reject(err) : resolve())),
          ),
      ),
    );
    return { flushed: own.length, skipped: total - own.length, dropped: 0 };
  }

  async stop(): Promise<void> {
    const s = this.#socket;
    this.#socket = null;
    if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
