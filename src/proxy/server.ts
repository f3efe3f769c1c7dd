/**
 * The proxy's ingest server: gRPC `forwardrpc.Forward` on `grpc_address` (plain) and
 * `grpc_tls_address` (TLS with the `tls:` certificate; client certificates are not
 * asked for, as in Go), spoken directly over node:http2.
 *
 * Why not @grpc/grpc-js: the proxy never decodes a message, and grpc-js's server
 * path (a decoder object, a slice and a concat per message, a stream event per
 * message) was most of the proxy's CPU in its profile (BENCHMARKS.md, "veneur-proxy
 * routing"). Here a DATA chunk is cut into messages in place: a message that lies
 * wholly inside a chunk is routed as a view of it, no copy.
 *
 * The wire format (gRPC over HTTP/2, PROTOCOL-HTTP2.md): a POST to
 * `/forwardrpc.Forward/<method>` with `content-type: application/grpc[+proto]`; each
 * message is a 1-byte compressed flag, a 4-byte big-endian length and the bytes.
 * The answer is `:status 200` and `content-type: application/grpc` headers, one
 * empty message (google.protobuf.Empty), and `grpc-status` trailers; a call refused
 * before it is read gets a trailers-only answer. Compressed messages are accepted
 * with `grpc-encoding: gzip` or `deflate` (grpc-go sends none unless asked).
 *
 * Messages are never decoded: the key hash is read from the raw bytes (ring.ts
 * keyHashFromBytes) and the same bytes are forwarded. A unary `SendMetrics`
 * `MetricList` is split into its elements' bytes.
 *
 * Back-pressure: when a destination queue is full, a SendMetricsV2 stream is paused
 * until there is room (HTTP/2 flow control then reaches the sender); a SendMetrics
 * call is answered only once there is room. Go blocks its handler goroutine the
 * same way.
 *
 * `grpc_server` keepalive settings, as grpc-go applies them: `max_connection_idle`
 * (GOAWAY after that long without a call), `max_connection_age` (GOAWAY at that age,
 * then `max_connection_age_grace` for calls in flight before the connection is cut),
 * `ping_timeout` (Go's keepalive Time: a PING after that long, and the connection
 * is cut when no answer comes within `keepalive_timeout`, default 20 s).
 * `connection_timeout` (Go's handshake timeout) is not applied.
 */

import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { MethodDefinition } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { Telemetry } from '../telemetry/types.js';
import { VeneurError } from '../util/errors.js';
import type { ProxyConfig } from './config.js';
import type { IngestProtocol } from './proxy.js';

export interface Router {
  route(msg: Uint8Array, protocol: IngestProtocol): 'ok' | 'full' | 'invalid';
  writable(): Promise<void>;
}

type Empty = Record<string, never>;
const EMPTY_BYTES = Buffer.alloc(0);
const EMPTY = Object.freeze({}) as Empty;
const identity = (b: Buffer): Buffer => b;

/** forwardrpc.Forward with raw-bytes requests, for grpc-js peers (the tests' fake globals and clients). */
export const rawForwardService = {
  SendMetrics: {
    path: '/forwardrpc.Forward/SendMetrics',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: (_: Empty): Buffer => EMPTY_BYTES,
    responseDeserialize: (_: Buffer): Empty => EMPTY,
  },
  SendMetricsV2: {
    path: '/forwardrpc.Forward/SendMetricsV2',
    requestStream: true,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: (_: Empty): Buffer => EMPTY_BYTES,
    responseDeserialize: (_: Buffer): Empty => EMPTY,
  },
} as const satisfies Record<string, MethodDefinition<Buffer, Empty>>;

/**
 * The elements (field 1) of an encoded forwardrpc.MetricList, as subarrays of
 * `buf`; unknown fields skipped. null when the list is malformed.
 */
export function splitMetricList(buf: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let pos = 0;
  const end = buf.length;
  const varint = (): number => {
    let v = 0;
    for (let s = 0; s < 35; s += 7) {
      if (pos >= end) return -1;
      const b = buf[pos++]!;
      v += (b & 0x7f) * 2 ** s;
      if (b < 0x80) return v;
    }
    return -1;
  };
  while (pos < end) {
    const key = varint();
    if (key < 0) return null;
    const field = Math.floor(key / 8);
    const wt = key & 7;
    if (field === 0) return null;
    if (wt === 2) {
      const len = varint();
      if (len < 0 || pos + len > end) return null;
      if (field === 1) out.push(buf.subarray(pos, pos + len));
      pos += len;
    } else if (wt === 0) {
      if (varint() < 0) return null;
    } else if (wt === 1) {
      pos += 8;
    } else if (wt === 5) {
      pos += 4;
    } else {
      return null;
    }
  }
  return pos === end ? out : null;
}

