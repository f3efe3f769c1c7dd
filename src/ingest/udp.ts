/**
 * UDP listener: bytes in, nothing else. Each datagram goes synchronously to
 * `onPacket` (the aggregator's hot path).
 *
 * Two readers. Where our native addon is available we read with its recvmmsg
 * reader (native/unixgram.c `bindUdp` + `startReading`): up to 64 datagrams per
 * syscall into one reused buffer, no Buffer/rinfo allocation per datagram. Node's
 * dgram costs ~3 µs per datagram; measured on 1-line datagrams pinned to one core:
 * 250k datagrams/s took 82% of the core with dgram (1,057 dropped) and 64% with the
 * native reader (none dropped) — BENCHMARKS.md. Without the addon we use dgram.
 *
 * node:cluster ingest workers (num_readers > 1), with the addon: the primary binds
 * one socket per worker (`bindSharedUdp`), a SO_REUSEPORT group whose BPF program
 * sends each datagram to a random socket (the default hash of the sender's
 * address would put one busy sender on one worker); SO_RCVBUF is set there and
 * the primary reads none of them. Every worker inherits all the fds through stdio
 * (`inherited` option) and runs one recvmmsg reader that drains its own socket
 * first and the others' when they wake it: the workers mostly read separate
 * receive queues (all reading one socket costs lock and cache-line contention per
 * datagram: 2 workers drained 1.2x as fast as one process, against about 1.8x this
 * way, BENCHMARKS.md), and what a busy, stopped or dead worker leaves queued is still read. Each
 * datagram is read by exactly one worker. When the group cannot be made, the
 * workers share one socket the same way. Without the addon the workers share the
 * primary's socket through node:dgram.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';
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
   * false in node:cluster ingest workers reading through node:dgram: the primary
   * owns the socket and every worker reads from it. Default true.
   */
  readonly exclusive?: boolean;
  /**
   * Ingest workers: sockets the cluster primary bound (`bindSharedUdp`) and passed down
   * through stdio, as this process's fds: `own` is read first, `steal` when they wake
   * the reader and `own` is empty. Read with the native reader (which must load); their
   * SO_RCVBUF was set by the primary (`recvBufferSize` is only logged). `stop` closes
   * this process's copies.
   */
  readonly inherited?: { readonly own: number; readonly steal: readonly number[] };
  /** Largest datagram read by the native reader (metric_max_length + 1 so too-long ones are seen). */
  readonly maxDatagram?: number;
  /** Use the native recvmmsg reader when the addon is available (default true when exclusive). */
  readonly native?: boolean;
}

function isV6(address: ListenAddress): boolean {
  return address.scheme === 'udp6' || (address.scheme === 'udp' && isIPv6(address.host));
}

/**
 * The IP literal to bind for `address` ('' = all interfaces). A host name is
 * resolved as node:dgram would (dns.lookup, IPv6 only for udp6).
 */
async function bindHost(address: ListenAddress): Promise<string> {
  const v6 = isV6(address);
  if (address.host === '') return v6 ? '::' : '0.0.0.0';
  if (isIP(address.host) !== 0) return address.host;
  return (await lookup(address.host, { family: v6 ? 6 : 4 })).address;
}

/** The UDP sockets the cluster primary binds for its ingest workers (see `bindSharedUdp`). */
export interface SharedUdpGroup {
  /** The primary's fds, one per worker (or one for all): passed to the workers, read by none here. */
  readonly fds: readonly number[];
  readonly host: string;
  readonly port: number;
  /** SO_RCVBUF of each socket as the kernel reports it (twice the granted size). */
  readonly recvBufferKernel: number;
  /** How datagrams are spread over the sockets: `random` (BPF), `hash` (kernel default), `single` (one socket). */
  readonly spread: 'random' | 'hash' | 'single';
  close(): void;
}

/**
 * Primary side of num_readers > 1: `count` UDP sockets bound natively to `address`
 * in one SO_REUSEPORT group (SO_RCVBUF = recvBufferSize each, set before bind), each
 * datagram going to a random one; no reader starts here. A plain bind probes the
 * address first, so a port already in use fails with EADDRINUSE as with one socket
 * (rather than joining someone's group). If the group cannot be made, one socket.
 * null when the addon is unavailable (the workers then share a node:dgram socket).
 */
