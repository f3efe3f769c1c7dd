/**
 * A gRPC server for client-streaming and unary methods whose answer is
 * google.protobuf.Empty, spoken directly over node:http2. The global's import
 * server and veneur-proxy's ingest server run on it.
 *
 * Why not @grpc/grpc-js: its server path (a decoder object, a slice and a concat per
 * message, a stream event per message) was most of veneur-proxy's CPU in its
 * profile (BENCHMARKS.md, "veneur-proxy routing"). Here a DATA chunk is cut into
 * messages in place: a message that lies wholly inside one chunk is handed over as
 * a view of it, no copy. (Node allocates every read anew, so a view stays valid.)
 *
 * The wire (gRPC over HTTP/2, PROTOCOL-HTTP2.md): a POST to `/<service>/<method>`
 * with `content-type: application/grpc[+proto]`; each message is a 1-byte
 * compressed flag, a 4-byte big-endian length and the bytes. An answer is `:status
 * 200` and `content-type: application/grpc` headers, one empty message when OK, and
 * `grpc-status` (and `grpc-message`) trailers; a call refused before it is read gets
 * a trailers-only answer. Messages compressed with `grpc-encoding: gzip` or
 * `deflate` are accepted (grpc-go sends none unless asked); other encodings get
 * UNIMPLEMENTED, an unknown method UNIMPLEMENTED, a message over the limit
 * RESOURCE_EXHAUSTED, and a request that is not gRPC an HTTP 415.
 *
 * Connection limits, as grpc-go applies its keepalive.ServerParameters:
 * `maxConnectionIdleMs` (GOAWAY after that long without a call in flight),
 * `maxConnectionAgeMs` (GOAWAY at that age ±10%, then `maxConnectionAgeGraceMs` for
 * calls in flight before the connection is cut), `pingTimeoutMs` (Go's keepalive
 * Time: a PING after that long, and the connection is cut when no answer comes
 * within `keepaliveTimeoutMs`, default 20 s).
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from 'pino';
import { VeneurError } from '../util/errors.js';

/** gRPC status codes used by the servers. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

export interface GrpcConnectionLimits {
  readonly maxConnectionIdleMs: number;
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  readonly pingTimeoutMs: number;
  readonly keepaliveTimeoutMs: number;
}

export interface GrpcServerTls {
  /** PEM file paths. */
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate signed by this CA. */
  readonly caFile?: string;
}

/** One call as a method handler sees it. */
export interface GrpcCall {
  /** Each complete message, decompressed, in order. */
  onMessage(fn: (msg: Buffer) => void): void;
  /** The client half-closed after whole messages (the call is then answered by the handler). */
  onEnd(fn: () => void): void;
  /** The call failed or the client went away (reset, broken connection): no answer is possible. */
  onAbort(fn: (reason: 'cancelled' | 'error', message: string) => void): void;
  /** Stop / resume reading (HTTP/2 flow control then reaches the sender). */
  pause(): void;
  resume(): void;
  /** Answer OK with google.protobuf.Empty. */
  ok(): void;
  /** Answer with a non-OK status. */
  fail(code: number, message: string): void;
  /** Whether the call has been answered or aborted. */
  readonly done: boolean;
}

export interface GrpcServerOptions {
  /** `host:port`; `:port` = all interfaces; port 0 = any free port. */
  readonly address: string;
  readonly logger: Logger;
  /** For errors: `<label> <address>: ...`. */
  readonly label: string;
  /** Handlers by `:path` (`/<service>/<method>`). */
  readonly methods: Readonly<Record<string, (call: GrpcCall) => void>>;
  readonly maxMessageBytes: number;
  readonly tls?: GrpcServerTls | null;
  readonly limits?: GrpcConnectionLimits | null;
}

const KEEPALIVE_TIMEOUT_DEFAULT_MS = 20_000;
/** One empty message: google.protobuf.Empty, uncompressed. */
const EMPTY_MESSAGE = Buffer.alloc(5);

