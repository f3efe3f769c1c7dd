/**
 * The proxy's destinations: one ForwardClient and ONE long-lived SendMetricsV2
 * stream per global, placed on the consistent-hash ring (ring.ts).
 *
 * Sending. `send(msg, hash)` writes the encoded message straight to its owner's
 * stream; while that stream reports back-pressure, messages wait in the
 * destination's queue, bounded by `send_buffer_size` (Go: a channel of that size).
 * `send` returns false once the owner's queue is full; the ingest side then waits
 * for `writable()` before reading more (Go blocks the handler the same way). The
 * bound is soft by at most one ingest batch and by re-routed messages.
 *
 * The re-send rule (Go loses these metrics; we do not):
 * - Every message written to a destination's stream is also kept in that
 *   destination's window copy. The window is `resend_window` long and aligned to
 *   the wall clock (multiples of the window since the Unix epoch, as Veneur's
 *   `synchronize_with_interval` aligns flushes); `rotateWindow()` clears every copy
 *   at each boundary. Set the window to the globals' `interval`: with globals that
 *   synchronise their flushes to the interval, the copy is exactly what a global
 *   has received but not yet flushed.
 * - When a destination's stream breaks (the call ends with an error, or the server
 *   ends it) or discovery stops listing it, it leaves the ring at once, its stream
 *   is cancelled, and its window copy followed by its unsent queue (oldest first)
 *   is routed again through the ring without it, so every message lands at the new
 *   owner of its key, once. Re-sent messages join the new owner's window copy, so a
 *   second failure in the same window re-sends them again (to a third global).
 * - With no destination at all, messages wait in a holding queue (bounded by
 *   `send_buffer_size`, overflow dropped and counted) until one is added.
 * - Not re-sent: messages written before the current window started, copies beyond
 *   `resend_max_bytes` per destination (counted), anything during shutdown.
 * - Caveat: a global that is removed but stays alive (a network blip, or taken out
 *   of discovery without stopping) flushes what it had received, and the new owner
 *   flushes the re-sent copy: those series are reported twice for that window.
 *
 * Stalls. A destination whose queue stays full for `stall_timeout` (default 30 s)
 * while its stream takes nothing (a hung global, a black-holed connection) is
 * removed like a broken one, so one dead peer cannot block ingest for every key.
 *
 * Connecting. A destination joins the ring only after an HTTP/2 connection to it
 * has exchanged SETTINGS within `dial_timeout` (what Go's blocking dial waits for);
 * the stream itself is opened on the ForwardClient's own connection.
 */
import http2 from 'node:http2';
import type { Logger } from 'pino';
import type { ForwardError, ForwardStream } from '../forward/client.js';
import { DRAINING_MESSAGE } from '../forward/service.js';
import type { Telemetry } from '../telemetry/types.js';
import { MessageFifo } from './fifo.js';
import { HashRing } from './ring.js';

export type { ForwardStream };

/** What a destination needs from src/forward/client.ts ForwardClient. */
export interface ForwardClientLike {
  openStream(): ForwardStream;
  close(deadline?: number): Promise<void>;
}

export type RemoveReason = 'stream' | 'discovery' | 'stalled' | 'drained';

export interface DestinationsOptions {
  /** A client for one destination address (`host:port`). */
  readonly connect: (address: string) => ForwardClientLike;
  /** Reachability check before a destination joins the ring; default probeHttp2. */
  readonly probe?: (address: string, timeoutMs: number) => Promise<void>;
  readonly dialTimeoutMs: number;
  /** Per-destination queue bound, in messages (>= 1). */
  readonly sendBufferSize: number;
  /** Keep window copies for re-sending (false = Go's behaviour: nothing is re-sent). */
  readonly keepCopies: boolean;
  /** Per-destination bound of the window copy, in bytes. */
  readonly resendMaxBytes: number;
  /**
   * A destination whose queue stays full this long (its stream takes nothing: a
   * global that hangs, or a connection black-holed by the network) is treated as
   * broken: removed and re-routed. 0 = wait forever (Go's behaviour).
   */
  readonly stallTimeoutMs?: number;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** Called after a destination left the ring (not at shutdown). */
  readonly onRemoved?: (address: string, reason: RemoveReason) => void;
}

type State = 'open' | 'closing' | 'gone';

/** The count in a draining global's status message (`... received=<n>`), or -1 if not draining. */
export function drainedCount(grpcMessage: string | undefined): number {
  if (grpcMessage === undefined || !grpcMessage.startsWith(DRAINING_MESSAGE)) return -1;
  const m = /received=(\d+)/.exec(grpcMessage);
  return m ? Number(m[1]) : -1;
}

