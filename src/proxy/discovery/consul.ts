/**
 * Consul discovery (reference §4.3): `GET /v1/health/service/<name>?passing=1` on
 * the agent, each healthy entry becomes `<Node.Address>:<Service.Port>` (the node's
 * address, not the service's, as Go Veneur does). Zero entries is an error
 * ("received no hosts from Consul"), so a momentarily empty answer keeps the
 * previous list instead of dropping every destination.
 *
 * Where the agent is, as Go's `api.DefaultConfig()` reads it, unless the proxy
 * config names it (`consul.address`, `consul.token`):
 *   CONSUL_HTTP_ADDR   `host:port`, `http://host:port` or `https://host:port` (default 127.0.0.1:8500)
 *   CONSUL_HTTP_SSL    `true` -> https for a scheme-less address
 *   CONSUL_HTTP_TOKEN  sent as the `X-Consul-Token` header (no header without a token)
 *   CONSUL_HTTP_AUTH   `user:password` -> HTTP basic auth
 *   CONSUL_CACERT      CA bundle file for https; CONSUL_HTTP_SSL_VERIFY=false skips verification
 * `unix://` agent addresses are not supported.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { getJson } from './http-json.js';
import { type Discoverer, DiscoveryError, joinHostPort } from './types.js';

export interface ConsulOptions {
  /** Service name (`forward_service`). */
  readonly service: string;
  /** Agent address from the config; '' = CONSUL_HTTP_ADDR or 127.0.0.1:8500. */
  readonly address?: string;
  /** ACL token from the config; '' = CONSUL_HTTP_TOKEN. */
  readonly token?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Per-query time limit. */
  readonly timeoutMs?: number;
}

const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

export interface ConsulEndpoint {
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly ca: string | undefined;
  readonly verify: boolean;
}

/** Resolve the agent URL and headers from the options and environment (throws on an unusable address). */
export function consulEndpoint(opts: ConsulOptions): ConsulEndpoint {
  const env = opts.env ?? process.env;
  let addr = opts.address || env.CONSUL_HTTP_ADDR || '127.0.0.1:8500';
  let scheme = TRUE.has(env.CONSUL_HTTP_SSL ?? '') ? 'https' : 'http';
  const m = /^([a-z]+):\/\//.exec(addr);
  if (m) {
    if (m[1] !== 'http' && m[1] !== 'https') {
      throw new DiscoveryError(
        'consul',
        `unsupported agent address ${JSON.stringify(addr)} (use host:port or http(s)://host:port)`,
      );
    }
    scheme = m[1];
    addr = addr.slice(m[0].length).replace(/\/+$/, '');
  }
  let url: URL;
  try {
    url = new URL(`${scheme}://${addr}/v1/health/service/${encodeURIComponent(opts.service)}`);
  } catch {
    throw new DiscoveryError('consul', `invalid agent address ${JSON.stringify(addr)}`);
  }
  url.search = 'passing=1';
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = opts.token || env.CONSUL_HTTP_TOKEN || '';
  if (token !== '') headers['x-consul-token'] = token;
  const auth = env.CONSUL_HTTP_AUTH ?? '';
  if (auth !== '') headers.authorization = `Basic ${Buffer.from(auth).toString('base64')}`;
  const caFile = env.CONSUL_CACERT ?? '';
  return {
    url,
    headers,
    ca: caFile === '' ? undefined : readFileSync(caFile, 'utf8'),
    verify: !FALSE.has(env.CONSUL_HTTP_SSL_VERIFY ?? ''),
  };
}

/** Addresses from a `/v1/health/service` answer; throws on a malformed or empty answer. */
export function parseHealthService(body: unknown): string[] {
  if (!Array.isArray(body)) throw new DiscoveryError('consul', 'expected a JSON array of service entries');
  const out: string[] = [];
  for (const entry of body as unknown[]) {
    const e = entry as { Node?: { Address?: unknown }; Service?: { Port?: unknown } } | null;
    const host = e?.Node?.Address;
    const port = e?.Service?.Port;
    if (typeof host !== 'string' || host === '' || typeof port !== 'number' || !Number.isInteger(port))
      continue;
    if (port <= 0 || port > 65535) continue;
    out.push(joinHostPort(host, port));
  }
  if (out.length === 0) throw new DiscoveryError('consul', 'received no hosts from Consul');
  return out;
}

export class ConsulDiscoverer implements Discoverer {
  readonly kind = 'consul';
  readonly #endpoint: ConsulEndpoint;
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(opts: ConsulOptions) {
    this.#endpoint = consulEndpoint(opts);
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#agent = new Agent({
      connect: { ca: this.#endpoint.ca, rejectUnauthorized: this.#endpoint.verify },
      keepAliveTimeout: 30_000,
    });
  }

  get url(): URL {
    return this.#endpoint.url;
  }

  async discover(signal: AbortSignal): Promise<string[]> {
    const body = await getJson(this.#endpoint.url, {
      kind: this.kind,
      headers: this.#endpoint.headers,
      dispatcher: this.#agent,
      signal,
      timeoutMs: this.#timeoutMs,
    });
    return parseHealthService(body);
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => {});
  }
}