export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '::' : host, port: Number(address.slice(i + 1)) };
}

/**
 * Cuts a stream's DATA chunks into gRPC messages. A message wholly inside one chunk
 * is handed over as a view of that chunk; one that spans chunks is assembled in a
 * buffer of its own size.
 */
export class MessageReader {
  readonly #max: number;
  readonly #header = Buffer.alloc(5);
  #headerLen = 0;
  #msg: Buffer | null = null;
  #filled = 0;
  #compressed = false;

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  /** True while a message is partly read (the stream must not end here). */
  get partial(): boolean {
    return this.#headerLen > 0 || this.#msg !== null;
  }

  /**
   * Feed one chunk; `emit` gets each complete message. Returns the status to answer
   * with when the stream is malformed or a message too large, else null.
   */
  push(
    chunk: Buffer,
    emit: (msg: Buffer, compressed: boolean) => void,
  ): { code: number; message: string } | null {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      const msg = this.#msg;
      if (msg !== null) {
        const n = Math.min(msg.length - this.#filled, end - pos);
        chunk.copy(msg, this.#filled, pos, pos + n);
        this.#filled += n;
        pos += n;
        if (this.#filled === msg.length) {
          this.#msg = null;
          emit(msg, this.#compressed);
        }
        continue;
      }
      let flag: number;
      let len: number;
      if (this.#headerLen === 0 && end - pos >= 5) {
        flag = chunk[pos]!;
        len = chunk.readUInt32BE(pos + 1);
        pos += 5;
      } else {
        const n = Math.min(5 - this.#headerLen, end - pos);
        chunk.copy(this.#header, this.#headerLen, pos, pos + n);
        this.#headerLen += n;
        pos += n;
        if (this.#headerLen < 5) break;
        this.#headerLen = 0;
        flag = this.#header[0]!;
        len = this.#header.readUInt32BE(1);
      }
      if (flag > 1) return { code: GrpcStatus.INTERNAL, message: `bad message flag ${flag}` };
      if (len > this.#max) {
        return {
          code: GrpcStatus.RESOURCE_EXHAUSTED,
          message: `received message larger than max (${len} vs. ${this.#max})`,
        };
      }
      this.#compressed = flag === 1;
      if (end - pos >= len) {
        emit(chunk.subarray(pos, pos + len), this.#compressed);
        pos += len;
      } else {
        this.#msg = Buffer.allocUnsafe(len);
        this.#filled = 0;
      }
    }
    return null;
  }
}

/** A trailers-only answer, or trailers after headers already sent. */
function answer(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.closed) return;
  const status: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
  if (message !== '') status['grpc-message'] = encodeURIComponent(message);
  if (code !== GrpcStatus.OK && !stream.headersSent) {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...status }, { endStream: true });
    // the client may still be sending: drain it, it reads our answer and stops
    stream.resume();
    return;
  }
  if (!stream.headersSent) {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  }
  stream.once('wantTrailers', () => stream.sendTrailers(status));
  if (code === GrpcStatus.OK) stream.end(EMPTY_MESSAGE);
  else stream.end();
}

class Call implements GrpcCall {
  readonly #stream: http2.ServerHttp2Stream;
  readonly #encoding: string;
  readonly #reader: MessageReader;
  readonly #max: number;
  #onMessage: (msg: Buffer) => void = () => {};
  #onEnd: () => void = () => {};
  #onAbort: (reason: 'cancelled' | 'error', message: string) => void = () => {};
  done = false;

  constructor(stream: http2.ServerHttp2Stream, encoding: string, max: number) {
    this.#stream = stream;
    this.#encoding = encoding;
    this.#max = max;
    this.#reader = new MessageReader(max);
    const emit = (msg: Buffer, compressed: boolean): void => {
      if (this.done) return;
      let bytes = msg;
      if (compressed) {
        try {
          const o = { maxOutputLength: this.#max };
          if (this.#encoding === 'gzip') bytes = gunzipSync(msg, o);
          else if (this.#encoding === 'deflate') bytes = inflateSync(msg, o);
          else throw new Error('a compressed message without grpc-encoding');
        } catch (err) {
          this.#abortWith(GrpcStatus.INTERNAL, `cannot decompress a message: ${(err as Error).message}`);
          return;
        }
      }
      this.#onMessage(bytes);
    };
    stream.on('data', (chunk: Buffer) => {
      if (this.done) return;
      const err = this.#reader.push(chunk, emit);
      if (err !== null) this.#abortWith(err.code, err.message);
    });
    stream.on('end', () => {
      if (this.done) return;
      if (this.#reader.partial) this.#abortWith(GrpcStatus.INTERNAL, 'the stream ended inside a message');
      else this.#onEnd();
    });
    stream.on('aborted', () => {
      if (this.done) return;
      this.done = true;
      this.#onAbort('cancelled', 'the client cancelled or the connection broke');
    });
  }

  /** The call cannot go on (bad data): answer with `code` and tell the handler. */
  #abortWith(code: number, message: string): void {
    this.fail(code, message);
    this.#onAbort('error', message);
  }

  onMessage(fn: (msg: Buffer) => void): void {
    this.#onMessage = fn;
  }
  onEnd(fn: () => void): void {
    this.#onEnd = fn;
  }
  onAbort(fn: (reason: 'cancelled' | 'error', message: string) => void): void {
    this.#onAbort = fn;
  }
  pause(): void {
    this.#stream.pause();
  }
  resume(): void {
    if (!this.done) this.#stream.resume();
  }
  ok(): void {
    if (this.done) return;
    this.done = true;
    answer(this.#stream, GrpcStatus.OK, '');
  }
  fail(code: number, message: string): void {
    if (this.done) return;
    this.done = true;
    answer(this.#stream, code, message);
  }
}

export class GrpcServer {
  readonly #opts: GrpcServerOptions;
  #server: http2.Http2Server | http2.Http2SecureServer | null = null;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #port = 0;
  #stopping = false;
  #stopped: Promise<void> | null = null;

  constructor(opts: GrpcServerOptions) {
    this.#opts = opts;
  }

  /** Bound port (after start). */
  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    if (this.#server !== null) return;
    const t = this.#opts.tls;
    let server: http2.Http2Server | http2.Http2SecureServer;
    if (t) {
      const ca = t.caFile !== undefined && t.caFile !== '' ? readFileSync(t.caFile) : null;
      server = http2.createSecureServer({
        key: readFileSync(t.keyFile),
        cert: readFileSync(t.certFile),
        ...(ca !== null ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
      });
    } else {
      server = http2.createServer();
    }
    server.on('session', (session) => this.#session(session));
    server.on('stream', (stream, headers) => this.#call(stream, headers));
    // a bad client handshake (TLS, HTTP/2 preface) is the client's problem; keep serving
    server.on('sessionError', (err) => this.#opts.logger.debug({ err: err.message }, 'gRPC session error'));
    server.on('tlsClientError', (err) =>
      this.#opts.logger.debug({ err: err.message }, 'TLS handshake failed'),
    );
    const { host, port } = splitHostPort(this.#opts.address);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      server.close();
      throw new VeneurError(
        'ERR_LISTEN',
        `${this.#opts.label} ${this.#opts.address}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr !== null ? addr.port : port;
    this.#server = server;
  }

  /** Per connection: the limits of `GrpcServerOptions.limits`. */
  #session(session: http2.ServerHttp2Session): void {
    this.#sessions.add(session);
    // the connection's timers (age, grace, keep-alive); each leaves the set when it fires
    const timers = new Set<NodeJS.Timeout>();
    const later = (ms: number, fn: () => void): void => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timer.unref();
      timers.add(timer);
    };
    session.on('close', () => {
      this.#sessions.delete(session);
      for (const timer of timers) clearTimeout(timer);
    });
    session.on('error', () => {}); // reported per call; a broken connection just closes
    if (this.#stopping) session.close();
    const gs = this.#opts.limits;
    if (!gs) return;
    if (gs.maxConnectionIdleMs > 0) {
      // without a call in flight for that long: GOAWAY (the client reconnects when it needs to)
      let active = 0;
      let idle: NodeJS.Timeout | null = null;
      const arm = (): void => {
        idle = setTimeout(() => session.close(), gs.maxConnectionIdleMs);
        idle.unref();
      };
      arm();
      session.on('stream', (stream) => {
        active++;
        if (idle !== null) clearTimeout(idle);
        idle = null;
        stream.on('close', () => {
          if (--active === 0 && !session.closed) arm();
        });
      });
      session.on('close', () => {
        if (idle !== null) clearTimeout(idle);
      });
    }
    if (gs.maxConnectionAgeMs > 0) {
      // grpc-go adds ±10% jitter so that clients do not all reconnect at once
      const age = gs.maxConnectionAgeMs * (0.9 + 0.2 * Math.random());
      later(age, () => {
        if (gs.maxConnectionAgeGraceMs > 0) {
          later(gs.maxConnectionAgeGraceMs, () => {
            if (!session.destroyed) session.destroy();
          });
        }
        session.close(); // GOAWAY; closes once the calls in flight end
      });
    }
    if (gs.pingTimeoutMs > 0) {
      const timeout = gs.keepaliveTimeoutMs > 0 ? gs.keepaliveTimeoutMs : KEEPALIVE_TIMEOUT_DEFAULT_MS;
      const ping = (): void => {
        if (session.closed || session.destroyed) return;
        let answered = false;
        later(timeout, () => {
          if (!answered && !session.destroyed) session.destroy();
        });
        session.ping((err) => {
          answered = !err;
          if (!err) later(gs.pingTimeoutMs, ping);
        });
      };
      later(gs.pingTimeoutMs, ping);
    }
  }

  #call(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {}); // a reset stream; a call's 'aborted' reports it
    const method = headers[':method'];
    const type = headers['content-type'] ?? '';
    if (method !== 'POST' || !(type === 'application/grpc' || type.startsWith('application/grpc+'))) {
      // not gRPC at all: an HTTP answer (PROTOCOL-HTTP2.md: 415 for a bad content-type)
      stream.respond({ ':status': method === 'POST' ? 415 : 405 }, { endStream: true });
      stream.resume();
      return;
    }
    if (this.#stopping) {
      answer(stream, GrpcStatus.UNAVAILABLE, 'the server is stopping');
      return;
    }
    const encoding = String(headers['grpc-encoding'] ?? 'identity');
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      answer(stream, GrpcStatus.UNIMPLEMENTED, `unsupported grpc-encoding ${encoding}`);
      return;
    }
    const handler = this.#opts.methods[String(headers[':path'])];
    if (handler === undefined) {
      answer(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${String(headers[':path'])}`);
      return;
    }
    handler(new Call(stream, encoding, this.#opts.maxMessageBytes));
  }

  /**
   * Stop: no new connections or calls; each connection gets a GOAWAY and closes when
   * its calls end (the caller answers its open streams first if it wants them to end
   * now); everything is cut at `deadline` (ms since epoch). Idempotent.
   */
  stop(deadline: number): Promise<void> {
    if (this.#stopped !== null) return this.#stopped;
    const server = this.#server;
    this.#stopping = true;
    if (server === null) {
      this.#stopped = Promise.resolve();
      return this.#stopped;
    }
    this.#stopped = new Promise<void>((resolve) => {
      const cut = setTimeout(
        () => {
          for (const s of this.#sessions) s.destroy();
        },
        Math.max(0, deadline - Date.now()),
      );
      cut.unref();
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      for (const s of this.#sessions) s.close();
    });
    return this.#stopped;
  }
}
