/**
 * The HTTP client every HTTP sink uses: undici (v7, the Node 20 line) with one
 * keep-alive connection pool per origin, bounded retries inside the flush signal,
 * and Go PostHelper-style telemetry per action (reference §8.2):
 *   `<action>.error_total{cause}`   cause: json | compress | timeout | io | readresponse | <status code>
 *   `<action>.duration_ns{part}`    part: json (render + compress) | post (successful request)
 *   `<action>.content_length_bytes` size of the body as sent
 * Go's `<action>.connections_used_total{state}` comes from net/http's httptrace and
 * has no cheap undici equivalent; it is not emitted.
 *
 * Go Veneur never retries; we retry network errors, 429 and 5xx (3 attempts by
 * default), always inside the caller's AbortSignal.
 */
import { promisify } from 'node:util';
import { deflate as deflateCb } from 'node:zlib';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { Telemetry } from '../../telemetry/types.js';
import { VeneurError } from '../../util/errors.js';
import { withRetry } from './retry.js';

const deflateAsync = promisify(deflateCb);

/**
 * Compress for `Content-Encoding: deflate`. Like Go's compress/zlib (what Veneur
 * uses), this is a zlib stream (RFC 1950: header + deflate + adler32), not raw
 * deflate. Runs on the libuv thread pool, off the event loop.
 */
export function deflateZlib(data: Uint8Array | string): Promise<Buffer> {
  return deflateAsync(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, DEFLATE_OPTIONS);
}

/**
 * Level 1, not zlib's default 6 (Go's): on Datadog series JSON it deflates 3.3x
 * faster (638 vs 191 MiB/s) for 14% more bytes (5.0% vs 4.4% of the JSON). A 1M-series
 * flush renders ~320 MiB of JSON, so this saves ~1.2 s of CPU per flush on the core
 * that also ingests (docs/compatibility.md, BENCHMARKS.md "Flush under load").
 */
const DEFLATE_OPTIONS = { level: 1 } as const;

/** `scheme://host[:port]/path` without the query string (which may carry an API key). */
export function redactUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

const EXCERPT_CHARS = 200;

/** A response outside 2xx. `bodyExcerpt` is the start of the response body. */
export class HttpError extends VeneurError {
  readonly status: number;
  readonly bodyExcerpt: string;
  constructor(method: string, target: string, status: number, body: string) {
    const excerpt = body.length > EXCERPT_CHARS ? `${body.slice(0, EXCERPT_CHARS)}…` : body;
    super('ERR_HTTP_STATUS', `${method} ${target}: HTTP ${status}${excerpt === '' ? '' : `: ${excerpt}`}`);
    this.name = 'HttpError';
    this.status = status;
    this.bodyExcerpt = excerpt;
  }
}

/** No usable response: connection refused/reset, DNS, or the signal aborted (`aborted`). */
export class HttpTransportError extends VeneurError {
  readonly aborted: boolean;
  constructor(method: string, target: string, aborted: boolean, cause: unknown) {
    const why = aborted ? 'aborted (flush deadline)' : describeCause(cause);
    super(aborted ? 'ERR_HTTP_ABORTED' : 'ERR_HTTP_TRANSPORT', `${method} ${target}: ${why}`, { cause });
    this.name = 'HttpTransportError';
    this.aborted = aborted;
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' && !cause.message.includes(code)
      ? `${code}: ${cause.message}`
      : cause.message;
  }
  return String(cause);
}

/** Transient failures worth another attempt: network errors, 429 and 5xx. */
export function isRetryableHttpError(err: unknown): boolean {
  if (err instanceof HttpError) return err.status === 429 || err.status >= 500;
  if (err instanceof HttpTransportError) return !err.aborted;
  return false;
}

export interface HttpClientOptions {
  readonly telemetry: Telemetry;
  readonly logger?: Logger;
  /** Attempts per request including the first (default 3). */
  readonly attempts?: number;
  /** First back-off (default 100 ms), doubling, capped by maxDelayMs (default 2 s). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Idle keep-alive socket lifetime (default 30 s). */
  readonly keepAliveTimeoutMs?: number;
  /** Max sockets per origin (default 16; Datadog bodies are posted in parallel). */
  readonly connectionsPerOrigin?: number;
  readonly userAgent?: string;
  /** Jitter source, for deterministic tests. */
  readonly random?: () => number;
}

export interface HttpRequest {
  readonly method: string;
  readonly url: string | URL;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string;
  readonly signal?: AbortSignal;
  /** Telemetry action name (`flush`, `flush_checks`, ...); no telemetry when absent. */
  readonly action?: string;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

interface JsonPostBase {
  readonly url: string | URL;
  readonly action: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** JSON rendered (and compressed) when the post starts. */
export interface RenderedJsonPost extends JsonPostBase {
  /** Produces the JSON (text or UTF-8 bytes); timed as `<action>.duration_ns{part:json}` with compression. */
  readonly render: () => string | Uint8Array;
  /** zlib-compress and send `Content-Encoding: deflate`. */
  readonly compress: boolean;
}

/**
 * JSON already rendered and being compressed (deflateZlib) since before the post:
 * sent with `Content-Encoding: deflate`; `part:json` times the wait for it.
 */
export interface DeflatedJsonPost extends JsonPostBase {
  readonly deflated: Promise<Uint8Array>;
}

export type JsonPost = RenderedJsonPost | DeflatedJsonPost;

function elapsedNs(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

export class HttpClient {
  readonly #agent: Agent;
  readonly #telemetry: Telemetry;
  readonly #logger: Logger | undefined;
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #userAgent: string;
  readonly #random: () => number;
  #closing: Promise<void> | null = null;

  constructor(opts: HttpClientOptions) {
    const keepAlive = opts.keepAliveTimeoutMs ?? 30_000;
    // An Agent keeps one Pool per origin; keep-alive sockets are reused across flushes.
    this.#agent = new Agent({
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: Math.max(keepAlive, 60_000),
      connections: opts.connectionsPerOrigin ?? 16,
    });
    this.#telemetry = opts.telemetry;
    this.#logger = opts.logger;
    this.#attempts = opts.attempts ?? 3;
    this.#baseDelayMs = opts.baseDelayMs ?? 100;
    this.#maxDelayMs = opts.maxDelayMs ?? 2_000;
    this.#userAgent = opts.userAgent ?? 'veneur-ts';
    this.#random = opts.random ?? Math.random;
  }

