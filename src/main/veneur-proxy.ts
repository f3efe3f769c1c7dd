#!/usr/bin/env node
import { type Logger, pino } from 'pino';
import { buildProxy } from '../proxy/build.js';
import { loadProxyConfig, type ProxyConfig } from '../proxy/config.js';
import { parseCliFlags, usage } from '../util/flags.js';
import { buildInfo } from './build-info.js';
/**
 * `veneur-proxy` (reference §4.1, §9.3): flags `-f <config>` (required), `-strict`
 * (unknown config keys are errors), `-print-secrets` (show secrets in /config/*),
 * `-h`. Loads the config (§6.4, `VENEUR_PROXY_*` env overlay), starts discovery and
 * the destination streams, the gRPC ingest server(s) and the HTTP server, and on
 * SIGTERM / SIGINT / SIGHUP / SIGUSR2 shuts down gracefully: servers stop taking
 * calls, queues are written out and streams ended within `shutdown_timeout`.
 * A second signal during shutdown exits at once.
 *
 * Exit codes: 0 after a clean shutdown, 1 for a config or start-up error, 2 for bad flags.
 */
import { runUntilStopped } from './run.js';

const FLAGS = {
  f: { type: 'string', default: '', usage: 'The config file to read for settings.' },
  strict: { type: 'bool', default: false, usage: 'Fail on unknown config keys.' },
  'print-secrets': { type: 'bool', default: false, usage: 'Disables redacting config secrets' },
} as const;

function createLogger(debug: boolean): Logger {
  const level = process.env.VENEUR_LOG_LEVEL ?? (debug ? 'debug' : 'info');
  return pino({ level, base: { service: 'veneur-proxy' } }, pino.destination({ fd: 2, sync: true }));
}

async function main(argv: string[]): Promise<number> {
  const flags = parseCliFlags('veneur-proxy', FLAGS, argv);
  if (typeof flags === 'number') return flags;
  const file = flags.values.f;
  if (file === '') {
    process.stderr.write(`veneur-proxy: -f <config file> is required\n${usage('veneur-proxy', FLAGS)}`);
    return 2;
  }
  const boot = createLogger(false);
  let config: ProxyConfig;
  try {
    config = loadProxyConfig({
      file,
      env: process.env,
      strict: flags.values.strict,
      onWarning: (msg) => boot.warn(msg),
    });
  } catch (err) {
    process.stderr.write(`veneur-proxy: invalid config ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  const logger = createLogger(config.debug);
  const info = buildInfo();
  let app: ReturnType<typeof buildProxy>;
  try {
    app = buildProxy(config, {
      logger,
      env: process.env,
      version: info.version,
      buildDate: info.buildDate,
      printSecrets: flags.values['print-secrets'],
    });
  } catch (err) {
    process.stderr.write(`veneur-proxy: invalid config ${file}: ${(err as Error).message}\n`);
    return 1;
  }

  const code = await runUntilStopped(app, {
    logger,
    shutdownMs: config.shutdownTimeoutMs,
    started: () =>
      logger.info(
        { version: info.version, destinations: app.destinations.addresses() },
        'veneur-proxy running',
      ),
    stopping: (reason) => logger.info({ reason, timeout_ms: config.shutdownTimeoutMs }, 'shutting down'),
  });
  if (code === 0) logger.info('veneur-proxy stopped');
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err) => {
    process.stderr.write(`veneur-proxy: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
