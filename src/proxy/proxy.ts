/**
 * veneur-proxy's routing core (reference §4.1): keeps the destination set in step
 * with discovery, hashes each received metric to its owner, rotates the re-send
 * window and reports `veneur_proxy.*` metrics (§8.3).
 *
 * Destination set. On start and every `discovery_interval`, every discoverer
 * (static `forward_addresses`, Consul or Kubernetes) is queried; a source whose
 * query fails keeps its last good list (`veneur_proxy.discovery.count{status:fail}`).
 * The wanted set is the union of those lists. Wanted addresses not connected are
 * connected and added; connected addresses no longer wanted are removed at once
 * and their window's metrics re-routed (Go never removes them, §14.16). Static
 * addresses are re-offered on every tick, so a static destination whose stream
 * broke comes back once reachable (Go adds them only at start, §14.16).
 * In between ticks, a wanted address that failed (stream broke, or dial failed) is
 * retried with backoff from 1 s doubling up to `discovery_interval`.
 */
import type { Logger } from 'pino';
import type { Component } from '../model/component.js';
import type { Telemetry } from '../telemetry/types.js';
import type { Destinations, RemoveReason } from './destinations.js';
import type { Discoverer } from './discovery/types.js';
import { keyHashFromBytes } from './ring.js';
import type { TagMatcher } from './tag-matcher.js';

export type IngestProtocol = 'grpc-single' | 'grpc-stream';

export interface ProxyOptions {
  readonly discoverers: readonly Discoverer[];
  readonly destinations: Destinations;
  readonly ignoreTags: readonly TagMatcher[];
  readonly discoveryIntervalMs: number;
  /** Re-send window (0 = no window copies are kept). */
  readonly resendWindowMs: number;
  /** How often counters and gauges are handed to telemetry. */
  readonly statsIntervalMs: number;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  /** First retry delay after a wanted destination failed (default 1000 ms). */
  readonly retryMinMs?: number;
  readonly now?: () => number;
}

interface Retry {
  timer: NodeJS.Timeout | undefined;
  delayMs: number;
}

export class VeneurProxy implements Component {
  readonly kind = 'proxy';
  readonly name = 'proxy';
  readonly #opts: ProxyOptions;
  readonly #dests: Destinations;
  readonly #ignore: readonly TagMatcher[];
  /** Last good list per discoverer (index-aligned with opts.discoverers). */
  readonly #lists: (readonly string[] | undefined)[];
  readonly #retries = new Map<string, Retry>();
  readonly #abort = new AbortController();
  #discoveryTimer: NodeJS.Timeout | undefined;
  #windowTimer: NodeJS.Timeout | undefined;
  #statsTimer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #started = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  // counters, reported every stats interval
  readonly #ingested = { 'grpc-single': 0, 'grpc-stream': 0 };
  readonly #ingestErrors = { 'grpc-single': 0, 'grpc-stream': 0 };
  #routed = 0;

  constructor(opts: ProxyOptions) {
    this.#opts = opts;
    this.#dests = opts.destinations;
    this.#ignore = opts.ignoreTags;
    this.#lists = opts.discoverers.map(() => undefined);
  }

  get destinations(): Destinations {
    return this.#dests;
  }

  /** ≥1 destination and not shutting down (the /healthcheck rule). */
  get healthy(): boolean {
    return !this.#stopping && this.#dests.size > 0;
  }

