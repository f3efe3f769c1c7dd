/**
 * UDP listener: bytes in, nothing else. Each datagram goes synchronously to
 * `onPacket` (the aggregator's hot path).
 *
 * Two readers. In a single process we read with our native addon's recvmmsg
 * reader (native/unixgram.c `bindUdp` + `startReading`): up to 64 datagrams per
 * syscall into one reused buffer, no Buffer/rinfo allocation per datagram. Node's
 * dgram costs ~3 µs per datagram; measured on 1-line datagrams pinned to one core:
 * 250k datagrams/s took 82% of the core with dgram (1,057 dropped) and 64% with the
 * native reader (none dropped) — BENCHMARKS.md. In node:cluster ingest workers, and
 * when the addon is missing, we use dgram (workers share the primary's socket).
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { ListenAddress } from '../util/address.js';
import { loadUnixgramAddon, type UnixgramAddon } from './unixgram.js';

export interface UdpListenerOptions {
  readonly address: ListenAddress;
  /** SO_RCVBUF (read_buffer_size_bytes); the kernel caps it at net.core.rmem_max. */
  readonly recvBufferSize: number;
  /** One datagram: bytes [0, len) of `buf` (with the native reader, a view valid only during the call). */
  readonly onPacket: (buf: Buffer, len: number) => void;
  readonly logger: Logger;
  /**
   * false in node:cluster ingest workers: the primary owns the socket and every
   * worker reads from it (Node 20 has no SO_REUSEPORT for dgram). Default true.
   */
  readonly exclusive?: boolean;
  /** Largest datagram read by the native reader (metric_max_length + 1 so too-long ones are seen). */
  readonly maxDatagram?: number;
  /** Use the native recvmmsg reader when the addon is available (default true when exclusive). */
  readonly native?: boolean;
}

/** Datagrams per recvmmsg call. */
const BATCH = 64;

export class UdpListener implements Component {
  readonly kind = 'udp';
  readonly name: string;
  readonly #opts: UdpListenerOptions;
  #socket: dgram.Socket | null = null;
  #native: { addon: UnixgramAddon; fd: number } | null = null;
  #bound: { host: string; port: number } | null = null;
  #views: Buffer[] = [];
  #buffer: Buffer | null = null;

  constructor(opts: UdpListenerOptions) {
    this.#opts = opts;
    this.name = opts.address.text;
  }

  /** The bound address (port 0 resolved) once started. */
  address(): { host: string; port: number } {
    if (this.#bound === null) throw new Error('udp listener not started');
    return this.#bound;
  }

  async start(): Promise<void> {
    const { address, logger } = this.#opts;
    const exclusive = this.#opts.exclusive ?? true;
    let addon: UnixgramAddon | null = null;
    if (exclusive && (this.#opts.native ?? true)) {
      try {
        addon = loadUnixgramAddon();
      } catch (err) {
        logger.info({ err: (err as Error).message }, 'native UDP reader unavailable: using node:dgram');
      }
    }
    if (addon !== null) this.#startNative(addon);
    else await this.#startDgram(exclusive);
    const a = this.#bound as unknown as { host: string; port: number };
    logger.info(
      {
        address: `${address.scheme}://${a.host}:${a.port}`,
        recvBuffer: this.#opts.recvBufferSize,
        reader: addon !== null ? 'recvmmsg' : 'dgram',
      },
      'listening for DogStatsD over UDP',
    );
  }

  #startNative(addon: UnixgramAddon): void {
    const { address } = this.#opts;
    const host = address.host === '' ? (address.scheme === 'udp6' ? '::' : '0.0.0.0') : address.host;
    const fd = addon.bindUdp(host, address.port, this.#opts.recvBufferSize, false);
    this.#native = { addon, fd };
    const maxDatagram = this.#opts.maxDatagram ?? 65_536;
    const onPacket = this.#opts.onPacket;
    const slot = maxDatagram + 1;
    addon.startReading(fd, maxDatagram, BATCH, (buffer, lengths, count) => {
      if (count < 0) return; // read errors: the kernel counts drops; nothing to parse
      if (buffer !== this.#buffer) {
        this.#buffer = buffer;
        this.#views = [];
        for (let i = 0; i < lengths.length; i++) this.#views.push(buffer.subarray(i * slot, (i + 1) * slot));
      }
      const views = this.#views;
      // a datagram longer than maxDatagram reports its true length: the aggregator counts it as too long
      for (let i = 0; i < count; i++) onPacket(views[i], lengths[i]);
    });
    this.#bound = { host, port: addon.localPort(fd) };
  }

  async #startDgram(exclusive: boolean): Promise<void> {
    const { address, onPacket, logger } = this.#opts;
    const v6 = address.scheme === 'udp6' || (address.scheme === 'udp' && isIPv6(address.host));
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4' });
    this.#socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(
        { port: address.port, address: address.host === '' ? undefined : address.host, exclusive },
        () => {
          socket.off('error', reject);
          resolve();
        },
      );
    });
    try {
      socket.setRecvBufferSize(this.#opts.recvBufferSize);
    } catch (err) {
      logger.warn({ err, bytes: this.#opts.recvBufferSize }, 'could not set UDP receive buffer size');
    }
    socket.on('error', (err) => logger.warn({ err, listener: this.name }, 'UDP read error'));
    socket.on('message', (msg) => onPacket(msg, msg.length));
    const a = socket.address();
    this.#bound = { host: a.address, port: a.port };
  }

  async stop(_deadline: number): Promise<void> {
    const native = this.#native;
    this.#native = null;
    if (native !== null) {
      native.addon.stopReading(native.fd);
      native.addon.close(native.fd);
    }
    const socket = this.#socket;
    this.#socket = null;
    if (socket === null) return;
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
