/**
 * The global's import server (reference §3.1 server side): gRPC
 * `forwardrpc.Forward` on `grpc_address`, on our node:http2 gRPC server
 * (grpc-server.ts: wire format, statuses, compression, TLS).
 *
 * - `SendMetricsV2` (client stream of metricpb.Metric): what Go locals and ours send.
 * - `SendMetrics` (unary MetricList): Go's server answers UNIMPLEMENTED; we accept
 *   it (older peers and veneur-proxy-style senders use it), same import path.
 * Both reply google.protobuf.Empty.
 *
 * Decoded messages reach `onMetrics` in batches: every `batchSize` messages, at
 * the end of each call (also a cancelled one: Go imports each message as it
 * arrives, so what was received before a failure is kept), and, for what is left,
 * in a setImmediate right after the I/O turn that read it. A batch never waits
 * for more messages: a veneur-proxy keeps ONE stream open per global for its
 * whole life, and a partial batch held until the next 1,000th message (or the end
 * of the call) missed the flush of the interval it arrived in. Worse, the proxy
 * forgets its re-send copy at each interval boundary (it assumes the global
 * flushed what it received), so a global killed after a boundary lost whatever
 * it had received before it and not yet imported. Batching per I/O turn keeps
 * the cost per message low under load (one read holds many messages) and
 * imports what a turn read before the next turn's timers (the flush tick) run. The callback
 * is synchronous: convert with metricsToStates and importStates right there.
 *
 * Plaintext by default, like Go's; optional TLS (and client-certificate checks)
 * for fleets that terminate mTLS at the global.
 */
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { MetricMessage } from '../protocol/forward/metricpb.js';
import type { Telemetry } from '../telemetry/types.js';
import { type GrpcCall, GrpcServer, GrpcStatus, splitHostPort } from './grpc-server.js';
import {
  DRAINING_MESSAGE,
  decodeMetricList,
  decodeMetricOrNull,
  SEND_METRICS_PATH,
  SEND_METRICS_V2_PATH,
} from './service.js';

export interface ImportServerTlsOptions {
  /** PEM file paths. */
  readonly certFile: string;
  readonly keyFile: string;
  /** When set, clients must present a certificate signed by this CA. */
  readonly caFile?: string;
}

export interface ImportServerOptions {
  /** `host:port` (port 0 picks a free one; `:port` listens on all interfaces). */
  readonly address: string;
  /** Receives decoded messages; called synchronously, in arrival order, per call. */
  readonly onMetrics: (messages: MetricMessage[]) => void;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  readonly name?: string;
  /** Messages per onMetrics batch (default 1000). */
  readonly batchSize?: number;
  /** Largest accepted gRPC message (default 64 MiB; grpc's default of 4 MiB is small for a MetricList). */
  readonly maxMessageBytes?: number;
  readonly tls?: ImportServerTlsOptions | null;
}

export class ImportServer implements Component {
  readonly kind = 'grpc-import';
  readonly name: string;
  readonly #opts: ImportServerOptions;
  readonly #batchSize: number;
  readonly #server: GrpcServer;
  #started = false;
  #stopped: Promise<void> | null = null;
  /** Ends every open SendMetricsV2 stream with DRAINING_MESSAGE (graceful stop). */
  readonly #open = new Set<() => void>();

