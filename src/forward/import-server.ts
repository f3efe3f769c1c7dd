/**
 * The global's import server (reference §3.1 server side): gRPC
 * `forwardrpc.Forward` on `grpc_address`, built on @grpc/grpc-js.
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
import { readFileSync } from 'node:fs';
import {
  Server,
  ServerCredentials,
  type ServerReadableStream,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { MetricMessage } from '../protocol/forward/metricpb.js';
import type { Telemetry } from '../telemetry/types.js';
import { VeneurError } from '../util/errors.js';
import { routeGrpcLogs } from './grpc-log.js';
import {
  DRAINING_MESSAGE,
  EMPTY,
  type Empty,
  forwardServiceDefinition,
  type MetricList,
  UNDECODABLE,
  type Undecodable,
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

/** Go accepts `:8128` (all interfaces); grpc-js needs a host. */
function bindTarget(address: string): string {
  return address.startsWith(':') ? `[::]${address}` : address;
}

function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  const h = i < 0 ? address : address.slice(0, i);
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

export class ImportServer implements Component {
  readonly kind = 'grpc-import';
  readonly name: string;
  readonly #opts: ImportServerOptions;
  readonly #batchSize: number;
  #server: Server | null = null;
  #port = 0;
  #host = '';
  #stopped: Promise<void> | null = null;

  constructor(opts: ImportServerOptions) {
    this.#opts = opts;
    this.name = opts.name ?? 'grpc-import';
    this.#batchSize = Math.max(1, opts.batchSize ?? 1000);
  }

  /** The bound address (after start). */
  address(): { host: string; port: number } {
    return { host: this.#host, port: this.#port };
  }

  async start(): Promise<void> {
    if (this.#server !== null) return;
    const max = this.#opts.maxMessageBytes ?? 64 * 1024 * 1024;
    routeGrpcLogs(this.#opts.logger);
    const server = new Server({
      'grpc.max_receive_message_length': max,
    });
    server.addService(forwardServiceDefinition, {
      SendMetricsV2: (
        call: ServerReadableStream<MetricMessage | Undecodable, Empty>,
        cb: sendUnaryData<Empty>,
      ) => this.#sendMetricsV2(call, cb),
      SendMetrics: (call: ServerUnaryCall<MetricList, Empty>, cb: sendUnaryData<Empty>) =>
        this.#sendMetrics(call, cb),
    });
    const creds = this.#credentials();
    const target = bindTarget(this.#opts.address);
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(target, creds, (err, p) => (err ? reject(err) : resolve(p)));
      });
    } catch (err) {
      server.forceShutdown();
      throw new VeneurError(
        'ERR_LISTEN',
        `grpc_address ${this.#opts.address}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    this.#server = server;
    this.#port = port;
    this.#host = hostOf(target);
    this.#opts.logger.info({ address: `${target}`, port }, 'gRPC import server listening');
  }

  #credentials(): ServerCredentials {
    const t = this.#opts.tls;
    if (t === undefined || t === null) return ServerCredentials.createInsecure();
    const ca = t.caFile !== undefined && t.caFile !== '' ? readFileSync(t.caFile) : null;
    return ServerCredentials.createSsl(
      ca,
      [{ private_key: readFileSync(t.keyFile), cert_chain: readFileSync(t.certFile) }],
      ca !== null,
    );
  }

  /** Ends every open SendMetricsV2 stream with DRAINING_MESSAGE (graceful stop). */
  readonly #open = new Set<() => void>();

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

  #sendMetricsV2(
    call: ServerReadableStream<MetricMessage | Undecodable, Empty>,
    cb: sendUnaryData<Empty>,
  ): void {
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
      if (finish()) cb({ code: status.UNAVAILABLE, details: `${DRAINING_MESSAGE} received=${received}` });
    };
    this.#open.add(drain);
    call.on('data', (m: MetricMessage | Undecodable) => {
      if (finished) return;
      received++;
      if (m === UNDECODABLE) {
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
    call.on('end', () => {
      if (finish()) cb(null, EMPTY);
    });
    call.on('cancelled', () => {
      // The client went away (deadline, reset): keep what arrived, as Go does.
      if (finish()) tel.count('import.errors_total', 1, ['cause:cancelled']);
    });
    call.on('error', (err: Error) => {
      if (finish()) {
        tel.count('import.errors_total', 1, ['cause:stream']);
        this.#opts.logger.debug({ err }, 'gRPC import: SendMetricsV2 stream error');
      }
    });
  }

  #sendMetrics(call: ServerUnaryCall<MetricList, Empty>, cb: sendUnaryData<Empty>): void {
    const tel = this.#opts.telemetry;
    tel.count('import.request_total', 1, ['rpc:SendMetrics']);
    const list = call.request;
    if (list.errors > 0) tel.count('import.errors_total', list.errors, ['cause:decode']);
    if (list.malformed) {
      tel.count('import.errors_total', 1, ['cause:decode']);
      cb({ code: status.INVALID_ARGUMENT, details: 'malformed MetricList' });
      return;
    }
    for (let i = 0; i < list.metrics.length; i += this.#batchSize) {
      this.#deliver(list.metrics.slice(i, i + this.#batchSize));
    }
    cb(null, EMPTY);
  }

  /** Graceful stop (in-flight calls finish), forced at `deadline` (ms since epoch). Idempotent. */
  stop(deadline: number): Promise<void> {
    if (this.#stopped !== null) return this.#stopped;
    const server = this.#server;
    if (server === null) {
      this.#stopped = Promise.resolve();
      return this.#stopped;
    }
    for (const drain of [...this.#open]) drain();
    this.#stopped = new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          server.forceShutdown();
          resolve();
        },
        Math.max(0, deadline - Date.now()),
      );
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.#stopped;
  }
}
