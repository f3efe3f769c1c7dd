/**
 * Unix datagram statsd listener (`unixgram:///path/x.sock`, `unixgram:@name`;
 * reference §1.1, §1.5) on the small Node-API addon in native/ (Node 20 has no
 * AF_UNIX datagram sockets). Like UDP: one datagram = one packet, handed
 * synchronously to `onPacket`; a datagram longer than `metric_max_length` is
 * dropped whole and reported to `onTooLong`.
 *
 * Path sockets follow Veneur: exclusive flock on `<path>.lock` (refused while
 * another process holds it; the kernel drops the lock of a dead process), stale
 * socket file removed, bind, chmod 0666; socket and lock file removed at stop.
 * Abstract sockets (`@name`) skip all file handling.
 *
 * The addon reads with recvmmsg into one receive area reused for every batch;
 * `onPacket(buf, len)` gets a view of that area valid only during the call.
 */
import { chmodSync, fstatSync, ftruncateSync, lstatSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { ListenAddress } from '../util/address.js';

/** The native addon (native/unixgram.c documents it in full). */
export interface UnixgramAddon {
  /** AF_UNIX/SOCK_DGRAM bound to `path` ('@name' = abstract), non-blocking; SO_RCVBUF = rcvbuf when > 0. */
  bind(path: string, rcvbuf: number): number;
  /** An unbound non-blocking client socket. */
  socket(): number;
  /** A non-blocking UDP socket bound to host (IPv4/IPv6 literal, '' = any) and port, for startReading. */
  bindUdp(host: string, port: number, rcvbuf: number, reuseport: boolean): number;
  /** The bound port of an inet socket made by bindUdp. */
  localPort(fd: number): number;
  /**
   * Attach to fd's SO_REUSEPORT group a BPF program sending each datagram to a random one
   * of the group's first n sockets (in bind order), instead of a hash of the sender's address.
   */
  spreadReuseport(fd: number, n: number): void;
  /** Take over an inherited AF_UNIX/SOCK_DGRAM fd (e.g. passed to a cluster worker through stdio). */
  adopt(fd: number): number;
  /**
   * Take over an inherited UDP (AF_INET/AF_INET6, SOCK_DGRAM) fd, e.g. the socket a cluster
   * primary bound with bindUdp and passed to its workers through stdio. Several processes
   * can each run startReading on the same socket: each datagram goes to one of them.
   */
  adoptUdp(fd: number): number;
  /** open(O_CREAT) + flock(LOCK_EX|LOCK_NB); throws code EAGAIN while another open file holds it. */
  lock(path: string): number;
  getRecvBufferSize(fd: number): number;
  /** sendto on `fd` (-1: a temporary socket). Bytes sent, or -1 when the receiver's queue is full. */
  send(fd: number, path: string, data: Uint8Array): number;
  /**
   * Calls `callback` once per recvmmsg batch: datagram i is at byte i*(maxDatagram+1) of
   * `buffer`, with its true length in `lengths[i]` (> maxDatagram when it was too long).
   * `buffer` and `lengths` are the same objects on every call. count < 0 is a read error
   * (-errno); `stopped` tells whether the reader gave up.
   * `stealFds`: more owned sockets polled by the same reader; when one wakes it, it drains
   * `fd` first, then that socket (ingest workers: own socket first, then the others').
   */
  startReading(
    fd: number,
    maxDatagram: number,
    batch: number,
    callback: (buffer: Buffer, lengths: Int32Array, count: number, stopped: boolean) => void,
    stealFds?: readonly number[],
  ): void;
  stopReading(fd: number): boolean;
  /** Stops the fd's reader if any and closes it (only fds this addon created or adopted). */
  close(fd: number): void;
}

/** build/Release/unixgram.node at the package root (same depth from src/ingest and dist/ingest). */
export const ADDON_PATH = fileURLToPath(new URL('../../build/Release/unixgram.node', import.meta.url));

let cached: UnixgramAddon | null = null;

/** Load the addon once; a clear error when it was not built. */
export function loadUnixgramAddon(path: string = ADDON_PATH): UnixgramAddon {
  if (cached !== null && path === ADDON_PATH) return cached;
  let addon: UnixgramAddon;
  try {
    addon = createRequire(import.meta.url)(path) as UnixgramAddon;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'MODULE_NOT_FOUND' ? `${path} is missing` : `${path}: ${(err as Error).message}`;
    throw new Error(`unixgram listeners need the native addon: run npm ci / npm run build:native (${why})`, {
      cause: err,
    });
  }
  if (path === ADDON_PATH) cached = addon;
  return addon;
}

export interface UnixgramListenerOptions {
  /** scheme 'unixgram'; `path` is '/x.sock' (or relative) or '@name' (abstract) */
  readonly address: ListenAddress;
  /** SO_RCVBUF (read_buffer_size_bytes); 0 keeps the system default. */
  readonly recvBufferSize: number;
  /** metric_max_length: longer datagrams are dropped whole. */
  readonly maxLength: number;
  /** One datagram: bytes [0, len) of `buf`, a view valid only during the call. */
  readonly onPacket: (buf: Buffer, len: number) => void;
  /** One datagram longer than maxLength (dropped). */
  readonly onTooLong: () => void;
  readonly logger: Logger;
  /** Datagrams per recvmmsg call (default 32); memory = batch * (maxLength + 1). */
  readonly batch?: number;
  /**
   * An inherited, already bound socket (cluster workers: the primary binds and passes
   * the fd through stdio). The listener only reads and closes it: no lock, no file handling.
   */
  readonly fd?: number;
}

export interface UnixgramStats {
  datagrams: number;
  batches: number;
  tooLong: number;
  readErrors: number;
}

interface Bound {
  readonly fd: number;
  /** path sockets we created: the socket file's inode, the lock fd and its inode */
  readonly file: { readonly ino: number; readonly lockFd: number; readonly lockIno: number } | null;
}

const DEFAULT_BATCH = 32;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Unlink `path` if it is still the file with inode `ino`. */
function unlinkIfSame(path: string, ino: number): void {
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

export class UnixgramListener implements Component {
  readonly kind = 'unixgram';
  readonly name: string;
  readonly stats: UnixgramStats = { datagrams: 0, batches: 0, tooLong: 0, readErrors: 0 };
  readonly #opts: UnixgramListenerOptions;
  #addon: UnixgramAddon | null = null;
  #bound: Bound | null = null;
  #buffer: Buffer | null = null;
  #views: Buffer[] = [];

  constructor(opts: UnixgramListenerOptions) {
    if (opts.address.scheme !== 'unixgram') throw new Error(`${opts.address.text}: not a unixgram address`);
    this.#opts = opts;
    this.name = opts.address.text;
  }

  /** The socket path ('@name' for abstract sockets) once started. */
  address(): string {
    if (this.#bound === null) throw new Error('unixgram listener not started');
    return this.#opts.address.path;
  }

  async start(): Promise<void> {
    if (this.#bound !== null) return;
    const { address, logger } = this.#opts;
    const addon = loadUnixgramAddon();
    this.#addon = addon;
    const path = address.path;
    let bound: Bound;
    if (this.#opts.fd !== undefined) {
      bound = { fd: addon.adopt(this.#opts.fd), file: null };
    } else if (path.startsWith('@')) {
      bound = { fd: addon.bind(path, this.#opts.recvBufferSize), file: null };
    } else {
      bound = this.#bindPath(addon, path);
    }
    try {
      addon.startReading(bound.fd, this.#opts.maxLength, this.#opts.batch ?? DEFAULT_BATCH, this.#onBatch);
    } catch (err) {
      this.#release(addon, bound);
      throw err;
    }
    this.#bound = bound;
    let recvBuffer: number | undefined;
    try {
      recvBuffer = addon.getRecvBufferSize(bound.fd);
    } catch {}
    logger.info({ address: address.text, recvBuffer }, 'listening for DogStatsD over unixgram');
  }

  /** Lock, remove a stale socket, bind, chmod 0666 (reference §1.5). */
  #bindPath(addon: UnixgramAddon, path: string): Bound {
    const lockPath = `${path}.lock`;
    let lockFd: number;
    try {
      lockFd = addon.lock(lockPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw err;
      let holder = '';
      try {
        const pid = readFileSync(lockPath, 'latin1').trim();
        if (/^\d+$/.test(pid)) holder = ` (pid ${pid})`;
      } catch {}
      throw new Error(
        `unixgram listener ${this.name}: ${lockPath} is locked by another process${holder}; is another veneur using ${path}?`,
        { cause: err },
      );
    }
    let fd = -1;
    try {
      const lockIno = fstatSync(lockFd).ino;
      ftruncateSync(lockFd, 0);
      writeSync(lockFd, `${process.pid}\n`, 0);
      try {
        const st = lstatSync(path);
        if (!st.isSocket()) {
          throw new Error(
            `unixgram listener ${this.name}: ${path} exists and is not a socket; not removing it`,
          );
        }
        unlinkSync(path); // stale: we hold the lock, so nobody is serving it
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      fd = addon.bind(path, this.#opts.recvBufferSize);
      const ino = lstatSync(path).ino;
      chmodSync(path, 0o666);
      return { fd, file: { ino, lockFd, lockIno } };
    } catch (err) {
      if (fd >= 0) {
        addon.close(fd);
        try {
          unlinkSync(path);
        } catch {}
      }
      try {
        unlinkIfSame(lockPath, fstatSync(lockFd).ino);
      } catch {}
      addon.close(lockFd);
      throw err;
    }
  }

  readonly #onBatch = (buffer: Buffer, lengths: Int32Array, count: number, stopped: boolean): void => {
    if (count < 0) {
      this.stats.readErrors++;
      const code = getSystemErrorName(count);
      if (stopped)
        this.#opts.logger.error({ code, listener: this.name }, 'unixgram read failed; stopped reading');
      else this.#opts.logger.warn({ code, listener: this.name }, 'unixgram read error');
      return;
    }
    if (buffer !== this.#buffer) this.#setBuffer(buffer, lengths.length);
    const views = this.#views;
    const max = this.#opts.maxLength;
    this.stats.batches++;
    this.stats.datagrams += count;
    for (let i = 0; i < count; i++) {
      const len = lengths[i];
      try {
        if (len > max) {
          this.stats.tooLong++;
          this.#opts.onTooLong();
        } else {
          this.#opts.onPacket(views[i], len);
        }
      } catch (err) {
        this.#opts.logger.error({ err, listener: this.name }, 'unixgram packet handler failed');
      }
    }
  };

  /** One view per batch slot, made once: no allocation per datagram. */
  #setBuffer(buffer: Buffer, batch: number): void {
    const slot = this.#opts.maxLength + 1;
    this.#buffer = buffer;
    this.#views = [];
    for (let i = 0; i < batch; i++) this.#views.push(buffer.subarray(i * slot, (i + 1) * slot));
  }

  #release(addon: UnixgramAddon, bound: Bound): void {
    const path = this.#opts.address.path;
    try {
      addon.close(bound.fd);
    } catch {}
    if (bound.file === null) return;
    try {
      unlinkIfSame(path, bound.file.ino);
    } catch (err) {
      this.#opts.logger.warn({ err, path }, 'could not remove unixgram socket file');
    }
    try {
      unlinkIfSame(`${path}.lock`, bound.file.lockIno);
    } catch (err) {
      this.#opts.logger.warn({ err, path: `${path}.lock` }, 'could not remove unixgram lock file');
    }
    try {
      addon.close(bound.file.lockFd);
    } catch {}
  }

  async stop(_deadline: number): Promise<void> {
    const bound = this.#bound;
    const addon = this.#addon;
    this.#bound = null;
    if (bound === null || addon === null) return;
    addon.stopReading(bound.fd);
    this.#release(addon, bound);
    this.#buffer = null;
    this.#views = [];
  }
}

/**
 * A datagram client for tests and veneur-emit: one unbound socket, `send` retries while
 * the receiver's queue is full (unix datagram sockets push back instead of dropping).
 */
export class UnixgramClient {
  readonly #addon: UnixgramAddon;
  readonly #path: string;
  #fd: number;

  constructor(path: string) {
    this.#addon = loadUnixgramAddon();
    this.#path = path;
    this.#fd = this.#addon.socket();
  }

  /** Non-blocking: true when sent, false when the receiver's queue is full. */
  trySend(data: Uint8Array): boolean {
    if (this.#fd < 0) throw new Error('unixgram client closed');
    return this.#addon.send(this.#fd, this.#path, data) >= 0;
  }

  /** Send, waiting (without blocking the event loop) up to timeoutMs while the queue is full. */
  async send(data: Uint8Array, timeoutMs = 1000): Promise<void> {
    if (this.trySend(data)) return;
    const until = Date.now() + timeoutMs;
    let wait = 0;
    for (;;) {
      await new Promise((resolve) => (wait === 0 ? setImmediate(resolve) : setTimeout(resolve, wait)));
      if (this.trySend(data)) return;
      if (Date.now() >= until) {
        throw Object.assign(
          new Error(`unixgram send to ${this.#path}: receiver queue full for ${timeoutMs} ms`),
          {
            code: 'EAGAIN',
          },
        );
      }
      wait = Math.min(wait === 0 ? 1 : wait * 2, 50);
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#addon.close(fd);
  }
}
