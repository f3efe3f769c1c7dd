import { rm } from 'node:fs/promises';
/**
 * Composition root: Config -> running components. Start order: sinks, then
 * aggregation and the flush clock, then listeners and HTTP. Shutdown reverses
 * it, with one final flush after the listeners close so that SIGTERM loses
 * nothing that was received.
 */
import type { Logger } from 'pino';
import { Aggregator } from '../aggregate/aggregator.js';
import type { AnySeries } from '../aggregate/series.js';
import type { Config } from '../config/types.js';
import { Flusher } from '../flush/flusher.js';
import { makePolicy } from '../flush/policy.js';
import { ForwardClient } from '../forward/client.js';
import { encodeSeriesSliced, metricsToStates } from '../forward/convert.js';
import { Forwarder } from '../forward/forwarder.js';
import { ImportServer } from '../forward/import-server.js';
import {
  createStatsdListeners,
  statsdAddresses,
  udpAddresses,
  unixSocketFiles,
} from '../ingest/listeners.js';
import { removeStaleSocket } from '../ingest/stream.js';
import type { Component } from '../model/component.js';
import { type WrappedMetricSink, wrapMetricSink } from '../sinks/helper/wrap.js';
import { InternalTelemetry } from '../telemetry/internal.js';
import { StatsAddressSink } from '../telemetry/stats-address.js';
import { parseHostPort, parseListenAddress } from '../util/address.js';
import { ConfigError, joinPath } from '../util/errors.js';
import { IngestWorkers } from './cluster.js';
import { HttpServer } from './http.js';
import { metricSinkKinds, plannedMetricSinkKinds } from './registry.js';

export interface BuildOptions {
  readonly logger: Logger;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly strict: boolean;
  readonly version: string;
  readonly buildDate: string;
  readonly printSecrets: boolean;
  /** Called when something asks the process to shut down (POST /quitquitquit). */
  readonly onQuit: () => void;
}

export interface App {
  readonly aggregator: Aggregator;
  readonly flusher: Flusher;
  readonly listeners: readonly Component[];
  readonly http: HttpServer | null;
  readonly sinks: readonly WrappedMetricSink[];
  readonly workers: IngestWorkers | null;
  start(): Promise<void>;
  /** Stop listeners, flush once more, stop sinks and HTTP. Idempotent. */
  shutdown(deadline: number): Promise<void>;
}

/** Env prefix of a sink's own config overlay (Go uses the sink name: `dd` -> `DD_APIKEY`). */
export function sinkEnvPrefix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * Which global `tags_exclude` entries apply to a sink: `tag` applies to all sinks,
 * `tag|sink1|sink2` only to the sinks named (reference §2.9).
 */
export function excludedTagsFor(sinkName: string, tagsExclude: readonly string[]): string[] {
  const out: string[] = [];
  for (const entry of tagsExclude) {
    const parts = entry.split('|');
    if (parts.length === 1 || parts.slice(1).includes(sinkName)) out.push(parts[0]);
  }
  return out;
}

/**
 * The stats_address sink, unless stats_address is unset, not UDP, or one of our own
 * UDP listeners (self-metrics are aggregated in-process already: sending them to
 * ourselves would count them twice).
 */
function statsAddressSink(config: Config, logger: Logger): StatsAddressSink | null {
  const addr = config.statsAddress;
  if (addr === '') return null;
  if (addr.startsWith('unix://')) {
    logger.warn(
      { stats_address: addr },
      'stats_address over unix sockets is not supported yet: self-metrics stay in-process',
    );
    return null;
  }
  const own = config.statsdListenAddresses.some((t) => {
    const a = parseListenAddress(t);
    if (a === null || !a.scheme.startsWith('udp')) return false;
    const target = parseHostPort(addr);
    return (
      target !== null &&
      target.port === a.port &&
      (target.host === a.host || a.host === '' || a.host === '0.0.0.0')
    );
  });
  if (own) {
    logger.info(
      { stats_address: addr },
      'stats_address is this veneur: self-metrics are aggregated in-process, not sent',
    );
    return null;
  }
  return new StatsAddressSink(addr);
}

