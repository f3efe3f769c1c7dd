/**
 * The statsd listeners of a config (statsd_listen_addresses, reference §1.1), for
 * this process or for a multi-core ingest worker: UDP datagrams, TCP (+TLS), unix
 * stream sockets, and unix datagram sockets (`unixgram`, on our native addon:
 * Node 20 core has none). With ingest workers, unixgram sockets stay in the
 * primary (a path can be bound once; the primary aggregates too), and UDP sockets
 * are bound by the primary and read by every worker (`udpFds`, see udp.ts).
 */
import type { Logger } from 'pino';
import { type Aggregator, Protocol } from '../aggregate/aggregator.js';
import type { Config } from '../config/types.js';
import type { Component } from '../model/component.js';
import type { Telemetry } from '../telemetry/types.js';
import { type ListenAddress, parseListenAddress } from '../util/address.js';
import { ConfigError } from '../util/errors.js';
import { createStreamListener, type StreamTlsOptions } from './stream.js';
import { UdpListener } from './udp.js';
import { UnixgramListener } from './unixgram.js';

/** Validate every statsd listen address; throws ConfigError naming its YAML path. */
export function statsdAddresses(config: Config): ListenAddress[] {
  return config.statsdListenAddresses.map((text, i) => {
    const path = `statsd_listen_addresses[${i}]`;
    const address = parseListenAddress(text);
    if (address === null)
      throw new ConfigError(path, `expected a URL like udp://127.0.0.1:8126, got "${text}"`);
    return address;
  });
}

/** TLS for the TCP statsd listener from tls_key / tls_certificate / tls_authority_certificate (PEM contents). */
export function statsdTls(config: Config): StreamTlsOptions | undefined {
  if (config.tlsKey.isEmpty) return undefined;
  return {
    key: config.tlsKey.reveal(),
    cert: config.tlsCertificate,
    ...(config.tlsAuthorityCertificate !== '' ? { ca: config.tlsAuthorityCertificate } : {}),
  };
}

export function createStatsdListeners(
  config: Config,
  aggregator: Aggregator,
  opts: {
    logger: Logger;
    telemetry: Telemetry;
    inWorker: boolean;
    /** which listeners to make: the socket-sharing ones (workers), the rest (primary), or all */
    only?: 'shared' | 'primary-only';
    /**
     * Ingest workers: UDP sockets the primary bound and passed down, by index in
     * statsd_listen_addresses -> this process's fds (read with the native reader).
     * A UDP listener without an entry shares the primary's socket through node:dgram.
     */
    udpFds?: ReadonlyMap<number, { readonly own: number; readonly steal: readonly number[] }>;
  },
): Component[] {
  const { logger, telemetry } = opts;
  const onPacket = (buf: Buffer, len: number): void => aggregator.ingestPacket(buf, len);
  const onTcpLine = (buf: Buffer, start: number, end: number): void =>
    aggregator.ingestLine(buf, start, end, Protocol.DogstatsdTcp);
  const onUnixLine = (buf: Buffer, start: number, end: number): void =>
    aggregator.ingestLine(buf, start, end, Protocol.DogstatsdUnix);
  const tls = statsdTls(config);
  const onDatagram = (buf: Buffer, len: number): void =>
    aggregator.ingestPacket(buf, len, Protocol.DogstatsdUnixgram);
  const onTooLong = (): void => aggregator.countTooLong(Protocol.DogstatsdUnixgram);
  const addresses = statsdAddresses(config)
    .map((address, index) => ({ address, index }))
    .filter(({ address: a }) => {
      if (opts.only === undefined) return true;
      return (a.scheme === 'unixgram') === (opts.only === 'primary-only');
    });
  return addresses.map(({ address, index }): Component => {
    if (address.scheme === 'unixgram') {
      return new UnixgramListener({
        address,
        recvBufferSize: config.readBufferSizeBytes,
        maxLength: config.metricMaxLength,
        onPacket: onDatagram,
        onTooLong,
        logger,
      });
    }
    if (address.scheme.startsWith('udp')) {
      const inherited = opts.udpFds?.get(index);
      return new UdpListener({
        address,
        recvBufferSize: config.readBufferSizeBytes,
        onPacket,
        logger,
        maxDatagram: config.metricMaxLength + 1,
        // in cluster workers the primary owns the socket: inherited (native reader) or shared by node:dgram
        exclusive: !opts.inWorker,
        ...(inherited !== undefined ? { inherited } : {}),
      });
    }
    const isUnix = address.scheme === 'unix';
    return createStreamListener(address, {
      onLine: isUnix ? onUnixLine : onTcpLine,
      logger,
      telemetry,
      ...(tls !== undefined && !isUnix ? { tls } : {}),
      ...(opts.inWorker ? { sharedSocketFile: true } : {}),
    });
  });
}

/** The UDP statsd listeners with their index in statsd_listen_addresses (the primary binds them for its workers). */
export function udpAddresses(config: Config): { index: number; address: ListenAddress }[] {
  return statsdAddresses(config)
    .map((address, index) => ({ address, index }))
    .filter(({ address }) => address.scheme.startsWith('udp'));
}

/** Unix socket files (not abstract) among the statsd listeners: the primary manages them for its workers. */
export function unixSocketFiles(config: Config): string[] {
  return statsdAddresses(config)
    .filter((a) => a.scheme === 'unix' && !a.path.startsWith('@'))
    .map((a) => a.path);
}
