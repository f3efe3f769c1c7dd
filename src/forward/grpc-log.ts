/**
 * @grpc/grpc-js logs through its own logger, which writes plain `E <text>` lines to
 * stderr with console.error: lines that break a JSON log stream (pino) and that no
 * log shipper can parse. Servers built on grpc-js route it into their pino logger
 * instead: errors as `warn` (grpc-js reports what it recovered from: a bad peer, a
 * dropped connection), the rest at `info`/`debug`. grpc-js's own verbosity switches
 * (GRPC_VERBOSITY, GRPC_TRACE) still decide what it logs.
 */
import { format } from 'node:util';
import { setLogger } from '@grpc/grpc-js';
import type { Logger } from 'pino';

/** Send grpc-js's log lines to `logger` (process-wide; the last caller wins). */
export function routeGrpcLogs(logger: Logger): void {
  const bound = logger.child({ component: 'grpc-js' });
  setLogger({
    error: (message?: unknown, ...rest: unknown[]) => bound.warn(format(message, ...rest)),
    info: (message?: unknown, ...rest: unknown[]) => bound.info(format(message, ...rest)),
    debug: (message?: unknown, ...rest: unknown[]) => bound.debug(format(message, ...rest)),
  });
}
