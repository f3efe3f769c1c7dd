import { type Logger, pino } from 'pino';

/**
 * The process logger: JSON lines on stderr (stdout is left to the debug sink's
 * table), level `debug` when the config says so.
 */
export function createLogger(opts: { debug?: boolean; level?: string } = {}): Logger {
  const level = opts.level ?? process.env.VENEUR_LOG_LEVEL ?? (opts.debug ? 'debug' : 'info');
  return pino({ level, base: { service: 'veneur' } }, pino.destination({ fd: 2, sync: true }));
}
