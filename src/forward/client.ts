/**
 * The forwarding client: gRPC `forwardrpc.Forward/SendMetricsV2` (reference §3.1)
 * spoken directly over `node:http2`.
 *
 * Why not @grpc/grpc-js here: its client streaming measured ~13k msgs/s on this
 * machine, raw http2 framing ~900k (DESIGN.md "Libraries"). gRPC over HTTP/2 is
 * small enough to speak directly: one POST per call with `content-type:
 * application/grpc` and `te: trailers`, each message framed as
 * `[0x00 = uncompressed][uint32 BE length][protobuf bytes]`, and the outcome in
 * the `grpc-status` / `grpc-message` trailers (or in the headers of a
 * "trailers-only" response). Frames are batched into writes of up to 64 KiB.
 *
 * One long-lived HTTP/2 session per client, as Go's `grpc.Dial` keeps one
 * connection: created lazily, dropped after a connection-level failure and
 * re-created by the next call. The session is unref'd while idle, so it never
 * keeps the process alive, and ref'd while a call is in flight, so a final flush
 * at shutdown is not cut short.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { Logger } from 'pino';
import { VeneurError } from '../util/errors.js';
import { SEND_METRICS_V2_PATH } from './service.js';

// service.ts has no grpc-js import: the client never loads grpc-js.
export { SEND_METRICS_V2_PATH } from './service.js';

/** gRPC status codes used here. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * Why a call failed, used as the `cause` tag of `forward.error_total`:
 * - `deadline_exceeded`: the caller's signal aborted the call (Go: the flush context's deadline);
 * - `unavailable`: no connection (refused, reset, TLS failure, GOAWAY, refused stream);
 * - `send`: the stream failed otherwise (reset by the peer, closed without a status);
 * - `status_<code>`: the server answered with a non-zero grpc-status (or a non-200 HTTP status).
 */
export type ForwardCause = 'deadline_exceeded' | 'unavailable' | 'send' | `status_${number}`;

export class ForwardError extends VeneurError {
  /** Stable cause (see ForwardCause); the underlying error, if any, is `error`. */
  override readonly cause: ForwardCause;
  /** The gRPC status code this corresponds to (client-side failures get the code grpc-go would report). */
  readonly grpcCode: number;
  /** `grpc-message` from the server (decoded), or a description of the local failure. */
  readonly grpcMessage: string;
  readonly error: unknown;
  constructor(cause: ForwardCause, grpcCode: number, grpcMessage: string, error?: unknown) {
    super('ERR_FORWARD', `forward failed (${cause}): ${grpcMessage}`);
    this.name = 'ForwardError';
    this.cause = cause;
    this.grpcCode = grpcCode;
    this.grpcMessage = grpcMessage;
    this.error = error;
  }
}

/** Forwarding `tls:` block (Go's forward TLS): PEM file paths; empty strings mean "not set". */
export interface ForwardTlsOptions {
  /** CA to verify the server with; '' = system roots. */
  readonly caFile: string;
  /** Client certificate and key for mTLS; '' = no client certificate. */
  readonly certFile: string;
  readonly keyFile: string;
  /** Name to verify the server certificate against (and SNI); '' = the host of `address`. */
  readonly serverName: string;
}

export interface ForwardClientOptions {
  /** `host:port` (`[v6]:port` for IPv6), as Go's forward_address for gRPC. */
  readonly address: string;
  /** When set, the connection uses TLS (mTLS when a client certificate is given). */
  readonly tls?: ForwardTlsOptions | null;
  readonly logger: Logger;
}

