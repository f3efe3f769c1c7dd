/**
 * The `forwardrpc.Forward` service (reference §3.1):
 *
 *   rpc SendMetrics(MetricList) returns (google.protobuf.Empty);             // unary, older peers
 *   rpc SendMetricsV2(stream metricpb.Metric) returns (google.protobuf.Empty); // the one Go uses
 *   message MetricList { repeated metricpb.Metric metrics = 1; }
 *
 * Paths, the MetricList codec, and the decoding of one message (which never
 * throws: a message that does not decode is counted and skipped, so one bad
 * message cannot lose a stream of good ones). Our servers (grpc-server.ts) and
 * client (client.ts) speak HTTP/2 themselves; `forwardServiceDefinition` at the end
 * is the service written out by hand for @grpc/grpc-js, which the tests use as a
 * stand-in for other gRPC peers (a message that does not decode becomes UNDECODABLE
 * there: not null, which a grpc-js stream would take for its end).
 */
import { decodeMetric, encodeMetric, type MetricMessage } from '../protocol/forward/metricpb.js';

export const SERVICE_NAME = 'forwardrpc.Forward';
export const SEND_METRICS_PATH = `/${SERVICE_NAME}/SendMetrics`;
export const SEND_METRICS_V2_PATH = `/${SERVICE_NAME}/SendMetricsV2`;

/**
 * grpc-message of an UNAVAILABLE status with which our global ends open streams
 * on a graceful stop: everything received has been kept and will be flushed by
 * it, so a veneur-proxy must not re-send that window elsewhere. It is followed by
 * ` received=<n>`: the messages read from this stream, so the proxy re-sends only
 * the unread tail. (Any other peer just sees UNAVAILABLE.)
 */
export const DRAINING_MESSAGE = 'veneur global draining: received metrics are kept and flushed;';

/** A decoded `forwardrpc.MetricList`. */
export interface MetricList {
  readonly metrics: MetricMessage[];
  /** Elements that did not decode (skipped). */
  readonly errors: number;
  /** The list itself was malformed (truncated, bad field); `metrics` holds what preceded the damage. */
  readonly malformed: boolean;
}

/** google.protobuf.Empty */
export type Empty = Record<string, never>;
const EMPTY_BYTES = Buffer.alloc(0);
export const EMPTY: Empty = Object.freeze({}) as Empty;

/** What the SendMetricsV2 deserializer yields for a message that does not decode. */
export const UNDECODABLE: unique symbol = Symbol('undecodable metricpb.Metric');
export type Undecodable = typeof UNDECODABLE;

/**
 * Decodes one metricpb.Metric, or null when it is malformed. A Node Buffer is
 * viewed as a plain Uint8Array first: the decoder copies HLL bytes with `slice`,
 * which on a Buffer would return a view into the HTTP/2 receive buffer instead.
 */
export function decodeMetricOrNull(buf: Uint8Array): MetricMessage | null {
  try {
    return decodeMetric(
      Buffer.isBuffer(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf,
    );
  } catch {
    return null;
  }
}

function readVarint32(buf: Uint8Array, pos: number): [value: number, next: number] | null {
  let v = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= buf.length) return null;
    const b = buf[pos++];
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return v > 0xffffffff ? null : [v, pos];
  }
  return null;
}

/** Decodes a `forwardrpc.MetricList`; never throws. Unknown fields are skipped. */
export function decodeMetricList(buf: Uint8Array): MetricList {
  const metrics: MetricMessage[] = [];
  let errors = 0;
  let pos = 0;
  while (pos < buf.length) {
    const key = readVarint32(buf, pos);
    if (key === null) return { metrics, errors, malformed: true };
    const [k, afterKey] = key;
    const field = Math.floor(k / 8);
    const wt = k & 7;
    pos = afterKey;
    if (field === 0) return { metrics, errors, malformed: true };
    switch (wt) {
      case 0: {
        let p = pos;
        while (p < buf.length && buf[p] >= 0x80) p++;
        if (p >= buf.length) return { metrics, errors, malformed: true };
        pos = p + 1;
        break;
      }
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = readVarint32(buf, pos);
        if (len === null || len[1] + len[0] > buf.length) return { metrics, errors, malformed: true };
        const start = len[1];
        const end = start + len[0];
        if (field === 1) {
          const m = decodeMetricOrNull(buf.subarray(start, end));
          if (m === null) errors++;
          else metrics.push(m);
        }
        pos = end;
        break;
      }
      default:
        return { metrics, errors, malformed: true };
    }
    if (pos > buf.length) return { metrics, errors, malformed: true };
  }
  return { metrics, errors, malformed: false };
}

/** Encodes a `forwardrpc.MetricList` (for clients and tests). */
export function encodeMetricList(metrics: readonly MetricMessage[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of metrics) {
    const b = encodeMetric(m);
    const head: number[] = [0x0a];
    let n = b.length;
    while (n >= 0x80) {
      head.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    head.push(n);
    parts.push(Buffer.from(head), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  return Buffer.concat(parts);
}

/**
 * The service for grpc-js servers and clients. Requests of SendMetricsV2 are
 * `MetricMessage` when sent (serialised with encodeMetric) and `MetricMessage |
 * Undecodable` when received.
 */
export const forwardServiceDefinition = {
  SendMetrics: {
    path: SEND_METRICS_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (list: readonly MetricMessage[]): Buffer => encodeMetricList(list),
    requestDeserialize: (buf: Buffer): MetricList => decodeMetricList(buf),
    responseSerialize: (_: Empty): Buffer => EMPTY_BYTES,
    responseDeserialize: (_: Buffer): Empty => EMPTY,
    originalName: 'sendMetrics',
  },
  SendMetricsV2: {
    path: SEND_METRICS_V2_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: (m: MetricMessage): Buffer => {
      const b = encodeMetric(m);
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    },
    requestDeserialize: (buf: Buffer): MetricMessage | Undecodable => decodeMetricOrNull(buf) ?? UNDECODABLE,
    responseSerialize: (_: Empty): Buffer => EMPTY_BYTES,
    responseDeserialize: (_: Buffer): Empty => EMPTY,
    originalName: 'sendMetricsV2',
  },
} as const;
