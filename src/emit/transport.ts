/**
 * Sending DogStatsD lines the way veneur-emit does.
 *
 * UDP: like datadog-go's buffered client, lines are packed into as few datagrams as
 * possible, joined by `\n` with no trailing newline, each at most 1432 bytes
 * (datadog-go's default UDP payload size); a single longer line goes alone.
 * TCP and unix stream sockets: every line is `\n`-terminated (Veneur's TCP
 * listener reads newline-delimited lines), then the connection is closed.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { Destination, NetDestination } from './destination.js';

export const UDP_PAYLOAD_BYTES = 1432;
const MAX_UDP_DATAGRAM = 65_507;

/** Group lines into datagram payloads of at most `maxBytes` (a longer line is sent alone). */
export function packDatagrams(lines: readonly string[], maxBytes = UDP_PAYLOAD_BYTES): Buffer[] {
  const out: Buffer[] = [];
  let cur: string[] = [];
  let size = 0;
  for (const line of lines) {
    const n = Buffer.byteLength(line);
    if (cur.length > 0 && size + 1 + n > maxBytes) {
      out.push(Buffer.from(cur.join('\n')));
      cur = [];
      size = 0;
    }
    size += (cur.length > 0 ? 1 : 0) + n;
    cur.push(line);
  }
  if (cur.length > 0) out.push(Buffer.from(cur.join('\n')));
  return out;
}

/** The exact bytes written to a stream socket. */
export function streamPayload(lines: readonly string[]): Buffer {
  return Buffer.from(lines.map((l) => `${l}\n`).join(''));
}

export interface SendOptions {
  /** Give up (and fail) after this long; default 10 s. */
  readonly timeoutMs?: number;
  /** Called with a description of each write, for -debug. */
  readonly debug?: (message: string) => void;
}

export async function sendLines(
  dest: Destination,
  lines: readonly string[],
  opts: SendOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (dest.transport === 'udp') return sendUdp(dest, lines, opts.debug);

  const payload = streamPayload(lines);
  opts.debug?.(`writing ${payload.length} bytes to ${dest.text}: ${JSON.stringify(payload.toString())}`);
  const socket =
    dest.transport === 'unix'
      ? net.createConnection({ path: dest.path })
      : net.createConnection({
          host: dest.host === '' ? 'localhost' : dest.host,
          port: dest.port,
          ...(dest.family !== 0 ? { family: dest.family } : {}),
        });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve();
    });
    socket.once('connect', () => {
      socket.end(payload);
    });
    // the peer never answers; drain anything it sends so 'close' can fire
    socket.resume();
  });
}

async function sendUdp(
  dest: NetDestination,
  lines: readonly string[],
  debug: ((message: string) => void) | undefined,
): Promise<void> {
  let address: string;
  let family: 4 | 6;
  if (dest.host === '') {
    family = dest.family === 6 ? 6 : 4;
    address = family === 6 ? '::1' : '127.0.0.1';
  } else {
    const found = await lookup(dest.host, { family: dest.family });
    address = found.address;
    family = found.family === 6 ? 6 : 4;
  }
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, resolve);
    });
    for (const datagram of packDatagrams(lines)) {
      if (datagram.length > MAX_UDP_DATAGRAM)
        throw new Error(`packet of ${datagram.length} bytes is too large for a UDP datagram`);
      debug?.(
        `sending a ${datagram.length}-byte datagram to udp ${address}:${dest.port}: ${JSON.stringify(datagram.toString())}`,
      );
      await new Promise<void>((resolve, reject) =>
        socket.send(datagram, dest.port, address, (err) => (err ? reject(err) : resolve())),
      );
    }
  } finally {
    socket.close();
  }
}
