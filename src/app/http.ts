/**
 * The veneur HTTP server (reference §7) on node:http:
 *
 *   GET  /healthcheck, /healthcheck/tracing  -> 200 "ok\n"
 *   GET  /version, /builddate                -> the build strings
 *   GET  /config/json, /config/yaml          -> only with `http: {config: true}` (as Go)
 *   POST /quitquitquit                       -> only with `http_quit: true`
 *
 * GET routes also answer HEAD (as goji's pat.Get does). A known path with another
 * method gets 405 with an Allow header; anything else 404. Go's /debug/pprof/* and
 * the library's custom handlers (/echo) are not served.
 *
 * `http_address` is `host:port` (`:port` = all interfaces, port 0 = any free port),
 * or goji's `fd@N` (listen on an inherited descriptor) / `einhorn@N` (the descriptor
 * einhorn passes in EINHORN_FD_N).
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { configToJson, configToYaml } from '../config/render.js';
import type { Config } from '../config/types.js';
import type { Component } from '../model/component.js';
import { parseHostPort } from '../util/address.js';
import { ConfigError } from '../util/errors.js';
import { closeHttpServer, sendText } from '../util/http-server.js';

export interface HttpServerOptions {
  readonly config: Config;
  readonly version: string;
  readonly buildDate: string;
  /** -print-secrets: /config/* shows secrets in clear. */
  readonly printSecrets: boolean;
  readonly logger: Logger;
  /** Called once, after the /quitquitquit response has been sent. */
  readonly onQuit: () => void;
  /** For `einhorn@N`; defaults to process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Route {
  readonly method: 'GET' | 'POST';
  readonly handler: Handler;
}

const TEXT = 'text/plain; charset=utf-8';

/** Parsed `http_address`. */
export type ListenTarget =
  | { readonly host: string | undefined; readonly port: number }
  | { readonly fd: number };

export function parseHttpAddress(
  address: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ListenTarget {
  const special = /^(einhorn|fd)@([0-9]+)$/.exec(address);
  if (special) {
    if (special[1] === 'fd') return { fd: Number(special[2]) };
    const fdText = env[`EINHORN_FD_${special[2]}`];
    if (fdText === undefined || !/^[0-9]+$/.test(fdText)) {
      throw new ConfigError(
        'http_address',
        `${address}: EINHORN_FD_${special[2]} is not set (not run by einhorn?)`,
      );
    }
    return { fd: Number(fdText) };
  }
  const hp = parseHostPort(address);
  if (hp === null)
    throw new ConfigError('http_address', `expected host:port, got ${JSON.stringify(address)}`);
  return { host: hp.host === '' ? undefined : hp.host, port: hp.port };
}

export class HttpServer implements Component {
  readonly kind = 'http';
  readonly name = 'http';
  readonly #opts: HttpServerOptions;
  readonly #routes: Map<string, Route>;
  #server: Server | undefined = undefined;
  #stopping: Promise<void> | undefined = undefined;
  #quitCalled = false;

  constructor(opts: HttpServerOptions) {
    this.#opts = opts;
    this.#routes = this.#buildRoutes();
  }

  #buildRoutes(): Map<string, Route> {
    const { config, version, buildDate, printSecrets } = this.#opts;
    const text =
      (body: string): Handler =>
      (_req, res) =>
        sendText(res, 200, TEXT, body);
    const routes = new Map<string, Route>([
      ['/healthcheck', { method: 'GET', handler: text('ok\n') }],
      ['/healthcheck/tracing', { method: 'GET', handler: text('ok\n') }],
      ['/version', { method: 'GET', handler: text(version) }],
      ['/builddate', { method: 'GET', handler: text(buildDate) }],
    ]);
    if (config.http.config) {
      routes.set('/config/json', {
        method: 'GET',
        handler: (_req, res) =>
          sendText(res, 200, 'application/json', configToJson(config, { printSecrets })),
      });
      routes.set('/config/yaml', {
        method: 'GET',
        handler: (_req, res) =>
          sendText(res, 200, 'application/x-yaml', configToYaml(config, { printSecrets })),
      });
    }
    if (config.httpQuit) {
      routes.set('/quitquitquit', {
        method: 'POST',
        handler: (_req, res) => {
          this.#opts.logger.info('received /quitquitquit: beginning graceful shutdown');
          res.on('finish', () => this.#quit());
          sendText(res, 200, TEXT, 'Beginning graceful shutdown....\n');
        },
      });
    }
    return routes;
  }

  #quit(): void {
    if (this.#quitCalled) return;
    this.#quitCalled = true;
    try {
      this.#opts.onQuit();
    } catch (err) {
      this.#opts.logger.error({ err }, 'onQuit failed');
    }
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const route = this.#routes.get(path);
    if (!route) {
      sendText(res, 404, TEXT, '404 page not found\n');
      return;
    }
    const method = req.method ?? 'GET';
    const allowed = method === route.method || (route.method === 'GET' && method === 'HEAD');
    if (!allowed) {
      res.setHeader('Allow', route.method === 'GET' ? 'GET, HEAD' : route.method);
      sendText(res, 405, TEXT, 'Method Not Allowed\n');
      return;
    }
    try {
      route.handler(req, res);
    } catch (err) {
      this.#opts.logger.error({ err, path }, 'HTTP handler failed');
      if (!res.headersSent) sendText(res, 500, TEXT, 'internal error\n');
      else res.destroy();
    }
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const target = parseHttpAddress(this.#opts.config.httpAddress, this.#opts.env ?? process.env);
    const server = createServer((req, res) => this.#handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.#server = undefined;
        reject(err);
      };
      server.once('error', onError);
      const ready = () => {
        server.off('error', onError);
        resolve();
      };
      if ('fd' in target) server.listen({ fd: target.fd }, ready);
      else server.listen({ host: target.host, port: target.port }, ready);
    });
    server.on('error', (err) => this.#opts.logger.error({ err }, 'HTTP server error'));
    const a = this.address();
    this.#opts.logger.info({ address: `${a.host}:${a.port}` }, 'HTTP server listening');
  }

  /** The bound address; only after start(). */
  address(): { host: string; port: number } {
    const a = this.#server?.address();
    if (!a) throw new Error('HTTP server is not listening');
    if (typeof a === 'string') return { host: a, port: 0 };
    const info = a as AddressInfo;
    return { host: info.address, port: info.port };
  }

  /**
   * Stop accepting connections, close idle keep-alive connections now and let
   * in-flight requests finish until `deadline`, then cut what is left.
   */
  stop(deadline: number): Promise<void> {
    const server = this.#server;
    if (!server) return Promise.resolve();
    if (this.#stopping) return this.#stopping;
    this.#stopping = closeHttpServer(server, deadline);
    return this.#stopping;
  }
}
