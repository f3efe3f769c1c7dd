/**
 * The proxy's ingest server: gRPC `forwardrpc.Forward` on `grpc_address` (plain) and
 * `grpc_tls_address` (TLS with the `tls:` certificate; client certificates are not
 * asked for, as in Go), on our node:http2 gRPC server (forward/grpc-server.ts: the
 * wire format, statuses, compression and the `grpc_server` connection limits).
 *
 * Messages are never decoded: the key hash is read from the raw bytes (ring.ts
 * keyHashFromBytes) and the same bytes are forwarded; a message that arrived inside
 * one DATA chunk is routed as a view of it. A unary `SendMetrics` `MetricList` is
 * split into its elements' bytes.
 *
 * Back-pressure: when a destination queue is full, a SendMetricsV2 stream is paused
 * until there is room (HTTP/2 flow control then reaches the sender); a SendMetrics
 * call is answered only once there is room. Go blocks its handler goroutine the
 * same way. `grpc_server.connection_timeout` (Go's handshake timeout) is not applied.
 */

import type { MethodDefinition } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type GrpcCall, GrpcServer, GrpcStatus } from '../forward/grpc-server.js';
import type { Component } from '../model/component.js';
import type { Telemetry } from '../telemetry/types.js';
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

export class IngestServer implements Component {
  readonly kind = 'grpc';
  readonly name: string;
  readonly #opts: IngestServerOptions;
  readonly #server: GrpcServer;

  constructor(opts: IngestServerOptions) {
    this.#opts = opts;
    this.name = opts.name ?? (opts.tls ? 'grpc-tls' : 'grpc');
    this.#server = new GrpcServer({
      address: opts.address,
      logger: opts.logger,
      label: this.name,
      maxMessageBytes: opts.maxMessageBytes ?? 4 * 1024 * 1024,
      tls: opts.tls ?? null,
      limits: opts.grpcServer ?? null,
      methods: {
        [rawForwardService.SendMetricsV2.path]: (call) => this.#stream(call),
        [rawForwardService.SendMetrics.path]: (call) => this.#unary(call),
      },
    });
  }

  /** Bound port (after start). */
  get port(): number {
    return this.#server.port;
  }

  async start(): Promise<void> {
    await this.#server.start();
    this.#opts.logger.info(
      { address: this.#opts.address, port: this.port, tls: !!this.#opts.tls },
      'gRPC ingest server listening',
    );
  }

  #stream(call: GrpcCall): void {
    const { router, telemetry, logger } = this.#opts;
    telemetry.count('veneur_proxy.ingest.request_count', 1, ['protocol:grpc-stream']);
    const started = performance.now();
    let paused = false;
    call.onMessage((msg) => {
      if (router.route(msg, 'grpc-stream') === 'full' && !paused) {
        paused = true;
        call.pause();
        void router.writable().then(() => {
          paused = false;
          call.resume();
        });
      }
    });
    call.onEnd(() => {
      telemetry.timing('veneur_proxy.ingest.request_latency_ms', performance.now() - started, [
        'protocol:grpc-stream',
      ]);
      call.ok();
    });
    call.onAbort((reason, message) => {
      // what was read before is routed
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-stream']);
      logger.debug({ err: message, reason }, 'error receiving metrics');
    });
  }

  #unary(call: GrpcCall): void {
    const { router, telemetry } = this.#opts;
    telemetry.count('veneur_proxy.ingest.request_count', 1, ['protocol:grpc-single']);
    const started = performance.now();
    const msgs: Buffer[] = [];
    const fail = (code: number, message: string): void => {
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-single']);
      call.fail(code, message);
    };
    call.onMessage((msg) => msgs.push(msg));
    call.onEnd(() => {
      if (msgs.length !== 1)
        return fail(GrpcStatus.INTERNAL, `a unary call carries one message, got ${msgs.length}`);
      const parts = splitMetricList(msgs[0]!);
      if (parts === null) return fail(GrpcStatus.INVALID_ARGUMENT, 'malformed MetricList');
      let full = false;
      for (const p of parts) if (router.route(p, 'grpc-single') === 'full') full = true;
      const reply = (): void => {
        telemetry.timing('veneur_proxy.ingest.request_latency_ms', performance.now() - started, [
          'protocol:grpc-single',
        ]);
        call.ok();
      };
      if (full) void router.writable().then(reply);
      else reply();
    });
    call.onAbort(() => {
      telemetry.count('veneur_proxy.ingest.request_error_count', 1, ['protocol:grpc-single']);
    });
  }

  /** Stop accepting calls; calls in flight may finish until `deadline`, then are cut. */
  stop(deadline: number): Promise<void> {
    return this.#server.stop(deadline);
  }
}