  constructor(opts: ImportServerOptions) {
    this.#opts = opts;
    this.name = opts.name ?? 'grpc-import';
    this.#batchSize = Math.max(1, opts.batchSize ?? 1000);
    this.#server = new GrpcServer({
      address: opts.address,
      logger: opts.logger,
      label: 'grpc_address',
      maxMessageBytes: opts.maxMessageBytes ?? 64 * 1024 * 1024,
      tls: opts.tls ?? null,
      methods: {
        [SEND_METRICS_V2_PATH]: (call) => this.#sendMetricsV2(call),
        [SEND_METRICS_PATH]: (call) => this.#sendMetrics(call),
      },
    });
  }

  /** The bound address (after start). */
  address(): { host: string; port: number } {
    return { host: splitHostPort(this.#opts.address).host, port: this.#server.port };
  }

  async start(): Promise<void> {
    if (this.#started) return;
    await this.#server.start();
    this.#started = true;
    this.#opts.logger.info(
      { address: this.#opts.address, port: this.#server.port },
      'gRPC import server listening',
    );
  }

  #deliver(batch: MetricMessage[]): void {
    if (batch.length === 0) return;
    this.#opts.telemetry.count('worker.metrics_imported_total', batch.length);
    try {
      this.#opts.onMetrics(batch);
    } catch (err) {
      this.#opts.telemetry.count('import.errors_total', 1, ['cause:import']);
      this.#opts.logger.error({ err }, 'gRPC import: importing a batch failed');
    }
  }

  #sendMetricsV2(call: GrpcCall): void {
    const tel = this.#opts.telemetry;
    tel.count('import.request_total', 1, ['rpc:SendMetricsV2']);
    let batch: MetricMessage[] = [];
    let decodeErrors = 0;
    let received = 0;
    let finished = false;
    /** Delivers a partial batch after the current I/O turn (see the file comment). */
    let pending: NodeJS.Immediate | null = null;
    const deliverBatch = (): void => {
      if (pending !== null) {
        clearImmediate(pending);
        pending = null;
      }
      const b = batch;
      batch = [];
      this.#deliver(b);
    };
    const finish = (): boolean => {
      if (finished) return false;
      finished = true;
      this.#open.delete(drain);
      deliverBatch();
      if (decodeErrors > 0) tel.count('import.errors_total', decodeErrors, ['cause:decode']);
      return true;
    };
    // graceful stop: keep what arrived (it is flushed by this global) and tell the sender
    // so, so a veneur-proxy does not re-send this window to another global (no double count)
    const drain = (): void => {
      if (finish()) call.fail(GrpcStatus.UNAVAILABLE, `${DRAINING_MESSAGE} received=${received}`);
    };
    this.#open.add(drain);
    call.onMessage((buf) => {
      if (finished) return;
      received++;
      const m = decodeMetricOrNull(buf);
      if (m === null) {
        decodeErrors++;
        return;
      }
      batch.push(m);
      if (batch.length >= this.#batchSize) deliverBatch();
      else if (pending === null)
        pending = setImmediate(() => {
          pending = null;
          if (!finished) deliverBatch();
        });
    });
    call.onEnd(() => {
      if (finish()) call.ok();
    });
    call.onAbort((reason, message) => {
      // the client went away (deadline, reset) or sent something unreadable: keep what
      // arrived, as Go does
      if (finish()) {
        tel.count('import.errors_total', 1, [reason === 'cancelled' ? 'cause:cancelled' : 'cause:stream']);
        if (reason === 'error')
          this.#opts.logger.debug({ err: message }, 'gRPC import: SendMetricsV2 stream error');
      }
    });
  }

  #sendMetrics(call: GrpcCall): void {
    const tel = this.#opts.telemetry;
    tel.count('import.request_total', 1, ['rpc:SendMetrics']);
    const msgs: Buffer[] = [];
    call.onMessage((m) => msgs.push(m));
    call.onEnd(() => {
      if (msgs.length !== 1) {
        tel.count('import.errors_total', 1, ['cause:stream']);
        call.fail(GrpcStatus.INTERNAL, `a unary call carries one message, got ${msgs.length}`);
        return;
      }
      const list = decodeMetricList(msgs[0]!);
      if (list.errors > 0) tel.count('import.errors_total', list.errors, ['cause:decode']);
      if (list.malformed) {
        tel.count('import.errors_total', 1, ['cause:decode']);
        call.fail(GrpcStatus.INVALID_ARGUMENT, 'malformed MetricList');
        return;
      }
      for (let i = 0; i < list.metrics.length; i += this.#batchSize) {
        this.#deliver(list.metrics.slice(i, i + this.#batchSize));
      }
      call.ok();
    });
    call.onAbort((reason) => {
      tel.count('import.errors_total', 1, [reason === 'cancelled' ? 'cause:cancelled' : 'cause:stream']);
    });
  }

  /** Graceful stop (in-flight calls finish), forced at `deadline` (ms since epoch). Idempotent. */
  stop(deadline: number): Promise<void> {
    if (this.#stopped !== null) return this.#stopped;
    for (const drain of [...this.#open]) drain();
    this.#stopped = this.#server.stop(deadline);
    return this.#stopped;
  }
}