export async function bindSharedUdp(
  address: ListenAddress,
  recvBufferSize: number,
  count: number,
  logger: Logger,
): Promise<SharedUdpGroup | null> {
  let addon: UnixgramAddon;
  try {
    addon = loadUnixgramAddon();
  } catch (err) {
    logger.info(
      { err: (err as Error).message },
      'native UDP reader unavailable: ingest workers share the socket through node:dgram',
    );
    return null;
  }
  const host = await bindHost(address);
  const fds: number[] = [];
  const closeAll = (): void => {
    for (const fd of fds.splice(0)) {
      try {
        addon.close(fd);
      } catch {} // EBADF: already closed by a listener that adopted it in this process (tests)
    }
  };
  let spread: SharedUdpGroup['spread'] = 'single';
  let port: number;
  let recvBufferKernel: number;
  try {
    // the probe: fails like a single bind would when the port is taken; resolves port 0
    const probe = addon.bindUdp(host, address.port, 0, false);
    port = addon.localPort(probe);
    addon.close(probe);
    if (count > 1) {
      try {
        for (let i = 0; i < count; i++) fds.push(addon.bindUdp(host, port, recvBufferSize, true));
        spread = 'hash';
        addon.spreadReuseport(fds[0], count);
        spread = 'random';
      } catch (err) {
        if (spread === 'hash') {
          logger.warn({ err }, 'UDP: no BPF spreading for the ingest workers: the kernel hashes senders');
        } else {
          logger.warn({ err }, 'UDP: no SO_REUSEPORT group: the ingest workers share one socket');
          closeAll();
        }
      }
    }
    if (fds.length === 0) fds.push(addon.bindUdp(host, port, recvBufferSize, false));
    recvBufferKernel = addon.getRecvBufferSize(fds[0]);
  } catch (err) {
    closeAll();
    throw err;
  }
  return {
    fds: [...fds],
    host,
    port,
    recvBufferKernel,
    spread,
    close: closeAll,
  };
}

/** Datagrams per recvmmsg call. */
const BATCH = 64;

export class UdpListener implements Component {
  readonly kind = 'udp';
  readonly name: string;
  readonly #opts: UdpListenerOptions;
  #socket: dgram.Socket | null = null;
  /** fds[0] is read by the reader; the others are polled by it too (stolen from) */
  #native: { addon: UnixgramAddon; fds: readonly number[] } | null = null;
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
    const inherited = this.#opts.inherited;
    let addon: UnixgramAddon | null = null;
    if (inherited !== undefined) {
      addon = loadUnixgramAddon(); // the primary bound the socket with it: no dgram fallback here
    } else if (exclusive && (this.#opts.native ?? true)) {
      try {
        addon = loadUnixgramAddon();
      } catch (err) {
        logger.info({ err: (err as Error).message }, 'native UDP reader unavailable: using node:dgram');
      }
    }
    let recvBufferKernel: number | undefined;
    if (addon !== null) {
      let fd: number;
      let host: string;
      let steal: number[] = [];
      if (inherited !== undefined) {
        fd = addon.adoptUdp(inherited.own);
        steal = inherited.steal.map((f) => addon.adoptUdp(f));
        host = await bindHost(address); // for the log: the sockets are the primary's
      } else {
        host = await bindHost(address);
        fd = addon.bindUdp(host, address.port, this.#opts.recvBufferSize, false);
      }
      try {
        this.#bound = { host, port: addon.localPort(fd) };
        recvBufferKernel = addon.getRecvBufferSize(fd);
        this.#startNative(addon, fd, steal);
      } catch (err) {
        for (const f of [fd, ...steal]) addon.close(f);
        throw err;
      }
    } else {
      await this.#startDgram(exclusive);
      try {
        recvBufferKernel = this.#socket?.getRecvBufferSize();
      } catch {}
    }
    const a = this.#bound as unknown as { host: string; port: number };
    logger.info(
      {
        address: `${address.scheme}://${a.host}:${a.port}`,
        recvBuffer: this.#opts.recvBufferSize,
        recvBufferKernel,
        reader: addon !== null ? 'recvmmsg' : 'dgram',
        ...(inherited !== undefined ? { sockets: 1 + inherited.steal.length } : {}),
      },
      'listening for DogStatsD over UDP',
    );
  }

  #startNative(addon: UnixgramAddon, fd: number, steal: readonly number[]): void {
    const maxDatagram = this.#opts.maxDatagram ?? 65_536;
    const { onPacket, logger } = this.#opts;
    const slot = maxDatagram + 1;
    addon.startReading(
      fd,
      maxDatagram,
      BATCH,
      (buffer, lengths, count, stopped) => {
        if (count < 0) {
          // the kernel counts what it drops; a fatal error (e.g. EBADF) stops this reader
          const code = getSystemErrorName(count);
          if (stopped) logger.error({ code, listener: this.name }, 'UDP read failed; stopped reading');
          else logger.warn({ code, listener: this.name }, 'UDP read error');
          return;
        }
        if (buffer !== this.#buffer) {
          this.#buffer = buffer;
          this.#views = [];
          for (let i = 0; i < lengths.length; i++)
            this.#views.push(buffer.subarray(i * slot, (i + 1) * slot));
        }
        const views = this.#views;
        // a datagram longer than maxDatagram reports its true length: the aggregator counts it as too long
        for (let i = 0; i < count; i++) onPacket(views[i], lengths[i]);
      },
      steal,
    );
    this.#native = { addon, fds: [fd, ...steal] };
  }

  async #startDgram(exclusive: boolean): Promise<void> {
    const { address, onPacket, logger } = this.#opts;
    const socket = dgram.createSocket({ type: isV6(address) ? 'udp6' : 'udp4' });
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
      native.addon.stopReading(native.fds[0]);
      for (const fd of native.fds) native.addon.close(fd);
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