export interface IngestServerOptions {
  /** `host:port`; `:port` = all interfaces; port 0 = any free port. */
  readonly address: string;
  readonly router: Router;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** Certificate for a TLS listener (`grpc_tls_address`). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | null;
  readonly grpcServer?: ProxyConfig['grpcServer'];
  readonly name?: string;
  /** Largest accepted message (default 4 MiB, grpc-go's and grpc-js's default). */
  readonly maxMessageBytes?: number;
}

/** gRPC status codes used here. */
const Status = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const SEND_METRICS_V2 = rawForwardService.SendMetricsV2.path;
const SEND_METRICS = rawForwardService.SendMetrics.path;
/** One empty message: google.protobuf.Empty, uncompressed. */
const EMPTY_MESSAGE = Buffer.alloc(5);
const KEEPALIVE_TIMEOUT_DEFAULT_MS = 20_000;

function splitHostPort(address: string): { host: string; port: number } {
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
   * Feed one chunk; `emit` gets each complete message. Returns an error text
   * (with its status) when the stream is malformed or a message too large.
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
      if (flag > 1) return { code: Status.INTERNAL, message: `bad message flag ${flag}` };
      if (len > this.#max) {
        return {
          code: Status.RESOURCE_EXHAUSTED,
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

export class IngestServer implements Component {
  readonly kind = 'grpc';
  readonly name: string;
  readonly #opts: IngestServerOptions;
  #server: http2.Http2Server | http2.Http2SecureServer | null = null;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #port = 0;
  #stopped: Promise<void> | null = null;
  #stopping = false;

  constructor(opts: IngestServerOptions) {
    this.#opts = opts;
    this.name = opts.name ?? (opts.tls ? 'grpc-tls' : 'grpc');
  }

  /** Bound port (after start). */
  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    if (this.#server !== null) return;
    const t = this.#opts.tls;
    const server = t
      ? http2.createSecureServer({ key: readFileSync(t.keyFile), cert: readFileSync(t.certFile) })
      : http2.createServer();
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
      throw new VeneurError('ERR_LISTEN', `${this.name} ${this.#opts.address}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr !== null ? addr.port : port;
    this.#server = server;
    this.#opts.logger.info(
      { address: this.#opts.address, port: this.#port, tls: !!t },
      'gRPC ingest server listening',
    );
  }

  /** Per connection: the keepalive and age limits of `grpc_server`. */
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
    session.on('error', () => {}); // reported per stream; a broken connection just closes
    if (this.#stopping) session.goaway();
    const gs = this.#opts.grpcServer;
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
        session.goaway();
        const cut = (): void => {
          if (!session.destroyed) session.destroy();
        };
        if (gs.maxConnectionAgeGraceMs > 0) later(gs.maxConnectionAgeGraceMs, cut);
        session.close(); // closes once the calls in flight end
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

  /** A trailers-only answer: the call is refused or failed before it was read. */
  #refuse(stream: http2.ServerHttp2Stream, code: number, message: string): void {
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      this.#finish(stream, code, message);
      return;
    }
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(code),
        'grpc-message': encodeURIComponent(message),
      },
      { endStream: true },
    );
    // the client may still be sending; it reads our answer and stops
    stream.resume();
  }

  /** Answer a read call: headers, the Empty message if OK, then the status trailers. */
  #finish(stream: http2.ServerHttp2Stream, code: number, message = ''): void {
    if (stream.destroyed || stream.closed) return;
    const trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
    if (message !== '') trailers['grpc-message'] = encodeURIComponent(message);
    if (!stream.headersSent) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    }
    stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    if (code === Status.OK) stream.end(EMPTY_MESSAGE);
    else stream.end();
  }

  #call(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const path = headers[':path'];
    const type = headers['content-type'] ?? '';
    stream.on('error', () => {}); // a reset stream; counted where it matters (below)
    if (
      headers[':method'] !== 'POST' ||
      !(type === 'application/grpc' || type.startsWith('application/grpc+'))
    ) {
      // not gRPC at all: an HTTP answer (PROTOCOL-HTTP2.md: 415 for a bad content-type)
      stream.respond({ ':status': headers[':method'] === 'POST' ? 415 : 405 }, { endStream: true });
      stream.resume();
      return;
    }
    if (this.#stopping) {
      this.#refuse(stream, Status.UNAVAILABLE, 'veneur-proxy is stopping');
      return;
    }
    const encoding = String(headers['grpc-encoding'] ?? 'identity');
    if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'deflate') {
      this.#refuse(stream, Status.UNIMPLEMENTED, `unsupported grpc-encoding ${encoding}`);
      return;
    }
    if (path === SEND_METRICS_V2) this.#stream(stream, encoding);
    else if (path === SEND_METRICS) this.#unary(stream, encoding);
    else this.#refuse(stream, Status.UNIMPLEMENTED, `unknown method ${String(path)}`);
  }

  /** The bytes of a message, decompressed if its flag says so (rare: grpc-go does not compress by default). */
  #payload(msg: Buffer, compressed: boolean, encoding: string): Buffer {
    if (!compressed) return msg;
    if (encoding === 'gzip') return gunzipSync(msg, { maxOutputLength: this.#max() });
    if (encoding === 'deflate') return inflateSync(msg, { maxOutputLength: this.#max() });
    throw new Error('compressed message without grpc-encoding');
  }

  #max(): number {
    return this.#opts.maxMessageBytes ?? 4 * 1024 * 1024;
  }

  #stream(stream: http2.ServerHttp2Stream, encoding: string): void {
    const { router, telemetry, logger } = this.#opts;
    telemetry.count('veneur_proxy.ingest.request_count', 1, ['protocol:grpc-stream']);
    const started = performance.now();
    const reader = new MessageReader(this.#max());
    let paused = false;
    let failed = false;
    let done = false;
    const fail = (code: number, message: string): void => {
      failed = true;
      done = true;
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-stream']);
      logger.debug({ err: message }, 'error receiving metrics');
      this.#refuse(stream, code, message);
    };
    const route = (msg: Buffer, compressed: boolean): void => {
      if (failed) return;
      let bytes: Buffer;
      try {
        bytes = this.#payload(msg, compressed, encoding);
      } catch (err) {
        fail(Status.INTERNAL, `cannot decompress a message: ${(err as Error).message}`);
        return;
      }
      if (router.route(bytes, 'grpc-stream') === 'full' && !paused) {
        paused = true;
        stream.pause();
        void router.writable().then(() => {
          paused = false;
          if (!done) stream.resume();
        });
      }
    };
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      const err = reader.push(chunk, route);
      if (err !== null) fail(err.code, err.message);
    });
    stream.on('end', () => {
      if (done) return;
      done = true;
      if (reader.partial) {
        fail(Status.INTERNAL, 'stream ended inside a message');
        return;
      }
      telemetry.timing('veneur_proxy.ingest.request_latency_ms', performance.now() - started, [
        'protocol:grpc-stream',
      ]);
      this.#finish(stream, Status.OK);
    });
    stream.on('aborted', () => {
      if (done) return;
      done = true;
      // the client cancelled or the connection broke: what was read is routed
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-stream']);
      logger.debug('gRPC stream aborted by the client');
    });
  }

  #unary(stream: http2.ServerHttp2Stream, encoding: string): void {
    const { router, telemetry } = this.#opts;
    telemetry.count('veneur_proxy.ingest.request_count', 1, ['protocol:grpc-single']);
    const started = performance.now();
    const reader = new MessageReader(this.#max());
    const msgs: { msg: Buffer; compressed: boolean }[] = [];
    let error: { code: number; message: string } | null = null;
    const fail = (code: number, message: string): void => {
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-single']);
      this.#refuse(stream, code, message);
    };
    stream.on('data', (chunk: Buffer) => {
      if (error === null) error = reader.push(chunk, (msg, compressed) => msgs.push({ msg, compressed }));
    });
    stream.on('end', () => {
      if (error !== null) return fail(error.code, error.message);
      if (reader.partial || msgs.length !== 1) {
        const got = `${msgs.length}${reader.partial ? ' and a partial one' : ''}`;
        return fail(Status.INTERNAL, `a unary call carries one message, got ${got}`);
      }
      let list: Buffer;
      try {
        list = this.#payload(msgs[0]!.msg, msgs[0]!.compressed, encoding);
      } catch (err) {
        return fail(Status.INTERNAL, `cannot decompress the message: ${(err as Error).message}`);
      }
      const parts = splitMetricList(list);
      if (parts === null) return fail(Status.INVALID_ARGUMENT, 'malformed MetricList');
      let full = false;
      for (const p of parts) if (router.route(p, 'grpc-single') === 'full') full = true;
      const reply = (): void => {
        telemetry.timing('veneur_proxy.ingest.request_latency_ms', performance.now() - started, [
          'protocol:grpc-single',
        ]);
        this.#finish(stream, Status.OK);
      };
      if (full) void router.writable().then(reply);
      else reply();
    });
    stream.on('aborted', () => {
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-single']);
    });
  }

  /** Stop accepting calls; calls in flight may finish until `deadline`, then are cut. */
  stop(deadline: number): Promise<void> {
    const server = this.#server;
    if (server === null) return Promise.resolve();
    if (this.#stopped) return this.#stopped;
    this.#stopping = true;
    this.#stopped = new Promise<void>((resolve) => {
      const cut = setTimeout(
        () => {
          for (const s of this.#sessions) s.destroy();
        },
        Math.max(0, deadline - Date.now()),
      );
      cut.unref();
      // no new connections; each connection gets a GOAWAY and closes when its calls end
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      for (const s of this.#sessions) s.close();
    });
    return this.#stopped;
  }
}
