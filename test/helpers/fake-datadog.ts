/**
 * A STRICT fake Datadog intake for tests (real socket on 127.0.0.1, port 0).
 *
 * It accepts only what Datadog documents and Go Veneur sends (reference §5.1):
 *   POST /api/v1/series     Content-Type: application/json, Content-Encoding: deflate (zlib), {"series":[...]}
 *   POST /api/v1/check_run  Content-Type: application/json, uncompressed JSON array of checks
 *   POST /intake            Content-Type: application/json, Content-Encoding: deflate (zlib), {"events":{"api":[...]}}
 * each with `?api_key=<expected key>`. Anything else is recorded in `violations` and
 * answered 400 (a wrong/missing key: 403), so a test that ends with
 * `assert.deepEqual(fake.violations, [])` fails loudly on any deviation.
 */
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';

export interface DdSeries {
  metric: string;
  points: [number, number][];
  tags?: string[];
  type: string;
  host?: string;
  device_name?: string;
  interval?: number;
}

export interface DdCheck {
  check: string;
  status: number;
  host_name: string;
  timestamp?: number;
  tags?: string[];
  message?: string;
}

export interface DdEvent {
  msg_title: string;
  msg_text: string;
  timestamp?: number;
  host?: string;
  aggregation_key?: string;
  priority?: string;
  source_type_name?: string;
  alert_type?: string;
  tags?: string[];
}

export interface RecordedRequest {
  readonly method: string;
  /** Path without query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Bytes as received. */
  readonly raw: Buffer;
  /** Body text after decompression ('' if it could not be decoded). */
  text: string;
  /** Status we answered. */
  status: number;
}

export interface FakeDatadogOptions {
  readonly apiKey?: string;
}

type Endpoint = 'series' | 'check_run' | 'intake';

const PATHS: Record<string, Endpoint> = {
  '/api/v1/series': 'series',
  '/api/v1/check_run': 'check_run',
  '/intake': 'intake',
};

const SERIES_KEYS = new Set(['metric', 'points', 'tags', 'type', 'host', 'device_name', 'interval']);
const SERIES_TYPES = new Set(['gauge', 'rate', 'count']);
const CHECK_KEYS = new Set(['check', 'status', 'host_name', 'timestamp', 'tags', 'message']);
const EVENT_KEYS = new Set([
  'msg_title',
  'msg_text',
  'timestamp',
  'host',
  'aggregation_key',
  'priority',
  'source_type_name',
  'alert_type',
  'tags',
]);
const PRIORITIES = new Set(['normal', 'low']);
const ALERT_TYPES = new Set(['error', 'warning', 'info', 'success']);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function checkKeys(
  obj: Record<string, unknown>,
  allowed: Set<string>,
  where: string,
  problems: string[],
): void {
  for (const k of Object.keys(obj))
    if (!allowed.has(k)) problems.push(`${where}: unexpected key ${JSON.stringify(k)}`);
}

function optString(obj: Record<string, unknown>, key: string, where: string, problems: string[]): void {
  if (key in obj && (typeof obj[key] !== 'string' || obj[key] === '')) {
    problems.push(`${where}.${key}: expected a non-empty string when present (Go omits empty ones)`);
  }
}

function optTags(obj: Record<string, unknown>, where: string, problems: string[]): void {
  if (!('tags' in obj)) return;
  if (!isStringArray(obj.tags) || obj.tags.length === 0) {
    problems.push(`${where}.tags: expected a non-empty array of strings when present (Go omits empty ones)`);
  }
}

function validateSeries(body: unknown, problems: string[]): DdSeries[] {
  if (!isObject(body) || !Array.isArray(body.series)) {
    problems.push('series: body must be {"series":[...]}');
    return [];
  }
  checkKeys(body, new Set(['series']), 'series body', problems);
  body.series.forEach((s, i) => {
    const where = `series[${i}]`;
    if (!isObject(s)) {
      problems.push(`${where}: expected an object`);
      return;
    }
    checkKeys(s, SERIES_KEYS, where, problems);
    if (typeof s.metric !== 'string' || s.metric === '')
      problems.push(`${where}.metric: required non-empty string`);
    if (typeof s.type !== 'string' || !SERIES_TYPES.has(s.type))
      problems.push(`${where}.type: expected gauge|rate|count`);
    const pts = s.points;
    if (
      !Array.isArray(pts) ||
      pts.length === 0 ||
      !pts.every(
        (p) =>
          Array.isArray(p) &&
          p.length === 2 &&
          typeof p[0] === 'number' &&
          typeof p[1] === 'number' &&
          Number.isFinite(p[0]) &&
          Number.isFinite(p[1]),
      )
    ) {
      problems.push(`${where}.points: expected [[timestamp, value], ...] of finite numbers`);
    }
    optTags(s, where, problems);
    optString(s, 'host', where, problems);
    optString(s, 'device_name', where, problems);
    if ('interval' in s && !(Number.isInteger(s.interval) && (s.interval as number) > 0)) {
      problems.push(`${where}.interval: expected a positive integer when present`);
    }
  });
  return problems.length === 0 ? (body.series as DdSeries[]) : [];
}

