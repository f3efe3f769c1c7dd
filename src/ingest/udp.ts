/**
 * UDP listener: bytes in, nothing else. Each datagram goes synchronously to
 * `onPacket` (the aggregator's hot path) from the socket callback.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { ListenAddress } from '../util/address.js';

export interface UdpListenerOptions {
  readonly address: ListenAddress;
  /** SO_RCVBUF (read_buffer_size_bytes); the kernel caps it at net.core.rmem_max. */
  readonly recvBufferSize: number;
  readonly onPacket: (buf: Buffer) => void;
  readonly logger: Logger;
  /**
   * false in node:cluster ingest workers: the primary owns the socket and every
   * worker reads from it (Node 20 has no SO_REUSEPORT for dgram). Default true.
   */
  readonly exclusive?: boolean;
}

export class UdpListener implements Component {
  readonly kind = 'udp';
  readonly name: string;
  readonly #opts: UdpListenerOptions;
  #socket: dgram.Socket | null = null;
  #bound: { host: string; port: number } | null = null;

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
    const { address, onPacket, logger } = this.#opts;
    const v6 = address.scheme === 'udp6' || (address.scheme === 'udp' && isIPv6(address.host));
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4' });
    this.#socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(
        {
          port: address.port,
          address: address.host === '' ? undefined : address.host,
          exclusive: this.#opts.exclusive ?? true,
        },
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
    socket.on('message', (msg) => onPacket(msg));
    const a = socket.address();
    this.#bound = { host: a.address, port: a.port };
    logger.info(
      { address: `${address.scheme}://${a.address}:${a.port}`, recvBuffer: socket.getRecvBufferSize() },
      'listening for DogStatsD over UDP',
    );
  }

  async stop(_deadline: number): Promise<void> {
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