  /** The union of the discoverers' last good lists. */
  wanted(): Set<string> {
    const out = new Set<string>();
    for (const l of this.#lists) for (const a of l ?? []) out.add(a);
    return out;
  }

  // -------------------------------------------------------------------------
  // Ingest

  /**
   * Route one encoded metricpb.Metric. Returns 'invalid' for a message that does not
   * parse (counted, dropped), 'full' when its destination's queue is full (the
   * message was taken; wait for writable() before routing more), else 'ok'.
   */
  route(msg: Uint8Array, protocol: IngestProtocol): 'ok' | 'full' | 'invalid' {
    const hash = keyHashFromBytes(msg, this.#ignore);
    if (hash < 0) {
      this.#ingestErrors[protocol]++;
      return 'invalid';
    }
    this.#ingested[protocol]++;
    this.#routed++;
    return this.#dests.send(msg, hash) ? 'ok' : 'full';
  }

  /** Resolves when every destination queue has room again. */
  writable(): Promise<void> {
    return this.#dests.writable();
  }

  // -------------------------------------------------------------------------
  // Lifecycle

  /** Query discovery once and connect (bounded by the discoverers' and dial timeouts), then keep going. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.refresh();
    this.#scheduleDiscovery();
    this.#scheduleWindow();
    this.#statsTimer = setInterval(() => this.reportStats(), this.#opts.statsIntervalMs);
    this.#statsTimer.unref();
  }

  #scheduleDiscovery(): void {
    if (this.#stopping) return;
    this.#discoveryTimer = setTimeout(() => {
      void this.refresh().finally(() => this.#scheduleDiscovery());
    }, this.#opts.discoveryIntervalMs);
    this.#discoveryTimer.unref();
  }

  #scheduleWindow(): void {
    const w = this.#opts.resendWindowMs;
    if (w <= 0 || this.#stopping) return;
    const now = (this.#opts.now ?? Date.now)();
    const next = Math.ceil((now + 1) / w) * w;
    this.#windowTimer = setTimeout(() => {
      this.#dests.rotateWindow();
      this.#scheduleWindow();
    }, next - now);
    this.#windowTimer.unref();
  }

  /** One discovery round: query every source, then reconcile the destination set. */
  refresh(): Promise<void> {
    if (this.#refreshing) return this.#refreshing;
    this.#refreshing = this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const { telemetry, logger } = this.#opts;
    const started = Date.now();
    await Promise.all(
      this.#opts.discoverers.map(async (d, i) => {
        try {
          const list = await d.discover(this.#abort.signal);
          this.#lists[i] = list;
          telemetry.count('veneur_proxy.discovery.count', 1, ['status:success', `discoverer:${d.kind}`]);
        } catch (err) {
          if (this.#stopping) return;
          telemetry.count('veneur_proxy.discovery.count', 1, ['status:fail', `discoverer:${d.kind}`]);
          logger.error(
            { discoverer: d.kind, err: (err as Error).message, kept: this.#lists[i]?.length ?? 0 },
            'discovery failed; keeping the last good list',
          );
        }
      }),
    );
    if (this.#stopping) return;
    const wanted = this.wanted();
    telemetry.gauge('veneur_proxy.discovery.destinations', wanted.size);
    for (const address of this.#dests.addresses()) {
      if (!wanted.has(address)) this.#dests.remove(address, 'discovery');
    }
    for (const address of [...this.#retries.keys()]) {
      if (!wanted.has(address)) this.#clearRetry(address);
    }
    const adds: Promise<void>[] = [];
    for (const address of wanted) {
      if (this.#dests.has(address)) continue;
      this.#clearRetry(address);
      adds.push(this.#ensure(address));
    }
    await Promise.all(adds);
    telemetry.count('veneur_proxy.discovery.duration_total_ms', Date.now() - started);
  }

  /** Connect a wanted address; on failure retry with backoff while it stays wanted. */
  async #ensure(address: string): Promise<void> {
    const ok = await this.#dests.add(address);
    if (ok) {
      this.#clearRetry(address);
      return;
    }
    this.#scheduleRetry(address);
  }

  /** Called by Destinations after a destination left the ring. */
  onRemoved(address: string, reason: RemoveReason): void {
    if (reason !== 'discovery') this.#scheduleRetry(address);
  }

  #scheduleRetry(address: string): void {
    if (this.#stopping || !this.wanted().has(address) || this.#dests.has(address)) return;
    const prev = this.#retries.get(address);
    if (prev?.timer !== undefined) return;
    const min = this.#opts.retryMinMs ?? 1000;
    const delayMs = prev === undefined ? min : Math.min(prev.delayMs * 2, this.#opts.discoveryIntervalMs);
    const r: Retry = { timer: undefined, delayMs };
    r.timer = setTimeout(() => {
      r.timer = undefined;
      if (this.#stopping || !this.wanted().has(address)) {
        this.#retries.delete(address);
        return;
      }
      void this.#ensure(address);
    }, delayMs);
    r.timer.unref();
    this.#retries.set(address, r);
  }

  #clearRetry(address: string): void {
    const r = this.#retries.get(address);
    if (r?.timer !== undefined) clearTimeout(r.timer);
    this.#retries.delete(address);
  }

  reportStats(): void {
    const t = this.#opts.telemetry;
    for (const p of ['grpc-single', 'grpc-stream'] as const) {
      if (this.#ingested[p] > 0)
        t.count('veneur_proxy.ingest.metrics_count', this.#ingested[p], ['error:false', `protocol:${p}`]);
      if (this.#ingestErrors[p] > 0)
        t.count('veneur_proxy.ingest.metrics_count', this.#ingestErrors[p], ['error:true', `protocol:${p}`]);
      this.#ingested[p] = 0;
      this.#ingestErrors[p] = 0;
    }
    if (this.#routed > 0) t.count('veneur_proxy.handle.metrics_count', this.#routed, ['error:false']);
    this.#routed = 0;
    this.#dests.reportStats();
  }

  /**
   * Stop discovery and timers, then write out every queue and end every stream
   * (acknowledged by the destination) by `deadline`. Stop the ingest server first.
   */
  stop(deadline: number): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#stopping = true;
    this.#stopped = (async () => {
      this.#abort.abort();
      clearTimeout(this.#discoveryTimer);
      clearTimeout(this.#windowTimer);
      clearInterval(this.#statsTimer);
      for (const a of [...this.#retries.keys()]) this.#clearRetry(a);
      await this.#dests.close(deadline);
      this.reportStats();
      await Promise.all(this.#opts.discoverers.map((d) => d.close()));
    })();
    return this.#stopped;
  }
}