function validateChecks(body: unknown, problems: string[]): DdCheck[] {
  if (!Array.isArray(body)) {
    problems.push('check_run: body must be a JSON array of checks');
    return [];
  }
  body.forEach((c, i) => {
    const where = `check_run[${i}]`;
    if (!isObject(c)) {
      problems.push(`${where}: expected an object`);
      return;
    }
    checkKeys(c, CHECK_KEYS, where, problems);
    if (typeof c.check !== 'string' || c.check === '')
      problems.push(`${where}.check: required non-empty string`);
    if (!(Number.isInteger(c.status) && (c.status as number) >= 0 && (c.status as number) <= 3)) {
      problems.push(`${where}.status: expected 0..3`);
    }
    if (typeof c.host_name !== 'string') problems.push(`${where}.host_name: required string`);
    if ('timestamp' in c && !(Number.isInteger(c.timestamp) && (c.timestamp as number) > 0)) {
      problems.push(`${where}.timestamp: expected a positive integer when present`);
    }
    optTags(c, where, problems);
    optString(c, 'message', where, problems);
  });
  return problems.length === 0 ? (body as DdCheck[]) : [];
}

function validateEvents(body: unknown, problems: string[]): DdEvent[] {
  if (!isObject(body) || !isObject(body.events) || !Array.isArray(body.events.api)) {
    problems.push('intake: body must be {"events":{"api":[...]}}');
    return [];
  }
  checkKeys(body, new Set(['events']), 'intake body', problems);
  checkKeys(body.events, new Set(['api']), 'intake events', problems);
  body.events.api.forEach((e, i) => {
    const where = `events.api[${i}]`;
    if (!isObject(e)) {
      problems.push(`${where}: expected an object`);
      return;
    }
    checkKeys(e, EVENT_KEYS, where, problems);
    if (typeof e.msg_title !== 'string') problems.push(`${where}.msg_title: required string`);
    if (typeof e.msg_text !== 'string') problems.push(`${where}.msg_text: required string`);
    if ('timestamp' in e && !(Number.isInteger(e.timestamp) && (e.timestamp as number) > 0)) {
      problems.push(`${where}.timestamp: expected a positive integer when present`);
    }
    for (const k of ['host', 'aggregation_key', 'source_type_name']) optString(e, k, where, problems);
    if ('priority' in e && !PRIORITIES.has(e.priority as string))
      problems.push(`${where}.priority: expected normal|low`);
    if ('alert_type' in e && !ALERT_TYPES.has(e.alert_type as string)) {
      problems.push(`${where}.alert_type: expected error|warning|info|success`);
    }
    optTags(e, where, problems);
  });
  return problems.length === 0 ? (body.events.api as DdEvent[]) : [];
}

interface Injected {
  remaining: number;
  status?: number;
  body?: string;
  delayMs?: number;
}

export class FakeDatadog {
  readonly apiKey: string;
  readonly series: DdSeries[] = [];
  readonly checks: DdCheck[] = [];
  readonly events: DdEvent[] = [];
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  /** Base URL to configure as `api_hostname`. */
  url = '';
  readonly #server: Server;
  readonly #injections: Injected[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #pending = new Set<ServerResponse>();
  /** Injected delays still sleeping; close() cuts them short. */
  readonly #sleeping = new Set<() => void>();

