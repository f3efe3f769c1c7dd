/**
 * The proxy's ingest server: gRPC `forwardrpc.Forward` on `grpc_address` (plain) and
 * `grpc_tls_address` (TLS with the `tls:` certificate; client certificates are not
 * asked for, as in Go), @grpc/grpc-js.
 *
 * Messages are never decoded: the request deserializer is the identity, the key
 * hash is read from the raw bytes (ring.ts keyHashFromBytes) and the same bytes are
 * forwarded. A unary `SendMetrics` `MetricList` is split into its elements' bytes.
 *
 * Back-pressure: when a destination queue is full, a SendMetricsV2 call is paused
 * until there is room (grpc-js then stops reading the HTTP/2 stream and flow
 * control reaches the sender); a SendMetrics call is answered only once there is
 * room. Go blocks its handler goroutine the same way.
 *
 * `grpc_server` keepalive settings map to grpc-js channel options
 * (`ping_timeout` is Go's keepalive Time). `connection_timeout` (Go's handshake
 * timeout) has no grpc-js equivalent and is ignored.
 */

import { readFileSync } from 'node:fs';
import {
  ServerCredentials as Creds,
  type MethodDefinition,
  Server,
  type ServerCredentials,
  type ServerReadableStream,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { routeGrpcLogs } from '../forward/grpc-log.js';
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

/** forwardrpc.Forward with raw-bytes requests. */
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
}

function bindTarget(address: string): string {
  return address.startsWith(':') ? `[::]${address}` : address;
}

export class IngestServer implements Component {
  readonly kind = 'grpc';
  readonly name: string;
  readonly #opts: IngestServerOptions;
  #server: Server | null = null;
  #port = 0;
  #stopped: Promise<void> | null = null;

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
    const gs = this.#opts.grpcServer;
    const options: Record<string, number> = {};
    if (gs) {
      if (gs.maxConnectionIdleMs > 0) options['grpc.max_connection_idle_ms'] = gs.maxConnectionIdleMs;
      if (gs.maxConnectionAgeMs > 0) options['grpc.max_connection_age_ms'] = gs.maxConnectionAgeMs;
      if (gs.maxConnectionAgeGraceMs > 0)
        options['grpc.max_connection_age_grace_ms'] = gs.maxConnectionAgeGraceMs;
      if (gs.pingTimeoutMs > 0) options['grpc.keepalive_time_ms'] = gs.pingTimeoutMs;
      if (gs.keepaliveTimeoutMs > 0) options['grpc.keepalive_timeout_ms'] = gs.keepaliveTimeoutMs;
    }
    routeGrpcLogs(this.#opts.logger);
    const server = new Server(options);
    server.addService(rawForwardService, {
      SendMetricsV2: (call: ServerReadableStream<Buffer, Empty>, cb: sendUnaryData<Empty>) =>
        this.#stream(call, cb),
      SendMetrics: (call: ServerUnaryCall<Buffer, Empty>, cb: sendUnaryData<Empty>) => this.#unary(call, cb),
    });
    let creds: ServerCredentials;
    const t = this.#opts.tls;
    if (t) {
      creds = Creds.createSsl(
        null,
        [{ private_key: readFileSync(t.keyFile), cert_chain: readFileSync(t.certFile) }],
        false,
      );
    } else {
      creds = Creds.createInsecure();
    }
    const target = bindTarget(this.#opts.address);
    try {
      this.#port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(target, creds, (err, p) => (err ? reject(err) : resolve(p))),
      );
    } catch (err) {
      server.forceShutdown();
      throw new VeneurError('ERR_LISTEN', `${this.name} ${this.#opts.address}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#server = server;
    this.#opts.logger.info({ address: target, port: this.#port, tls: !!t }, 'gRPC ingest server listening');
  }

  #stream(call: ServerReadableStream<Buffer, Empty>, cb: sendUnaryData<Empty>): void {
    const { router, telemetry, logger } = this.#opts;
    telemetry.count('veneur_proxy.ingest.request_count', 1, ['protocol:grpc-stream']);
    const started = performance.now();
    let paused = false;
    let done = false;
    call.on('data', (buf: Buffer) => {
      if (router.route(buf, 'grpc-stream') === 'full' && !paused) {
        paused = true;
        call.pause();
        void router.writable().then(() => {
          paused = false;
          if (!done) call.resume();
        });
      }
    });
    call.on('end', () => {
      if (done) return;
      done = true;
      telemetry.timing('veneur_proxy.ingest.request_latency_ms', performance.now() - started, [
        'protocol:grpc-stream',
      ]);
      cb(null, EMPTY);
    });
    call.on('error', (err: Error) => {
      if (done) return;
      done = true;
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-stream']);
      logger.debug({ err: err.message }, 'error receiving metrics');
    });
    call.on('cancelled', () => {
      done = true;
    });
  }

  #unary(call: ServerUnaryCall<Buffer, Empty>, cb: sendUnaryData<Empty>): void {
    const { router, telemetry } = this.#opts;
    telemetry.count('veneur_proxy.ingest.request_count', 1, ['protocol:grpc-single']);
    const started = performance.now();
    const parts = splitMetricList(call.request);
    if (parts === null) {
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-single']);
      cb({ code: status.INVALID_ARGUMENT, details: 'malformed MetricList' }, null);
      return;
    }
    let full = false;
    for (const p of parts) if (router.route(p, 'grpc-single') === 'full') full = true;
    const reply = (): void => {
      telemetry.timing('veneur_proxy.ingest.request_latency_ms', performance.now() - started, [
        'protocol:grpc-single',
      ]);
      cb(null, EMPTY);
    };
    if (full) void router.writable().then(reply);
    else reply();
  }

  /** Stop accepting calls; calls in flight may finish until `deadline`, then are cut. */
  stop(deadline: number): Promise<void> {
    const server = this.#server;
    if (server === null) return Promise.resolve();
    if (this.#stopped) return this.#stopped;
    this.#stopped = new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.forceShutdown(), Math.max(0, deadline - Date.now()));
      timer.unref();
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.#stopped;
  }
}
