/**
 * Kubernetes discovery with the in-cluster service account (what client-go's
 * `rest.InClusterConfig` reads): API server at
 * `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, CA
 * `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`, bearer token from
 * `.../token` (read again on every query: bound tokens rotate).
 *
 * Lists pods by label selector (`kubernetes.label_selector`, default
 * `app=veneur-global` as Go's legacy proxy) in all namespaces or one
 * (`kubernetes.namespace`), keeps pods in phase Running with a pod IP and no
 * deletion timestamp (a terminating pod is on its way out), and takes the container
 * port named `kubernetes.port_name` (default `grpc`): `podIP:port`.
 * Go's http/TCP-port fallbacks are for the legacy HTTP proxy and are not used.
 * No matching pod is an error (the previous list is kept), as for Consul.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { getJson } from './http-json.js';
import { type Discoverer, DiscoveryError, joinHostPort } from './types.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubernetesOptions {
  readonly labelSelector?: string;
  readonly portName?: string;
  /** '' = all namespaces. */
  readonly namespace?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly tokenFile?: string;
  readonly caFile?: string;
  readonly timeoutMs?: number;
}

interface Pod {
  metadata?: { name?: unknown; deletionTimestamp?: unknown };
  spec?: { containers?: { ports?: { name?: unknown; containerPort?: unknown }[] }[] };
  status?: { phase?: unknown; podIP?: unknown };
}

/** `ip:port` for every usable pod of a PodList, in list order. */
export function podAddresses(body: unknown, portName: string): string[] {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) throw new DiscoveryError('kubernetes', 'expected a PodList with items');
  const out: string[] = [];
  for (const raw of items as Pod[]) {
    if (raw?.status?.phase !== 'Running') continue;
    if (raw.metadata?.deletionTimestamp != null) continue;
    const ip = raw.status.podIP;
    if (typeof ip !== 'string' || ip === '') continue;
    let port: number | undefined;
    for (const c of raw.spec?.containers ?? []) {
      for (const p of c?.ports ?? []) {
        if (p?.name === portName && typeof p.containerPort === 'number' && p.containerPort > 0) {
          port = p.containerPort;
          break;
        }
      }
      if (port !== undefined) break;
    }
    if (port === undefined) continue;
    out.push(joinHostPort(ip, port));
  }
  if (out.length === 0)
    throw new DiscoveryError('kubernetes', `no running pod with a port named "${portName}"`);
  return out;
}

export class KubernetesDiscoverer implements Discoverer {
  readonly kind = 'kubernetes';
  readonly url: URL;
  readonly #portName: string;
  readonly #tokenFile: string;
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(opts: KubernetesOptions = {}) {
    const env = opts.env ?? process.env;
    const host = env.KUBERNETES_SERVICE_HOST ?? '';
    const port = env.KUBERNETES_SERVICE_PORT ?? '';
    if (host === '' || port === '') {
      throw new DiscoveryError(
        'kubernetes',
        'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a cluster?)',
      );
    }
    const ns = opts.namespace ?? '';
    const path = ns === '' ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`;
    this.url = new URL(`https://${joinHostPort(host, port)}${path}`);
    this.url.searchParams.set('labelSelector', opts.labelSelector ?? 'app=veneur-global');
    this.#portName = opts.portName ?? 'grpc';
    this.#tokenFile = opts.tokenFile ?? `${SERVICE_ACCOUNT_DIR}/token`;
    const caFile = opts.caFile ?? `${SERVICE_ACCOUNT_DIR}/ca.crt`;
    let ca: string;
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new DiscoveryError('kubernetes', `reading the cluster CA ${caFile}: ${(err as Error).message}`);
    }
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#agent = new Agent({ connect: { ca }, keepAliveTimeout: 30_000 });
  }

  async discover(signal: AbortSignal): Promise<string[]> {
    let token: string;
    try {
      token = readFileSync(this.#tokenFile, 'utf8').trim();
    } catch (err) {
      throw new DiscoveryError(
        'kubernetes',
        `reading the token ${this.#tokenFile}: ${(err as Error).message}`,
      );
    }
    const body = await getJson(this.url, {
      kind: this.kind,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      dispatcher: this.#agent,
      signal,
      timeoutMs: this.#timeoutMs,
    });
    return podAddresses(body, this.#portName);
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => {});
  }
}
