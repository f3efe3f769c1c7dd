/**
 * veneur-proxy's HTTP server on `http_address` (reference §4.1):
 *   GET /healthcheck   204 with at least one destination and not shutting down, else 503
 *                      (Go answers 404 when empty; 503 is what load balancers expect)
 *   GET /version, /builddate
 *   GET /config/json, /config/yaml   only with `http.enable_config` (secrets REDACTED unless -print-secrets)
 * GET routes answer HEAD too; other methods on a known path get 405, unknown paths 404.
 * `/debug/pprof/*` (`http.enable_profiling`) is not served.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { parseHttpAddress } from '../app/http.js';
import type { Component } from '../model/component.js';
import { closeHttpServer, sendText } from '../util/http-server.js';
import { type ProxyConfig, proxyConfigToJson } from './config.js';

export interface ProxyHttpOptions {
  readonly address: string;
  readonly config: ProxyConfig;
  readonly healthy: () => boolean;
  readonly version: string;
  readonly buildDate: string;
  readonly printSecrets: boolean;
  readonly logger: Logger;
}

const TEXT = 'text/plain; charset=utf-8';

export class ProxyHttpServer implements Component {
  readonly kind = 'http';
  readonly name = 'http';
  readonly #opts: ProxyHttpOptions;
  #server: Server | undefined;
  #stopped: Promise<void> | undefined;

  constructor(opts: ProxyHttpOptions) {
    this.#opts = opts;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const o = this.#opts;
    let body: (() => [number, string, string]) | undefined;
    switch (path) {
      case '/healthcheck':
        body = () => (o.healthy() ? [204, TEXT, ''] : [503, TEXT, 'no destinations\n']);
        break;
      case '/version':
        body = () => [200, TEXT, o.version];
        break;
      case '/builddate':
        body = () => [200, TEXT, o.buildDate];
        break;
      case '/config/json':
        if (o.config.http.enableConfig)
          body = () => [200, 'application/json', proxyConfigToJson(o.config, o.printSecrets)];
        break;
      case '/config/yaml':
        if (o.config.http.enableConfig)
          body = () => [
            200,
            'application/x-yaml',
            YAML.stringify(JSON.parse(proxyConfigToJson(o.config, o.printSecrets)) as unknown),
          ];
        break;
    }
    if (body === undefined) {
      sendText(res, 404, TEXT, '404 page not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendText(res, 405, TEXT, 'Method Not Allowed\n');
      return;
    }
    const [status, type, text] = body();
    sendText(res, status, type, text);
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const target = parseHttpAddress(this.#opts.address);
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        resolve();
      };
      if ('fd' in target) server.listen({ fd: target.fd }, ready);
      else server.listen({ host: target.host, port: target.port }, ready);
    });
    server.on('error', (err) => this.#opts.logger.error({ err }, 'HTTP server error'));
    this.#server = server;
    this.#opts.logger.info({ port: this.port }, 'HTTP server listening');
  }

  get port(): number {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? (a as AddressInfo).port : 0;
  }

  stop(deadline: number): Promise<void> {
    const server = this.#server;
    if (!server) return Promise.resolve();
    if (this.#stopped) return this.#stopped;
    this.#stopped = closeHttpServer(server, deadline);
    return this.#stopped;
  }
}