/** One client-streaming SendMetricsV2 call. */
export interface ForwardStream {
  /**
   * Queues one encoded `metricpb.Metric`. Returns false when the caller should
   * wait for `drained()` before writing more (back-pressure), and once the call
   * has ended (further writes are dropped).
   */
  write(msg: Uint8Array): boolean;
  /** Resolves when writing may continue (or the call has ended). */
  drained(): Promise<void>;
  /** Half-closes the stream; resolves when the server answers grpc-status 0, rejects with a ForwardError otherwise. */
  end(): Promise<void>;
  /** Resolves when the call ends for any reason: null on success, the ForwardError otherwise. */
  readonly closed: Promise<Error | null>;
  /** Cancels the call (RST_STREAM CANCEL); `closed` resolves with `err` (default: a `send` error). */
  destroy(err?: Error): void;
}

/** Bytes batched before one http2 write. */
const CHUNK_SIZE = 64 * 1024;
/**
 * Bytes the stream may buffer before write() reports back-pressure. The http2
 * stream's own high-water mark (16 KiB) is below one chunk; waiting for 'drain'
 * after every chunk would cost an event-loop turn per 64 KiB for nothing.
 */
const MAX_BUFFERED = 1024 * 1024;

/** Error codes that mean "no usable connection" (gRPC UNAVAILABLE). */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_INVALID_SESSION',
  'ERR_HTTP2_ERROR',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_HTTP2_PING_CANCEL',
  'ERR_SOCKET_CLOSED',
]);

function errorCode(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : '';
}

/** Maps a transport error to a ForwardError (a ForwardError is returned as is). */
export function classifyError(err: unknown): ForwardError {
  if (err instanceof ForwardError) return err;
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const tlsFailure =
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code.includes('CERT') ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE';
  const refused = code === 'ERR_HTTP2_STREAM_ERROR' && message.includes('REFUSED_STREAM');
  if (UNAVAILABLE_CODES.has(code) || tlsFailure || refused) {
    return new ForwardError('unavailable', GrpcStatus.UNAVAILABLE, message, err);
  }
  return new ForwardError('send', GrpcStatus.INTERNAL, message, err);
}

/** gRPC's mapping of HTTP statuses for responses without grpc-status (doc/http-grpc-status-mapping.md). */
function grpcCodeFromHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