class Destination {
  state: State = 'open';
  readonly queue = new MessageFifo();
  readonly kept = new MessageFifo();
  waitingDrain = false;
  full = false;
  stallTimer: NodeJS.Timeout | undefined = undefined;
  idleWaiters: (() => void)[] = [];
  /** Messages written on this destination's stream (the global reports how many it read when draining). */
  written = 0;
  /** When draining: how many of the written messages the global did not read (they are re-sent). */
  unread = -1;
  readonly tag: string;
  constructor(
    readonly address: string,
    readonly client: ForwardClientLike,
    readonly stream: ForwardStream,
  ) {
    this.tag = `destination:${address}`;
  }
}

interface Pending {
  cancelled: boolean;
  readonly promise: Promise<boolean>;
}

/** Resolves once an HTTP/2 server at `address` has sent its SETTINGS; rejects on error or timeout. */
export function probeHttp2(address: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const session = http2.connect(`http://${address}`);
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`dial timed out after ${timeoutMs} ms`)), timeoutMs);
    session.once('remoteSettings', () => finish());
    session.once('error', (err) => finish(err));
    session.once('close', () => finish(new Error('connection closed during the HTTP/2 handshake')));
  });
}

export class Destinations {
  readonly ring = new HashRing();
  readonly #opts: DestinationsOptions;
  readonly #dests = new Map<string, Destination>();
  readonly #pending = new Map<string, Pending>();
  readonly #orphans = new MessageFifo();
  #fullCount = 0;
  #writableWaiters: (() => void)[] = [];
  #closing = false;
  // counters reported by reportStats()
  #forwarded = 0;
  #dropped = 0;
  #notKept = 0;

  constructor(opts: DestinationsOptions) {
    this.#opts = opts;
  }

  /** Connected destinations (in the ring). */
  get size(): number {
    return this.#dests.size;
  }