  /**
   * Send one request, retrying transient failures. Resolves on 2xx; otherwise rejects
   * with HttpError (last status) or HttpTransportError.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const url = typeof req.url === 'string' ? new URL(req.url) : req.url;
    const target = redactUrl(url);
    const res = await withRetry((attempt) => this.#attempt(req, url, target, attempt), {
      attempts: this.#attempts,
      baseDelayMs: this.#baseDelayMs,
      maxDelayMs: this.#maxDelayMs,
      signal: req.signal,
      isRetryable: isRetryableHttpError,
      random: this.#random,
      onRetry: (err, attempt, delayMs) =>
        this.#logger?.debug(
          { action: req.action, attempt, delayMs: Math.round(delayMs), err: (err as Error).message },
          'retrying HTTP request',
        ),
    });
    return res;
  }

  async #attempt(req: HttpRequest, url: URL, target: string, _attempt: number): Promise<HttpResponse> {
    const action = req.action;
    const start = process.hrtime.bigint();
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
    let status: number;
    let text: string;
    try {
      const res = await this.#agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: req.method as 'POST',
        headers,
        body: req.body,
        signal: req.signal,
      });
      status = res.statusCode;
      try {
        text = await res.body.text();
      } catch (err) {
        if (action)
          this.#telemetry.count(`${action}.error_total`, 1, [
            `cause:${req.signal?.aborted ? 'timeout' : 'readresponse'}`,
          ]);
        throw new HttpTransportError(req.method, target, req.signal?.aborted ?? false, err);
      }
    } catch (err) {
      if (err instanceof HttpTransportError) throw err;
      const aborted = req.signal?.aborted ?? false;
      if (action) this.#telemetry.count(`${action}.error_total`, 1, [`cause:${aborted ? 'timeout' : 'io'}`]);
      throw new HttpTransportError(req.method, target, aborted, err);
    }
    if (status < 200 || status >= 300) {
      if (action) this.#telemetry.count(`${action}.error_total`, 1, [`cause:${status}`]);
      throw new HttpError(req.method, target, status, text);
    }
    if (action) {
      // Go adds 0 so that the error counter is not sparse.
      this.#telemetry.count(`${action}.error_total`, 0);
      this.#telemetry.timing(`${action}.duration_ns`, elapsedNs(start), ['part:post']);
    }
    return { status, body: text };
  }

  /**
   * Render JSON, optionally zlib-compress it, and send it with
   * `Content-Type: application/json` (+ `Content-Encoding: deflate`), like Go's PostHelper.
   */
  async postJson(post: JsonPost): Promise<HttpResponse> {
    const action = post.action;
    const start = process.hrtime.bigint();
    let body: Uint8Array | string;
    let compressed: boolean;
    if ('deflated' in post) {
      compressed = true;
      try {
        body = await post.deflated;
      } catch (err) {
        this.#telemetry.count(`${action}.error_total`, 1, ['cause:compress']);
        throw err;
      }
    } else {
      compressed = post.compress;
      let json: string | Uint8Array;
      try {
        json = post.render();
      } catch (err) {
        this.#telemetry.count(`${action}.error_total`, 1, ['cause:json']);
        throw err;
      }
      body = json;
      if (compressed) {
        try {
          body = await deflateZlib(json);
        } catch (err) {
          this.#telemetry.count(`${action}.error_total`, 1, ['cause:compress']);
          throw err;
        }
      }
    }
    this.#telemetry.timing(`${action}.duration_ns`, elapsedNs(start), ['part:json']);
    this.#telemetry.timing(
      `${action}.content_length_bytes`,
      typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
    );
    const headers: Record<string, string> = { 'content-type': 'application/json', ...post.headers };
    if (compressed) headers['content-encoding'] = 'deflate';
    return this.send({
      method: post.method ?? 'POST',
      url: post.url,
      headers,
      body,
      signal: post.signal,
      action,
    });
  }

  /** Close idle sockets; requests still running after `deadline` (epoch ms) are destroyed. Idempotent. */
  close(deadline = Date.now() + 1_000): Promise<void> {
    if (this.#closing) return this.#closing;
    const agent = this.#agent;
    this.#closing = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()));
      });
      const which = await Promise.race([agent.close().then(() => 'closed' as const), late]);
      clearTimeout(timer);
      if (which === 'late') await agent.destroy();
    })();
    return this.#closing;
  }
}
