/**
 * Test doubles for the proxy: a fake global (a grpc-js `forwardrpc.Forward` server
 * that records the raw messages it receives and can be killed), a fake discoverer
 * whose list the test sets, and a silent logger.
 */
import {
  Server,
  ServerCredentials,
  type ServerReadableStream,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { type Logger, pino } from 'pino';
import type { Discoverer } from './discovery/types.js';
import { rawForwardService, splitMetricList } from './server.js';

type Empty = Record<string, never>;

export const silentLogger: Logger = pino({ level: 'silent' });

export class FakeGlobal {
  /** Every message received, in order, across all calls. */
  readonly received: Buffer[] = [];
  /** Calls opened / ended by the client (half-close seen) / failed. */
  streams = 0;
  ended = 0;
  errors = 0;
  #server: Server | null = null;
  port = 0;

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Listen on 127.0.0.1 (`port` 0 = any free port). */
  async start(port = 0): Promise<this> {
    const server = new Server();
    server.addService(rawForwardService, {
      SendMetricsV2: (call: ServerReadableStream<Buffer, Empty>, cb: sendUnaryData<Empty>) => {
        this.streams++;
        call.on('data', (b: Buffer) => this.received.push(b));
        call.on('end', () => {
          this.ended++;
          cb(null, {});
        });
        call.on('error', () => {
          this.errors++;
        });
      },
      SendMetrics: (call: ServerUnaryCall<Buffer, Empty>, cb: sendUnaryData<Empty>) => {
        for (const m of splitMetricList(call.request) ?? []) this.received.push(Buffer.from(m));
        cb(null, {});
      },
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.#server = server;
    return this;
  }

  /** Die: every connection and call is cut at once. */
  kill(): void {
    this.#server?.forceShutdown();
    this.#server = null;
  }

  /** Graceful stop (waits for calls to end). */
  stop(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.tryShutdown(() => resolve()));
  }
}

/** A discoverer returning whatever `list` holds, or throwing while `fail` is set. */
export class FakeDiscoverer implements Discoverer {
  readonly kind = 'fake';
  list: string[];
  fail: Error | null = null;
  calls = 0;
  constructor(list: string[] = []) {
    this.list = list;
  }
  async discover(): Promise<string[]> {
    this.calls++;
    if (this.fail) throw this.fail;
    return [...this.list];
  }
  async close(): Promise<void> {}
}

/** Poll `cond` every 10 ms until true or `timeoutMs` (then throw with `what`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