  private constructor(opts: FakeDatadogOptions) {
    this.apiKey = opts.apiKey ?? 'test-api-key';
    this.#server = createServer((req, res) => {
      this.#pending.add(res);
      res.on('close', () => this.#pending.delete(res));
      this.#handle(req, res).catch((err: unknown) => {
        this.violations.push(`fake-datadog internal error: ${String(err)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  }

  static async start(opts: FakeDatadogOptions = {}): Promise<FakeDatadog> {
    const fake = new FakeDatadog(opts);
    fake.#server.listen(0, '127.0.0.1');
    await once(fake.#server, 'listening');
    const addr = fake.#server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${addr.port}`;
    return fake;
  }

  /** Answer the next `n` requests with `status` (and optional body) instead of 202, after validating them. */
  failNext(n: number, status: number, body = '{"errors":["injected failure"]}'): void {
    this.#injections.push({ remaining: n, status, body });
  }

  /** Hold the next `n` requests for `ms` before answering (use a large value to simulate a hang). */
  delayNext(n: number, ms: number): void {
    this.#injections.push({ remaining: n, delayMs: ms });
  }

  /** Resolves once `predicate(this)` holds (checked after every request); rejects after `timeoutMs`. */
  waitFor(predicate: (fake: FakeDatadog) => boolean, timeoutMs = 5_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate(this)) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(
            `fake-datadog: condition not met within ${timeoutMs} ms (requests=${this.requests.length}, violations=${JSON.stringify(this.violations)})`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Requests to one endpoint path (e.g. '/api/v1/series'). */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    for (const wake of [...this.#sleeping]) wake();
    for (const res of this.#pending) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  #takeInjection(kind: 'status' | 'delay'): Injected | undefined {
    const idx = this.#injections.findIndex((i) =>
      kind === 'status' ? i.status !== undefined : i.delayMs !== undefined,
    );
    if (idx < 0) return undefined;
    const inj = this.#injections[idx]!;
    inj.remaining--;
    if (inj.remaining <= 0) this.#injections.splice(idx, 1);
    return inj;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://fake');
    const rec: RecordedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      raw,
      text: '',
      status: 0,
    };
    this.requests.push(rec);

    const delay = this.#takeInjection('delay');
    if (delay?.delayMs) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#sleeping.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, delay.delayMs);
        this.#sleeping.add(wake);
      });
    }

    const answer = (status: number, body: string): void => {
      rec.status = status;
      if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      this.#notify();
    };
    const violation = (status: number, msg: string): void => {
      this.violations.push(`${rec.method} ${rec.path}: ${msg}`);
      answer(status, JSON.stringify({ errors: [msg] }));
    };

    const endpoint = PATHS[url.pathname];
    if (!endpoint) return violation(404, `unknown endpoint ${url.pathname}`);
    if (req.method !== 'POST') return violation(405, `method ${req.method} not allowed (POST only)`);
    const keys = url.searchParams.getAll('api_key');
    if (keys.length !== 1 || keys[0] !== this.apiKey) {
      return violation(403, `api_key query parameter ${keys.length === 0 ? 'missing' : 'wrong'}`);
    }
    for (const k of url.searchParams.keys()) {
      if (k !== 'api_key') return violation(400, `unexpected query parameter ${k}`);
    }
    const ctype = req.headers['content-type'] ?? '';
    if (!/^application\/json(\s*;.*)?$/.test(ctype))
      return violation(400, `Content-Type ${JSON.stringify(ctype)}, expected application/json`);

    const encoding = req.headers['content-encoding'];
    let text: string;
    if (endpoint === 'check_run') {
      // Datadog's check_run endpoint does not take compressed bodies (Go sends it plain).
      if (encoding !== undefined && encoding !== 'identity') {
        return violation(400, `check_run must be uncompressed, got Content-Encoding ${encoding}`);
      }
      text = raw.toString('utf8');
    } else {
      if (encoding !== 'deflate')
        return violation(400, `Content-Encoding ${JSON.stringify(encoding)}, expected deflate`);
      try {
        // inflateSync demands the zlib wrapper (RFC 1950): raw deflate fails here, as at Datadog.
        text = inflateSync(raw).toString('utf8');
      } catch (err) {
        return violation(400, `body is not a zlib stream: ${(err as Error).message}`);
      }
    }
    rec.text = text;
    const clen = req.headers['content-length'];
    if (clen !== undefined && Number(clen) !== raw.length) {
      return violation(400, `Content-Length ${clen} but ${raw.length} bytes received`);
    }

    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return violation(400, `body is not JSON: ${(err as Error).message}`);
    }
    const problems: string[] = [];
    const series = endpoint === 'series' ? validateSeries(parsed, problems) : [];
    const checks = endpoint === 'check_run' ? validateChecks(parsed, problems) : [];
    const events = endpoint === 'intake' ? validateEvents(parsed, problems) : [];
    if (problems.length > 0) return violation(400, problems.join('; '));

    const injected = this.#takeInjection('status');
    if (injected?.status !== undefined) return answer(injected.status, injected.body ?? '');

    this.series.push(...series);
    this.checks.push(...checks);
    this.events.push(...events);
    answer(202, '{"status":"ok"}');
  }
}

/** Start a fake Datadog intake on 127.0.0.1 with an ephemeral port. */
export function startFakeDatadog(opts: FakeDatadogOptions = {}): Promise<FakeDatadog> {
  return FakeDatadog.start(opts);
}
