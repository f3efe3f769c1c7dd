/**
 * Stream listeners for DogStatsD: TCP (optionally TLS, with optional client-certificate
 * auth) and unix stream sockets. Bytes in, nothing else: each connection gets a
 * LineFramer and every complete line goes synchronously to `onLine` (the aggregator's
 * `ingestLine`) from the socket's data callback.
 *
 * Differences from Go Veneur, on purpose (reference §1.5, §14.5):
 * - A line the aggregator rejects does NOT close the connection. Go closes the
 *   connection on the first bad line ("don't consume bad data from a client
 *   indefinitely"), which throws away every later good line of that client and makes
 *   it reconnect; we count the bad line (the aggregator does) and keep reading.
 * - An over-long line (> maxLineLength, default 64 KiB like Go's bufio.Scanner) is
 *   dropped and counted as `packet.error_total{packet_type:unknown,reason:toolong}`;
 *   framing resyncs at the next newline and the connection stays open (Go's scanner
 *   fails and the connection is closed).
 * - Unix stream sockets (`unix://`) are accepted for statsd; Go Veneur only has them
 *   for SSF and panics "unknown network unix" for statsd (§15).
 * Same as Go: 10-minute idle timeout, eager TLS handshake, `tcp.connects` counted at
 * accept (before the handshake), `tcp.disconnects` at close (also after a failed
 * handshake), `tcp.tls_handshake_failures`.
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { Telemetry } from '../telemetry/types.js';
import type { ListenAddress } from '../util/address.js';
import { VeneurError } from '../util/errors.js';
import { LineFramer, type LineHandler } from './line-framer.js';

export type { LineHandler } from './line-framer.js';

/** Veneur's `tls_key`, `tls_certificate`, `tls_authority_certificate`: PEM contents, not paths. */
export interface StreamTlsOptions {
  readonly key: string;
  readonly cert: string;
  /** When set, clients must present a certificate signed by this CA (§1.6). */
  readonly ca?: string;
}

export interface StreamListenerOptions {
  /** One line without its newline; `buf` is only valid during the call. */
  readonly onLine: LineHandler;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  /** TCP only (Go applies the statsd TLS settings to TCP listeners only). */
  readonly tls?: StreamTlsOptions;
  /** Longest accepted line in bytes, newline excluded. Default 65536 (Go's bufio.Scanner cap). */
  readonly maxLineLength?: number;
  /** Close a connection after this long without data; 0 disables. Default 10 minutes (Go). */
  readonly idleTimeoutMs?: number;
  /**
   * Unix sockets in node:cluster ingest workers: the primary owns the socket file
   * (clears a stale one before forking, removes it at shutdown) and every worker
   * listens on the shared handle, so workers must neither probe nor unlink it.
   */
  readonly sharedSocketFile?: boolean;
}

export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
/** TCP keep-alive probe delay; Go's net.Listen enables 15 s keep-alive on accepted connections. */
const KEEPALIVE_MS = 15_000;
const TOOLONG_TAGS: readonly string[] = Object.freeze([
  'packet_type:unknown',
  'reason:toolong',
  'cause:toolong',
]);

