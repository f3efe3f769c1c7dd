/**
 * A source of destination addresses (`host:port` of global veneurs' gRPC import
 * servers). `discover` either returns the complete current list or throws; the
 * proxy keeps the last good list of a source whose query failed (reference §4.1,
 * §4.3), so a throw never removes destinations.
 */
export interface Discoverer {
  /** `static`, `consul`, `kubernetes`: the tag of `veneur_proxy.discovery.count`. */
  readonly kind: string;
  discover(signal: AbortSignal): Promise<string[]>;
  /** Release connections; idempotent. */
  close(): Promise<void>;
}

export class DiscoveryError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind} discovery: ${message}`, options);
    this.name = 'DiscoveryError';
  }
}

/** `host:port`, with brackets around an IPv6 host (Go's `%s:%d` leaves them out, which no dialer accepts). */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