export function buildApp(config: Config, opts: BuildOptions): App {
  const { logger } = opts;
  for (const [key, present] of [
    ['ssf_listen_addresses', config.ssfListenAddresses.length > 0],
    ['grpc_listen_addresses', config.grpcListenAddresses.length > 0],
    ['span_sinks', config.spanSinks.length > 0],
    ['sources', config.sources.length > 0],
  ] as const) {
    if (present) logger.warn({ key }, `${key} is not implemented yet in this version and is ignored`);
  }

  // accepted for compatibility, validated, but without effect in this version: say so once
  const inert: [string, boolean][] = [
    ['features.enable_metric_sink_routing', config.features.enableMetricSinkRouting],
    ['metric_sink_routing', config.metricSinkRouting.length > 0],
    [
      'metric_sinks[].max_name_length/max_tag_length/max_tags/strip_tags/add_tags',
      config.metricSinks.some(
        (s) =>
          s.maxNameLength > 0 ||
          s.maxTagLength > 0 ||
          s.maxTags > 0 ||
          s.stripTags.length > 0 ||
          Object.keys(s.addTags).length > 0,
      ),
    ],
    ['count_unique_timeseries', config.countUniqueTimeseries],
    ['flush_watchdog_missed_flushes', config.flushWatchdogMissedFlushes > 0],
    ['sentry_dsn', !config.sentryDsn.isEmpty],
    ['num_workers', config.numWorkers > 1],
  ];
  for (const [key, present] of inert) {
    if (present) logger.warn({ key }, `${key} is accepted but has no effect in this version`);
  }

  const aggregator = new Aggregator({
    extendTags: config.extendTags,
    metricMaxLength: config.metricMaxLength,
    maxSeries: config.maxSeries,
  });
  const telemetry = new InternalTelemetry(aggregator);

  const sinks: WrappedMetricSink[] = config.metricSinks.map((entry) => {
    const def = metricSinkKinds.get(entry.kind);
    if (def === undefined) {
      const why = plannedMetricSinkKinds.has(entry.kind)
        ? `metric sink kind "${entry.kind}" is not supported by this version yet`
        : `unknown metric sink kind "${entry.kind}" (known: ${[...metricSinkKinds.keys()].join(', ')})`;
      throw new ConfigError(joinPath(entry.path, 'kind'), why);
    }
    const raw = { ...((entry.config ?? {}) as Record<string, unknown>) };
    if (entry.kind === 'datadog' && config.tagsExclude.length > 0 && raw.excluded_tags === undefined) {
      raw.excluded_tags = excludedTagsFor(entry.name, config.tagsExclude);
    }
    const sinkConfig = def.parseConfig(raw, {
      path: joinPath(entry.path, 'config'),
      envPrefix: sinkEnvPrefix(entry.name),
      env: opts.env,
      strict: opts.strict,
    });
    const sink = def.create(sinkConfig, {
      name: entry.name,
      hostname: config.hostname,
      intervalSeconds: config.intervalMs / 1000,
      logger: logger.child({ sink: entry.name, kind: entry.kind }),
      telemetry,
    });
    // Go gives sinks an HTTP client timeout of 0.9 x interval; the flush deadline bounds it too
    return wrapMetricSink(sink, { telemetry, logger, timeoutMs: config.intervalMs * 0.9 });
  });

  // num_readers > 1: that many ingest worker processes share the sockets; this process merges and flushes
  const workers =
    config.numReaders > 1
      ? new IngestWorkers({
          count: config.numReaders,
          aggregator,
          logger,
          telemetry,
          collectTimeoutMs: Math.min(2000, config.intervalMs / 2),
          // bound here with the native addon, read by every worker (udp.ts)
          udp: udpAddresses(config),
          recvBufferSize: config.readBufferSizeBytes,
        })
      : null;
  // forward_address set: a local; its mergeable state goes to the global tier (reference §2.4, §3.1)
  const forwardClient =
    config.forwardAddress === ''
      ? null
      : new ForwardClient({ address: config.forwardAddress, tls: config.tls, logger });
  const forwarder =
    forwardClient === null ? null : new Forwarder({ client: forwardClient, logger, telemetry });
  // grpc_address set: the import server of a global (locals and proxies stream to it)
  const importServer =
    config.grpcAddress === ''
      ? null
      : new ImportServer({
          address: config.grpcAddress,
          logger,
          telemetry,
          onMetrics: (ms) =>
            aggregator.importStates(
              metricsToStates(ms, (cause) => telemetry.count('import.errors_total', 1, [`cause:${cause}`])),
            ),
        });
  const policy = makePolicy({
    isLocal: forwarder !== null,
    percentiles: config.percentiles,
    aggregates: config.aggregates,
  });
  const statsAddress = statsAddressSink(config, logger);
  if (statsAddress !== null) {
    sinks.push(wrapMetricSink(statsAddress, { telemetry, logger, timeoutMs: config.intervalMs * 0.9 }));
  }
  const flusher = new Flusher({
    aggregator,
    targets: sinks,
    policy,
    ...(forwarder
      ? {
          forward: (series: readonly AnySeries[], deadline: number) => {
            // encoded in slices (digests merge their pending samples here); the series are
            // recycled once `encoded` settles
            const encoded = encodeSeriesSliced(series);
            const sent = encoded.then(
              (msgs) => forwarder.forwardEncoded(msgs, deadline),
              (err: unknown) => {
                telemetry.count('forward.error_total', 1, ['cause:encode']);
                logger.error({ err }, 'forward: encoding failed');
              },
            );
            return { encoded: encoded.catch(() => {}), sent };
          },
        }
      : {}),
    ...(workers ? { collect: () => workers.collect() } : {}),
    intervalMs: config.intervalMs,
    synchronize: config.synchronizeWithInterval,
    logger,
    telemetry,
  });

  // validated here even when the listeners live in the ingest workers
  statsdAddresses(config);
  const listeners: Component[] = createStatsdListeners(config, aggregator, {
    logger,
    telemetry,
    inWorker: false,
    // with ingest workers, only the listeners that cannot be shared (unixgram) live here
    ...(workers ? { only: 'primary-only' as const } : {}),
  });

  const http =
    config.httpAddress === ''
      ? null
      : new HttpServer({
          config,
          version: opts.version,
          buildDate: opts.buildDate,
          printSecrets: opts.printSecrets,
          logger,
          onQuit: opts.onQuit,
        });

  const started: Component[] = [];
  let shuttingDown: Promise<void> | null = null;

  return {
    aggregator,
    flusher,
    listeners,
    http,
    sinks,
    workers,
    async start() {
      for (const s of sinks) {
        await s.start();
        started.push(s);
      }
      await flusher.start();
      started.push(flusher);
      for (const l of listeners) {
        await l.start();
        started.push(l);
      }
      if (importServer !== null) {
        await importServer.start();
        started.push(importServer);
      }
      if (workers !== null) {
        // the workers share the primary's unix sockets: clear stale files once, here
        for (const path of unixSocketFiles(config)) await removeStaleSocket(path);
        await workers.start();
        started.push(workers);
      }
      if (http !== null) {
        await http.start();
        started.push(http);
      }
    },
    shutdown(deadline: number) {
      shuttingDown ??= (async () => {
        for (const l of listeners) await l.stop(deadline);
        // workers close their listeners and hand over what they hold
        if (workers !== null) {
          await workers.stop(Math.min(deadline, Date.now() + 5000));
          for (const path of unixSocketFiles(config)) await rm(path, { force: true });
        }
        // open streams were answered (DRAINING_MESSAGE) at once; idle sessions need no long wait
        if (importServer !== null) await importServer.stop(Math.min(deadline, Date.now() + 1_000));
        await flusher.stop(deadline);
        await flusher.drain();
        // the final flush: everything received up to the listeners closing
        await flusher.flush();
        for (const s of sinks) await s.stop(deadline);
        if (forwardClient !== null) await forwardClient.close(deadline);
        if (http !== null) await http.stop(deadline);
        logger.info('shutdown complete');
      })();
      return shuttingDown;
    },
  };
}