function immediate(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Accepting, framing, idle timeout and shutdown shared by the TCP/TLS and unix stream listeners. */
abstract class StreamListenerBase implements Component {
  abstract readonly kind: string;
  readonly name: string;
  protected readonly opts: StreamListenerOptions;
  protected readonly listenAddress: ListenAddress;
  readonly #maxLineLength: number;
  readonly #idleTimeoutMs: number;
  readonly #onTooLong: () => void;
  #server: net.Server | null = null;
  #stopping: Promise<void> | null = null;
  /** Every accepted socket, for TLS the raw TCP socket and the TLS socket on top of it. */
  readonly #sockets = new Set<net.Socket>();

  constructor(address: ListenAddress, opts: StreamListenerOptions) {
    this.listenAddress = address;
    this.opts = opts;
    this.name = address.text;
    this.#maxLineLength = opts.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    if (!Number.isInteger(this.#maxLineLength) || this.#maxLineLength < 1)
      throw new RangeError(`maxLineLength must be a positive integer, got ${this.#maxLineLength}`);
    if (!Number.isFinite(this.#idleTimeoutMs) || this.#idleTimeoutMs < 0)
      throw new RangeError(`idleTimeoutMs must be >= 0, got ${this.#idleTimeoutMs}`);
    const { telemetry } = opts;
    this.#onTooLong = () => telemetry.count('packet.error_total', 1, TOOLONG_TAGS);
  }

  protected get started(): boolean {
    return this.#server !== null;
  }

  protected get server(): net.Server {
    if (this.#server === null) throw new Error(`${this.kind} listener ${this.name} not started`);
    return this.#server;
  }

  /** Create the (not yet listening) server; call `track`/`serve` from its events. */
  protected abstract createServer(): net.Server;
  /** Bind `server`; resolve once listening. */
  protected abstract listen(server: net.Server): Promise<void>;
  /** Called before `createServer` (unix: clear a stale socket file). */
  protected async beforeListen(): Promise<void> {}
  /** Called after the server closed (unix: remove the socket file). */
  protected async afterClose(): Promise<void> {}

  async start(): Promise<void> {
    if (this.#server !== null) throw new Error(`${this.kind} listener ${this.name} already started`);
    this.#stopping = null;
    await this.beforeListen();
    const server = this.createServer();
    try {
      await this.listen(server);
    } catch (err) {
      server.close();
      throw new VeneurError('ERR_LISTEN', `cannot listen on ${this.name}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    server.on('error', (err) => this.opts.logger.warn({ err, listener: this.name }, 'stream listener error'));
    this.#server = server;
  }

  /** Track an accepted socket until it closes; `onClose` runs once at close. */
  protected track(socket: net.Socket, onClose?: () => void): void {
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      onClose?.();
    });
  }

  /**
   * Frame the lines of one connection. A final line without `\n` is delivered when the
   * peer closes cleanly (FIN); on idle timeout, reset or our own stop an unfinished line
   * may be truncated, so it is dropped rather than ingested with a wrong value or tag.
   */
  protected serve(socket: net.Socket): void {
    const { onLine, logger } = this.opts;
    const framer = new LineFramer(onLine, this.#onTooLong, this.#maxLineLength);
    if (!this.#sockets.has(socket)) this.track(socket);
    if (this.#idleTimeoutMs > 0) {
      socket.setTimeout(this.#idleTimeoutMs);
      socket.on('timeout', () => {
        logger.debug({ listener: this.name, peer: peerOf(socket) }, 'closing idle stream connection');
        socket.destroy();
      });
    }
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    socket.on('end', () => framer.end());
    socket.on('error', (err) =>
      logger.debug({ err, listener: this.name, peer: peerOf(socket) }, 'stream connection error'),
    );
    socket.on('close', () => {
      const dropped = framer.discard();
      if (dropped > 0)
        logger.debug(
          { listener: this.name, bytes: dropped },
          'dropped an unfinished line at connection close',
        );
    });
  }

  /**
   * Stop accepting, let reads already queued in the kernel reach the framers (so complete
   * lines sent before stop are ingested), then close every connection. Idempotent.
   */
  stop(deadline: number): Promise<void> {
    if (this.#server === null) return this.#stopping ?? Promise.resolve();
    if (this.#stopping === null) this.#stopping = this.#stop(this.#server, deadline);
    return this.#stopping;
  }

  async #stop(server: net.Server, deadline: number): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // two loop turns: the poll phase reads what clients sent before stop was called
    await immediate();
    await immediate();
    for (const s of this.#sockets) s.destroy();
    // destroyed sockets close at once; the deadline only guards against a socket that doesn't
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      timer.unref();
    });
    await Promise.race([closed, late]);
    clearTimeout(timer);
    this.#server = null;
    await this.afterClose();
  }
}

function peerOf(socket: net.Socket): string {
  return socket.remoteAddress === undefined ? 'unix' : `${socket.remoteAddress}:${socket.remotePort}`;
}

/** `tcp://host:port`, `tcp4://`, `tcp6://`; TLS when `opts.tls` is given. */
export class TcpListener extends StreamListenerBase {
  readonly kind = 'tcp';

  constructor(address: ListenAddress, opts: StreamListenerOptions) {
    super(address, opts);
    const { scheme, host } = address;
    if (scheme !== 'tcp' && scheme !== 'tcp4' && scheme !== 'tcp6')
      throw new VeneurError('ERR_LISTEN', `${address.text}: not a tcp address`);
    if (scheme === 'tcp4' && net.isIPv6(host))
      throw new VeneurError('ERR_LISTEN', `${address.text}: tcp4 needs an IPv4 address`);
    if (scheme === 'tcp6' && net.isIPv4(host))
      throw new VeneurError('ERR_LISTEN', `${address.text}: tcp6 needs an IPv6 address`);
  }

  /** The bound address (port 0 resolved) once started. */
  address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  protected createServer(): net.Server {
    const { tls: tlsOpts, telemetry, logger } = this.opts;
    const onConnection = (raw: net.Socket): void => {
      telemetry.count('tcp.connects', 1);
      raw.setKeepAlive(true, KEEPALIVE_MS);
      this.track(raw, () => telemetry.count('tcp.disconnects', 1));
    };
    if (tlsOpts === undefined) {
      const server = net.createServer();
      server.on('connection', (raw: net.Socket) => {
        onConnection(raw);
        this.serve(raw);
      });
      return server;
    }
    const idle = this.opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const requireClientCert = tlsOpts.ca !== undefined && tlsOpts.ca !== '';
    const server = tls.createServer({
      key: tlsOpts.key,
      cert: tlsOpts.cert,
      ...(requireClientCert ? { ca: tlsOpts.ca } : {}),
      // Go: RequireAndVerifyClientCert when tls_authority_certificate is set, else no client cert
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
      // eager handshake under the same idle deadline as reads (Go sets the read deadline first)
      handshakeTimeout: idle > 0 ? idle : 0,
    });
    server.on('connection', onConnection);
    server.on('secureConnection', (s: tls.TLSSocket) => this.serve(s));
    server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
      telemetry.count('tcp.tls_handshake_failures', 1);
      // Node checks the client certificate after OpenSSL's handshake and then just closes
      // the socket ("socket hang up"); the real reason (CERT_HAS_EXPIRED, ...) is here:
      const reason = s.authorizationError === null ? undefined : String(s.authorizationError);
      logger.info({ err, reason, listener: this.name, peer: peerOf(s) }, 'TLS handshake failed');
      s.destroy();
    });
    return server;
  }

  protected async listen(server: net.Server): Promise<void> {
    const { scheme, host, port } = this.listenAddress;
    const opts: net.ListenOptions = { port };
    if (host !== '') opts.host = host;
    else if (scheme === 'tcp4') opts.host = '0.0.0.0';
    else if (scheme === 'tcp6') opts.host = '::';
    // tcp6 is IPv6 only like Go's "tcp6"; plain tcp on all interfaces is dual-stack
    if (scheme === 'tcp6') opts.ipv6Only = true;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as net.AddressInfo;
    const t = this.opts.tls;
    this.opts.logger.info(
      {
        address: `${scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
        tls: t !== undefined,
        clientCertificates: t?.ca !== undefined && t.ca !== '',
      },
      'listening for DogStatsD over TCP',
    );
  }
}

/**
 * `unix:///path/x.sock`, abstract `unix:@name` / `unix://@name` (Linux).
 *
 * Path sockets: like Go, a stale socket file is replaced, the socket is made world-writable
 * (0666) after listen and removed at stop. Go guards the path with a flock on `<path>.lock`;
 * Node has no flock, so instead we probe the existing socket: if something accepts the
 * connection another process is serving it and start fails; if it is refused it is stale.
 * A path that exists and is not a socket is never removed: start fails.
 *
 * Abstract sockets (no file) are passed to Node as `\0name`. Node 20 (libuv 1.46) binds
 * them with the full 108-byte sun_path, NUL-padded, instead of the name's length; clients
 * that use the exact length (Go, Python, socat) get ECONNREFUSED, Node 20 clients connect.
 * libuv 1.48 (Node 22) uses the exact length (libuv PR #4266).
 */
export class UnixStreamListener extends StreamListenerBase {
  readonly kind = 'unix';
  readonly #osPath: string;
  readonly #abstract: boolean;

  constructor(address: ListenAddress, opts: StreamListenerOptions) {
    super(address, opts);
    if (address.scheme !== 'unix') throw new VeneurError('ERR_LISTEN', `${address.text}: not a unix address`);
    this.#abstract = address.path.startsWith('@');
    if (this.#abstract && process.platform !== 'linux')
      throw new VeneurError('ERR_LISTEN', `${address.text}: abstract unix sockets exist only on Linux`);
    this.#osPath = this.#abstract ? `\0${address.path.slice(1)}` : address.path;
  }

  /** The socket path (`@name` for an abstract socket) once started. */
  address(): { path: string } {
    if (!this.started) throw new Error(`unix listener ${this.name} not started`);
    return { path: this.listenAddress.path };
  }

  protected override async beforeListen(): Promise<void> {
    if (!this.#abstract && !this.opts.sharedSocketFile) await removeStaleSocket(this.#osPath);
  }

  protected createServer(): net.Server {
    const server = net.createServer();
    server.on('connection', (s: net.Socket) => this.serve(s));
    return server;
  }

  protected async listen(server: net.Server): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#osPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (!this.#abstract) {
      try {
        // like Go: any local user may write metrics
        await chmod(this.#osPath, 0o666);
      } catch (err) {
        server.close();
        throw err;
      }
    }
    this.opts.logger.info(
      { address: this.listenAddress.text },
      'listening for DogStatsD over a unix stream socket',
    );
  }

  protected override async afterClose(): Promise<void> {
    if (this.#abstract || this.opts.sharedSocketFile) return;
    // libuv unlinks the path when the server closes; make sure, ignoring "already gone"
    try {
      await unlink(this.#osPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.opts.logger.warn({ err, path: this.#osPath }, 'could not remove unix socket file');
    }
  }
}

/** Remove a leftover socket file at `path`; refuse a live socket or anything that is not a socket. */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new VeneurError(
      'ERR_LISTEN',
      `cannot inspect unix socket path ${path}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!isSocket)
    throw new VeneurError(
      'ERR_LISTEN',
      `unix socket path ${path} exists and is not a socket; refusing to replace it (remove it or choose another path)`,
    );
  if (await socketAnswers(path))
    throw new VeneurError('ERR_LISTEN', `unix socket ${path} is in use by another process`);
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new VeneurError(
        'ERR_LISTEN',
        `cannot remove stale unix socket ${path}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
  }
}

/** Whether a process accepts connections on the unix socket at `path` (refused = stale file). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (live: boolean): void => {
      c.destroy();
      resolve(live);
    };
    c.setTimeout(1000, () => done(true));
    c.once('connect', () => done(true));
    // EAGAIN: the listener's backlog is full, so it is alive
    c.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EAGAIN'));
  });
}

export type StreamListener = TcpListener | UnixStreamListener;

/**
 * The listener for a stream address of `statsd_listen_addresses`: `tcp*` (TLS when
 * `opts.tls` is given) or `unix` (stream). `unixgram` is not handled here: datagram unix
 * sockets are not available in Node core (net is stream-only, dgram is UDP-only), so they
 * are built separately on our native addon (src/ingest/unixgram.ts, native/unixgram.c).
 */
export function createStreamListener(address: ListenAddress, opts: StreamListenerOptions): StreamListener {
  switch (address.scheme) {
    case 'tcp':
    case 'tcp4':
    case 'tcp6':
      return new TcpListener(address, opts);
    case 'unix':
      return new UnixStreamListener(address, opts);
    default:
      throw new VeneurError(
        'ERR_LISTEN',
        `${address.text}: ${address.scheme} is not a stream transport (expected tcp, tcp4, tcp6 or unix)`,
      );
  }
}
