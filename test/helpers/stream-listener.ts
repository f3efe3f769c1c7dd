/** Helpers for the stream listener tests: a listener that records its lines, polling. */
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import {
  createStreamListener,
  type StreamListener,
  type StreamListenerOptions,
} from '../../src/ingest/stream.js';
import type { Telemetry } from '../../src/telemetry/types.js';
import type { ListenAddress } from '../../src/util/address.js';
import { parseListenAddress } from '../../src/util/address.js';

export const silentLogger = pino({ level: 'silent' });

export function addr(text: string): ListenAddress {
  const a = parseListenAddress(text);
  if (a === null) throw new Error(`bad address ${text}`);
  return a;
}

/** A listener recording every line as latin1 text. */
export function recordingListener(
  text: string,
  telemetry: Telemetry,
  extra: Partial<StreamListenerOptions> = {},
): { listener: StreamListener; lines: string[] } {
  const lines: string[] = [];
  const listener = createStreamListener(addr(text), {
    onLine: (buf, start, end) => lines.push(buf.toString('latin1', start, end)),
    logger: silentLogger,
    telemetry,
    ...extra,
  });
  return { listener, lines };
}

/** Poll until `cond()` holds; fail with `what` after `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