function decodeGrpcMessage(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? v.join(',') : (v ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Strips the target forms people write for gRPC addresses: `dns:///`, `http://`. */
function normaliseAddress(address: string): string {
  let a = address.trim();
  for (const prefix of ['dns:///', 'dns:', 'http://', 'https://']) {
    if (a.startsWith(prefix)) {
      a = a.slice(prefix.length);
      break;
    }
  }
  if (a.endsWith('/')) a = a.slice(0, -1);
  return a;
}

/** Called by a stream when it ends, so the client can unref and drop a failed session. */
type StreamDone = (session: http2.ClientHttp2Session | null, err: ForwardError | null) => void;

class CallStream implements ForwardStream {
  readonly closed: Promise<ForwardError | null>;
  #resolveClosed!: (e: ForwardError | null) => void;
  readonly #req: http2.ClientHttp2Stream | null;
  readonly #session: http2.ClientHttp2Session | null;
  readonly #onDone: StreamDone;
  #chunk: Buffer | null = null;
  #pos = 0;
  #flushScheduled = false;
  #needDrain = false;
  #drainWaiters: (() => void)[] = [];
  #grpcStatus: number | undefined;
  #grpcMessage = '';
  #httpStatus: number | undefined;
  /** A local reason for the end (cancel, deadline, transport error). */
  #error: ForwardError | null = null;
  #done = false;
  #ending = false;

  constructor(
    req: http2.ClientHttp2Stream | ForwardError,
    session: http2.ClientHttp2Session | null,
    onDone: StreamDone,
  ) {
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#session = session;
    this.#onDone = onDone;
    if (req instanceof ForwardError) {
      this.#req = null;
      this.#error = req;
      queueMicrotask(() => this.#finish());
      return;
    }
    this.#req = req;
    req.on('response', (headers) => {
      const s = headers[':status'];
      this.#httpStatus = typeof s === 'number' ? s : Number(s);
      this.#readStatus(headers);
      this.#closeIfAnswered();
    });
    req.on('trailers', (trailers) => {
      this.#readStatus(trailers);
      this.#closeIfAnswered();
    });
    // The reply is google.protobuf.Empty: nothing to read, but it must be consumed.
    req.on('data', () => {});
    req.on('drain', () => this.#drained());
    req.on('error', (err: unknown) => {
      if (this.#error === null) this.#error = classifyError(err);
    });
    req.on('close', () => this.#finish());
  }

  /** True once the call has ended (success or failure). */
  get done(): boolean {
    return this.#done;
  }

  #readStatus(h: http2.IncomingHttpHeaders): void {
    const st = h['grpc-status'];
    if (st === undefined) return;
    const n = Number(Array.isArray(st) ? st[0] : st);
    this.#grpcStatus = Number.isInteger(n) ? n : GrpcStatus.UNKNOWN;
    this.#grpcMessage = decodeGrpcMessage(h['grpc-message']);
  }

  /**
   * The server sent its status while we were still sending (a global that stops
   * gracefully answers its open streams at once with DRAINING_MESSAGE): the call is
   * over, so close our side now (RST_STREAM NO_ERROR: the response is complete) and
   * settle `closed`. Otherwise the stream stays half-open until the server's connection
   * goes (up to its shutdown deadline), `closed` waits as long, and a
   * veneur-proxy keeps writing into a call nobody reads, with its re-send window
   * possibly rotating meanwhile so that it no longer holds what the global never read.
   */
  #closeIfAnswered(): void {
    if (this.#grpcStatus === undefined || this.#ending || this.#done) return;
    this.#chunk = null;
    const req = this.#req;
    if (req !== null && !req.destroyed) req.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  write(msg: Uint8Array): boolean {
    if (this.#done || this.#ending || this.#req === null) return false;
    const need = 5 + msg.length;
    if (need > CHUNK_SIZE) {
      this.#flushChunk();
      const frame = Buffer.allocUnsafe(need);
      frame[0] = 0;
      frame.writeUInt32BE(msg.length, 1);
      frame.set(msg, 5);
      this.#writeRaw(frame);
      return !this.#needDrain;
    }
    if (this.#chunk !== null && CHUNK_SIZE - this.#pos < need) this.#flushChunk();
    if (this.#chunk === null) {
      this.#chunk = Buffer.allocUnsafe(CHUNK_SIZE);
      this.#pos = 0;
    }
    const c = this.#chunk;
    const p = this.#pos;
    const len = msg.length;
    c[p] = 0;
    c[p + 1] = len >>> 24;
    c[p + 2] = (len >>> 16) & 0xff;
    c[p + 3] = (len >>> 8) & 0xff;
    c[p + 4] = len & 0xff;
    c.set(msg, p + 5);
    this.#pos = p + need;
    if (!this.#flushScheduled) {
      // A writer that pauses (or writes a few messages) still gets them sent soon.
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        if (!this.#done && !this.#ending) this.#flushChunk();
      });
    }
    return !this.#needDrain;
  }

  #flushChunk(): void {
    const c = this.#chunk;
    if (c === null || this.#pos === 0) return;
    // A fresh buffer per write: http2 keeps a reference until the bytes are sent.
    this.#chunk = null;
    this.#writeRaw(c.subarray(0, this.#pos));
    this.#pos = 0;
  }

  #writeRaw(buf: Buffer): void {
    const req = this.#req as http2.ClientHttp2Stream;
    if (req.destroyed) return;
    req.write(buf);
    if (req.writableLength >= MAX_BUFFERED) this.#needDrain = true;
  }

  #drained(): void {
    this.#needDrain = false;
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  drained(): Promise<void> {
    if (!this.#needDrain || this.#done) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  end(): Promise<void> {
    if (!this.#done && !this.#ending && this.#req !== null) {
      this.#flushChunk();
      this.#ending = true;
      if (!this.#req.destroyed) this.#req.end();
    }
    return this.closed.then((err) => {
      if (err !== null) throw err;
    });
  }

  destroy(err?: Error): void {
    if (this.#done) return;
    if (this.#error === null) {
      this.#error =
        err === undefined
          ? new ForwardError('send', GrpcStatus.CANCELLED, 'call cancelled')
          : err instanceof ForwardError
            ? err
            : new ForwardError('send', GrpcStatus.CANCELLED, err.message, err);
    }
    this.#chunk = null;
    const req = this.#req;
    if (req !== null && !req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
    else queueMicrotask(() => this.#finish());
  }

  #result(): ForwardError | null {
    // A status the server sent wins over whatever happened locally afterwards.
    if (this.#grpcStatus !== undefined) {
      if (this.#grpcStatus === GrpcStatus.OK) return null;
      return new ForwardError(`status_${this.#grpcStatus}`, this.#grpcStatus, this.#grpcMessage);
    }
    if (this.#error !== null) return this.#error;
    if (this.#httpStatus !== undefined && this.#httpStatus !== 200) {
      const code = grpcCodeFromHttp(this.#httpStatus);
      return new ForwardError(`status_${code}`, code, `HTTP status ${this.#httpStatus} without grpc-status`);
    }
    const req = this.#req;
    const rst = req?.rstCode ?? 0;
    const s = this.#session;
    if (rst === http2.constants.NGHTTP2_REFUSED_STREAM || s === null || s.destroyed || s.closed) {
      return new ForwardError('unavailable', GrpcStatus.UNAVAILABLE, `connection closed (rst code ${rst})`);
    }
    return new ForwardError(
      'send',
      GrpcStatus.INTERNAL,
      `stream closed without grpc-status (rst code ${rst})`,
    );
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#chunk = null;
    const err = this.#result();
    this.#drained();
    this.#onDone(this.#session, err);
    this.#resolveClosed(err);
  }
}

export class ForwardClient {
  readonly #logger: Logger;
  readonly #url: string;
  readonly #connectOptions: http2.SecureClientSessionOptions;
  #session: http2.ClientHttp2Session | null = null;
  /** In-flight calls per session (the session is ref'd while > 0). */
  readonly #active = new Map<http2.ClientHttp2Session, number>();
  #closed = false;

  constructor(opts: ForwardClientOptions) {
    this.#logger = opts.logger;
    const address = normaliseAddress(opts.address);
    const tls = opts.tls ?? null;
    this.#url = `${tls === null ? 'http' : 'https'}://${address}`;
    // Validate now, so a bad address is a start-up error rather than a failed flush.
    const parsed = new URL(this.#url);
    if (parsed.port === '' || parsed.hostname === '') {
      throw new VeneurError('ERR_CONFIG', `forward_address: expected host:port, got "${opts.address}"`);
    }
    const o: http2.SecureClientSessionOptions = {};
    if (tls !== null) {
      // Read once at start-up (Go reads the files when it builds the dial options).
      if (tls.caFile !== '') o.ca = readFileSync(tls.caFile);
      if (tls.certFile !== '') o.cert = readFileSync(tls.certFile);
      if (tls.keyFile !== '') o.key = readFileSync(tls.keyFile);
      if (tls.serverName !== '') o.servername = tls.serverName;
    }
    this.#connectOptions = o;
  }

  /** The `http(s)://host:port` the client connects to. */
  get url(): string {
    return this.#url;
  }

  #getSession(): http2.ClientHttp2Session {
    const s = this.#session;
    if (s !== null && !s.closed && !s.destroyed) return s;
    const session = http2.connect(this.#url, this.#connectOptions);
    session.on('error', (err) => {
      // Calls on this session see the failure through their own stream errors.
      this.#logger.debug({ err, url: this.#url }, 'forward: connection error');
      this.#detach(session);
    });
    session.on('goaway', (code) => {
      // Node closes the session itself (gracefully for NO_ERROR): calls below the
      // last stream id finish, new ones need a new connection.
      this.#logger.debug({ code, url: this.#url }, 'forward: GOAWAY received');
      this.#detach(session);
    });
    session.on('close', () => {
      this.#detach(session);
      this.#active.delete(session);
    });
    session.unref();
    this.#session = session;
    return session;
  }

  #detach(session: http2.ClientHttp2Session): void {
    if (this.#session === session) this.#session = null;
  }

  readonly #streamDone: StreamDone = (session, err) => {
    if (session === null) return;
    const n = (this.#active.get(session) ?? 1) - 1;
    if (n <= 0) {
      this.#active.delete(session);
      if (!session.destroyed) session.unref();
    } else this.#active.set(session, n);
    if (err !== null && !err.cause.startsWith('status_')) {
      // The connection may be dead (or hung): the next call dials afresh. close()
      // lets other calls on this session finish; an idle session closes at once.
      this.#detach(session);
      if (!session.closed && !session.destroyed) session.close();
    }
  };

  /** Opens one SendMetricsV2 call. Never throws: a failure to start shows in `closed`. */
  openStream(): ForwardStream {
    return this.#open();
  }

  #open(): CallStream {
    if (this.#closed) {
      return new CallStream(
        new ForwardError('unavailable', GrpcStatus.UNAVAILABLE, 'forward client closed'),
        null,
        this.#streamDone,
      );
    }
    let lastErr: unknown;
    // A session can turn unusable between the check and the request (GOAWAY just
    // arrived): one retry on a fresh session.
    for (let attempt = 0; attempt < 2; attempt++) {
      let session: http2.ClientHttp2Session | null = null;
      try {
        session = this.#getSession();
        const req = session.request({
          ':method': 'POST',
          ':path': SEND_METRICS_V2_PATH,
          'content-type': 'application/grpc',
          te: 'trailers',
          'user-agent': 'veneur-ts-forward/1 (node:http2)',
        });
        this.#active.set(session, (this.#active.get(session) ?? 0) + 1);
        session.ref();
        return new CallStream(req, session, this.#streamDone);
      } catch (err) {
        lastErr = err;
        if (session !== null) {
          this.#detach(session);
          if (!session.destroyed) session.destroy();
        }
      }
    }
    return new CallStream(classifyError(lastErr), null, this.#streamDone);
  }

  /**
   * Sends the messages (each an encoded `metricpb.Metric`) as one SendMetricsV2
   * stream and waits for the server's status. Rejects with a ForwardError;
   * aborting `signal` cancels the call (cause `deadline_exceeded`). Zero messages:
   * nothing is sent (Go skips the call too).
   */
  async sendMetricsV2(messages: readonly Uint8Array[], signal: AbortSignal): Promise<void> {
    if (messages.length === 0) return;
    if (signal.aborted) {
      throw new ForwardError(
        'deadline_exceeded',
        GrpcStatus.DEADLINE_EXCEEDED,
        'deadline passed before the call',
      );
    }
    const stream = this.#open();
    const onAbort = (): void => {
      stream.destroy(
        new ForwardError('deadline_exceeded', GrpcStatus.DEADLINE_EXCEEDED, 'deadline exceeded'),
      );
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (let i = 0; i < messages.length; i++) {
        if (!stream.write(messages[i])) {
          if (stream.done) break;
          await stream.drained();
          if (stream.done) break;
        }
      }
      await stream.end();
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Closes the connection: calls in flight may finish until `deadline` (ms,
   * Date.now() scale; default 5 s from now), then the session is destroyed.
   * Later calls fail with `unavailable`.
   */
  async close(deadline: number = Date.now() + 5000): Promise<void> {
    this.#closed = true;
    const s = this.#session;
    this.#session = null;
    const sessions = new Set(this.#active.keys());
    if (s !== null) sessions.add(s);
    await Promise.all(
      [...sessions].map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.destroyed) {
              resolve();
              return;
            }
            const timer = setTimeout(() => session.destroy(), Math.max(0, deadline - Date.now()));
            timer.unref();
            session.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            session.close();
          }),
      ),
    );
  }
}