  addresses(): string[] {
    return [...this.#dests.keys()];
  }

  has(address: string): boolean {
    return this.#dests.has(address);
  }

  isPending(address: string): boolean {
    return this.#pending.has(address);
  }

  /** Messages held because there is no destination. */
  get held(): number {
    return this.#orphans.length;
  }

  /** Messages queued (not yet written) for a destination, for tests and stats. */
  queued(address: string): number {
    return this.#dests.get(address)?.queue.length ?? 0;
  }

  /** Messages in a destination's window copy. */
  keptCount(address: string): number {
    return this.#dests.get(address)?.kept.length ?? 0;
  }

  /**
   * Connect to `address` and add it to the ring. Resolves true once added, false when
   * it could not be reached (or was removed or shut down meanwhile). Concurrent calls
   * for one address share the attempt.
   */
  add(address: string): Promise<boolean> {
    if (this.#closing) return Promise.resolve(false);
    if (this.#dests.has(address)) return Promise.resolve(true);
    const existing = this.#pending.get(address);
    if (existing) return existing.promise;
    const pending: Pending = {
      cancelled: false,
      promise: this.#connect(address, () => pending.cancelled),
    };
    this.#pending.set(address, pending);
    void pending.promise.finally(() => {
      if (this.#pending.get(address) === pending) this.#pending.delete(address);
    });
    return pending.promise;
  }

  async #connect(address: string, cancelled: () => boolean): Promise<boolean> {
    const { telemetry, logger } = this.#opts;
    const probe = this.#opts.probe ?? probeHttp2;
    try {
      await probe(address, this.#opts.dialTimeoutMs);
    } catch (err) {
      telemetry.count('veneur_proxy.forward.connect', 1, ['status:failed_dial']);
      logger.warn({ destination: address, err: (err as Error).message }, 'failed to dial destination');
      return false;
    }
    if (cancelled() || this.#closing) return false;
    let client: ForwardClientLike;
    try {
      client = this.#opts.connect(address);
    } catch (err) {
      telemetry.count('veneur_proxy.forward.connect', 1, ['status:failed_connect']);
      logger.error({ destination: address, err: (err as Error).message }, 'failed to connect to destination');
      return false;
    }
    const stream = client.openStream();
    const d = new Destination(address, client, stream);
    this.#dests.set(address, d);
    this.ring.add(address);
    telemetry.count('veneur_proxy.forward.connect', 1, ['status:success']);
    logger.info({ destination: address, destinations: this.#dests.size }, 'destination added');
    void stream.closed.then((err) => this.#onStreamClosed(d, err));
    this.#releaseOrphans();
    return true;
  }

  #onStreamClosed(d: Destination, err: Error | null): void {
    if (d.state !== 'open') return;
    this.#opts.telemetry.count('veneur_proxy.forward.disconnect', 1, [`error:${err !== null}`]);
    const received = err === null ? -1 : drainedCount((err as ForwardError).grpcMessage);
    if (received >= 0) {
      // a global of ours stopping gracefully keeps and flushes what it read: re-send only
      // what it did not read (the tail of the window copy) and the unsent queue
      d.unread = Math.max(0, d.written - received);
      this.#opts.logger.info({ destination: d.address, unread: d.unread }, 'destination is draining');
      this.remove(d.address, 'drained');
      return;
    }
    this.#opts.logger.warn(
      { destination: d.address, err: err?.message ?? 'stream ended by the destination' },
      'disconnected from destination',
    );
    this.remove(d.address, 'stream');
  }

  /**
   * Take a destination out of the ring now and route its window copy and unsent
   * queue to the remaining owners (see the file comment). A connection attempt in
   * progress for the address is abandoned. Returns whether it was in the ring.
   */
  remove(address: string, reason: RemoveReason): boolean {
    const pending = this.#pending.get(address);
    if (pending) pending.cancelled = true;
    const d = this.#dests.get(address);
    if (!d) return false;
    this.#dests.delete(address);
    this.ring.remove(address);
    d.state = 'gone';
    this.#setFull(d, false);
    const kept = d.kept.drain();
    if (reason === 'drained' && d.unread >= 0 && d.unread < kept.msgs.length) {
      // the global flushes what it read; only the unread tail moves (messages arrive in order)
      kept.msgs.splice(0, kept.msgs.length - d.unread);
      kept.hashes.splice(0, kept.hashes.length - d.unread);
    }
    const queued = d.queue.drain();
    this.#resolveIdle(d);
    d.stream.destroy(new Error(`destination removed (${reason})`));
    void d.client.close(Date.now()).catch(() => {});
    const n = kept.msgs.length + queued.msgs.length;
    this.#opts.logger.info(
      { destination: address, reason, resend: n, destinations: this.#dests.size },
      'destination removed',
    );
    this.#opts.telemetry.count('veneur_proxy.destinations.removed', 1, [`reason:${reason}`]);
    if (this.#closing) {
      this.#dropped += n;
    } else {
      for (let i = 0; i < kept.msgs.length; i++) this.#reroute(kept.msgs[i]!, kept.hashes[i]!);
      for (let i = 0; i < queued.msgs.length; i++) this.#reroute(queued.msgs[i]!, queued.hashes[i]!);
      if (n > 0) this.#opts.telemetry.count('veneur_proxy.forward.rerouted_count', n, [`reason:${reason}`]);
    }
    this.#notifyWritable();
    if (!this.#closing) this.#opts.onRemoved?.(address, reason);
    return true;
  }

  #reroute(msg: Uint8Array, hash: number): void {
    this.send(msg, hash);
  }

  /**
   * Route one encoded metricpb.Metric by its key hash. Always takes the message;
   * returns false when the owner's queue has reached `send_buffer_size` (wait for
   * writable() before sending more).
   */
  send(msg: Uint8Array, hash: number): boolean {
    const owner = this.ring.ownerOfHash(hash);
    if (owner === undefined) {
      this.#hold(msg, hash);
      return true;
    }
    const d = this.#dests.get(owner)!;
    if (d.queue.length === 0 && !d.waitingDrain) {
      if (!this.#write(d, msg, hash)) this.#waitDrain(d);
      return true;
    }
    d.queue.push(msg, hash);
    if (d.queue.length >= this.#opts.sendBufferSize) {
      if (!d.full) {
        this.#setFull(d, true);
        this.#opts.telemetry.count('veneur_proxy.handle.enqueue', 1, [d.tag]);
      }
      return false;
    }
    return true;
  }

  /** Resolves when no destination queue is full. */
  writable(): Promise<void> {
    if (this.#fullCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.#writableWaiters.push(resolve));
  }

  #write(d: Destination, msg: Uint8Array, hash: number): boolean {
    const ok = d.stream.write(msg);
    this.#forwarded++;
    d.written++;
    if (this.#opts.keepCopies) {
      if (d.kept.bytes + msg.byteLength <= this.#opts.resendMaxBytes) d.kept.push(msg, hash);
      else this.#notKept++;
    }
    return ok;
  }

  #waitDrain(d: Destination): void {
    d.waitingDrain = true;
    // setImmediate: a stream that has ended resolves drained() at once; never spin in microtasks
    void d.stream.drained().then(() => setImmediate(() => this.#pump(d)));
  }

  #pump(d: Destination): void {
    if (d.state === 'gone') return;
    d.waitingDrain = false;
    while (d.queue.length > 0) {
      const msg = d.queue.shift();
      if (!this.#write(d, msg, d.queue.lastHash)) {
        this.#updateFull(d);
        this.#waitDrain(d);
        return;
      }
    }
    this.#updateFull(d);
    this.#resolveIdle(d);
  }

  #updateFull(d: Destination): void {
    if (d.full && d.queue.length < this.#opts.sendBufferSize) {
      this.#setFull(d, false);
      this.#notifyWritable();
    }
  }

  #setFull(d: Destination, full: boolean): void {
    if (d.full === full) return;
    d.full = full;
    this.#fullCount += full ? 1 : -1;
    clearTimeout(d.stallTimer);
    d.stallTimer = undefined;
    const stall = this.#opts.stallTimeoutMs ?? 0;
    if (full && stall > 0 && !this.#closing) {
      d.stallTimer = setTimeout(() => {
        if (!d.full || d.state !== 'open') return;
        this.#opts.logger.error(
          { destination: d.address, stall_ms: stall, queued: d.queue.length },
          'destination took nothing while its queue was full; treating it as broken',
        );
        this.#opts.telemetry.count('veneur_proxy.forward.disconnect', 1, ['error:stalled']);
        this.remove(d.address, 'stalled');
      }, stall);
      d.stallTimer.unref();
    }
  }

  #notifyWritable(): void {
    if (this.#fullCount !== 0 || this.#writableWaiters.length === 0) return;
    const w = this.#writableWaiters;
    this.#writableWaiters = [];
    for (const f of w) f();
  }

  #resolveIdle(d: Destination): void {
    const w = d.idleWaiters;
    d.idleWaiters = [];
    for (const f of w) f();
  }

  #hold(msg: Uint8Array, hash: number): void {
    if (this.#closing || this.#orphans.length >= this.#opts.sendBufferSize) {
      this.#dropped++;
      return;
    }
    this.#orphans.push(msg, hash);
  }

  #releaseOrphans(): void {
    if (this.#orphans.length === 0 || this.ring.size === 0) return;
    const { msgs, hashes } = this.#orphans.drain();
    for (let i = 0; i < msgs.length; i++) this.send(msgs[i]!, hashes[i]!);
  }

  /** Start of a new re-send window: forget every destination's window copy. */
  rotateWindow(): void {
    for (const d of this.#dests.values()) d.kept.clear();
  }

  /** Report counters and buffer gauges (called once per stats interval). */
  reportStats(): void {
    const t = this.#opts.telemetry;
    if (this.#forwarded > 0) t.count('veneur_proxy.forward.metrics_count', this.#forwarded, ['error:false']);
    if (this.#dropped > 0) t.count('veneur_proxy.forward.metrics_count', this.#dropped, ['error:dropped']);
    if (this.#notKept > 0) t.count('veneur_proxy.forward.resend_overflow', this.#notKept);
    this.#forwarded = 0;
    this.#dropped = 0;
    this.#notKept = 0;
    for (const d of this.#dests.values()) {
      t.gauge('veneur_proxy.forward.buffer_size', d.queue.length, [d.tag]);
      t.gauge('veneur_proxy.forward.resend_buffer_bytes', d.kept.bytes, [d.tag]);
    }
    t.gauge('veneur_proxy.destinations', this.#dests.size);
    t.gauge('veneur_proxy.handle.held', this.#orphans.length);
  }

  /**
   * Shutdown: no new destinations, pending connections abandoned; each destination's
   * queue is written out, its stream half-closed and acknowledged by the server, and
   * its client closed, all by `deadline` (then cut). Nothing is re-routed any more.
   */
  async close(deadline: number): Promise<void> {
    this.#closing = true;
    for (const p of this.#pending.values()) p.cancelled = true;
    await Promise.all([...this.#dests.values()].map((d) => this.#closeOne(d, deadline)));
    this.#dropped += this.#orphans.length;
    this.#orphans.clear();
    this.#notifyWritable();
    const w = this.#writableWaiters;
    this.#writableWaiters = [];
    for (const f of w) f();
  }

  async #closeOne(d: Destination, deadline: number): Promise<void> {
    const left = (): number => Math.max(0, deadline - Date.now());
    const timeout = (ms: number): Promise<'timeout'> =>
      new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
    if (d.state === 'open' && (d.queue.length > 0 || d.waitingDrain)) {
      await Promise.race([new Promise<void>((r) => d.idleWaiters.push(r)), timeout(left()), d.stream.closed]);
    }
    if (d.state === 'gone') return;
    d.state = 'closing';
    const result = await Promise.race([
      d.stream.end().then(
        () => null,
        (err: Error) => err,
      ),
      timeout(left()),
    ]);
    if (result === 'timeout') {
      d.stream.destroy(new Error('shutdown timeout'));
      this.#opts.logger.warn(
        { destination: d.address },
        'destination did not acknowledge the stream end in time',
      );
    } else if (result !== null) {
      this.#opts.logger.warn({ destination: d.address, err: result.message }, 'stream end failed');
    }
    this.#dropped += d.queue.length;
    d.queue.clear();
    d.kept.clear();
    d.state = 'gone';
    this.#dests.delete(d.address);
    this.ring.remove(d.address);
    await d.client.close(Date.now() + left()).catch(() => {});
  }
}
