/**
 * Composition of veneur-proxy: config -> discoverers, destinations, routing core,
 * gRPC ingest server(s), HTTP server, self-metrics. Start: destinations first
 * (first discovery round, connections), then the ingest servers, then HTTP.
 * Shutdown: HTTP and ingest servers stop taking calls (calls in flight finish),
 * then every destination queue is written out and every stream ended.
 */
import type { Logger } from 'pino';
import { ForwardClient } from '../forward/client.js';
import { noopTelemetry, type Telemetry } from '../telemetry/types.js';
import type { ProxyConfig } from './config.js';
import { Destinations, type ForwardClientLike } from './destinations.js';
import { ConsulDiscoverer } from './discovery/consul.js';
import { KubernetesDiscoverer } from './discovery/kubernetes.js';
import { StaticDiscoverer } from './discovery/static.js';
import type { Discoverer } from './discovery/types.js';
import { ProxyHttpServer } from './http.js';
import { VeneurProxy } from './proxy.js';
import { IngestServer } from './server.js';
import { StatsdTelemetry } from './statsd.js';
import { compileTagMatcher } from './tag-matcher.js';

export interface BuildProxyOptions {
  readonly logger: Logger;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly version?: string;
  readonly buildDate?: string;
  readonly printSecrets?: boolean;
  /** Overrides the statsd telemetry (tests). */
  readonly telemetry?: Telemetry;
  /** Overrides the client factory (tests). */
  readonly connect?: (address: string) => ForwardClientLike;
  /** Overrides the discoverers (tests). */
  readonly discoverers?: readonly Discoverer[];
  /** First retry delay for failed destinations (default 1 s). */
  readonly retryMinMs?: number;
}

export interface ProxyApp {
  readonly config: ProxyConfig;
  readonly proxy: VeneurProxy;
  readonly destinations: Destinations;
  readonly servers: readonly IngestServer[];
  readonly http: ProxyHttpServer | null;
  start(): Promise<void>;
  shutdown(deadline: number): Promise<void>;
}

export function buildDiscoverers(
  config: ProxyConfig,
  env: Readonly<Record<string, string | undefined>>,
): Discoverer[] {
  const out: Discoverer[] = [];
  const timeoutMs = Math.min(config.discoveryIntervalMs, 10_000);
  if (config.forwardAddresses.length > 0) out.push(new StaticDiscoverer(config.forwardAddresses));
  if (config.discovery === 'kubernetes') {
    out.push(
      new KubernetesDiscoverer({
        env,
        labelSelector: config.kubernetes.labelSelector,
        portName: config.kubernetes.portName,
        namespace: config.kubernetes.namespace,
        timeoutMs,
      }),
    );
  } else if (config.forwardService !== '') {
    out.push(
      new ConsulDiscoverer({
        service: config.forwardService,
        address: config.consul.address,
        token: config.consul.token.reveal(),
        env,
        timeoutMs,
      }),
    );
  }
  return out;
}

export function buildProxy(config: ProxyConfig, opts: BuildProxyOptions): ProxyApp {
  const { logger } = opts;
  const env = opts.env ?? process.env;
  let statsd: StatsdTelemetry | null = null;
  let telemetry: Telemetry = noopTelemetry;
  if (opts.telemetry) telemetry = opts.telemetry;
  else if (config.statsd.address !== '') {
    statsd = new StatsdTelemetry(config.statsd.address, config.statsd.aggregationIntervalMs);
    telemetry = statsd;
  }
  const connect =
    opts.connect ??
    ((address: string): ForwardClientLike =>
      new ForwardClient({ address, logger: logger.child({ destination: address }) }));

  let proxy: VeneurProxy | undefined;
  const destinations = new Destinations({
    connect,
    dialTimeoutMs: config.dialTimeoutMs,
    sendBufferSize: config.sendBufferSize,
    keepCopies: config.resendWindowMs > 0,
    resendMaxBytes: config.resendMaxBytes,
    stallTimeoutMs: config.stallTimeoutMs,
    telemetry,
    logger,
    onRemoved: (address, reason) => proxy?.onRemoved(address, reason),
  });
  const discoverers = opts.discoverers ?? buildDiscoverers(config, env);
  proxy = new VeneurProxy({
    discoverers,
    destinations,
    ignoreTags: config.ignoreTags.map(compileTagMatcher),
    discoveryIntervalMs: config.discoveryIntervalMs,
    resendWindowMs: config.resendWindowMs,
    statsIntervalMs: config.statsd.aggregationIntervalMs,
    telemetry,
    logger,
    ...(opts.retryMinMs === undefined ? {} : { retryMinMs: opts.retryMinMs }),
  });
  const p = proxy;

  const servers: IngestServer[] = [];
  if (config.grpcAddress !== '') {
    servers.push(
      new IngestServer({
        address: config.grpcAddress,
        router: p,
        telemetry,
        logger,
        grpcServer: config.grpcServer,
      }),
    );
  }
  if (config.grpcTlsAddress !== '' && config.tls !== null) {
    servers.push(
      new IngestServer({
        address: config.grpcTlsAddress,
        router: p,
        telemetry,
        logger,
        grpcServer: config.grpcServer,
        tls: { certFile: config.tls.certFile, keyFile: config.tls.keyFile },
      }),
    );
  }
  const http =
    config.httpAddress === ''
      ? null
      : new ProxyHttpServer({
          address: config.httpAddress,
          config,
          healthy: () => p.healthy,
          version: opts.version ?? 'dirty',
          buildDate: opts.buildDate ?? 'dirty',
          printSecrets: opts.printSecrets ?? false,
          logger,
        });

  return {
    config,
    proxy: p,
    destinations,
    servers,
    http,
    async start() {
      statsd?.start();
      await p.start();
      for (const s of servers) await s.start();
      if (http) await http.start();
      logger.info({ destinations: destinations.addresses() }, 'veneur-proxy started');
    },
    async shutdown(deadline: number) {
      const serversDeadline = Math.min(deadline, Date.now() + (deadline - Date.now()) / 2);
      await Promise.all([...servers, ...(http ? [http] : [])].map((s) => s.stop(serversDeadline)));
      await p.stop(deadline);
      await statsd?.stop();
    },
  };
}
