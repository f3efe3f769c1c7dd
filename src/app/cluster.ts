/**
 * Multi-core ingest (DESIGN.md "Using more than one core"): with `num_readers` > 1
 * the primary forks that many node:cluster workers. Each aggregates what it reads.
 *
 * UDP: the primary binds the sockets with the native addon and never reads them
 * (ingest/udp.ts `bindSharedUdp`: one socket per worker in a SO_REUSEPORT group that
 * spreads datagrams at random, SO_RCVBUF set here). Every worker inherits all of
 * them through stdio (worker fds 4, 5, ..., listed in VENEUR_INGEST_UDP_FDS) and
 * reads its own socket (VENEUR_INGEST_SLOT) first and the others' when they wake
 * it, so each datagram is read by exactly one worker and a stopped or dead worker's
 * queue is still drained. A re-forked worker takes the dead one's slot and inherits
 * the same sockets. Without the addon the workers share the primary's socket
 * through node:dgram. TCP and unix stream listeners are shared by node:cluster.
 *
 * At every flush the primary asks each worker for its interval's state
 * (aggregate/state.ts: counters as sums, digests, HLLs, gauges with their write
 * time), merges it into its own aggregator and flushes once. A worker that dies is
 * replaced and counted; the primary keeps serving.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { Aggregator } from '../aggregate/aggregator.js';
import { exportStateBatch, type StateBatch } from '../aggregate/state-batch.js';
import type { Config } from '../config/types.js';
import { createStatsdListeners } from '../ingest/listeners.js';
import { bindSharedUdp, type SharedUdpGroup } from '../ingest/udp.js';
import type { Component } from '../model/component.js';
import { type DogStatsdEvent, MetricType } from '../model/metric.js';
import { InternalTelemetry } from '../telemetry/internal.js';
import type { Telemetry } from '../telemetry/types.js';
import type { ListenAddress } from '../util/address.js';

/** Worker env: `index:fd/fd/...,...` = statsd_listen_addresses index -> the inherited UDP sockets. */
const UDP_FDS_ENV = 'VENEUR_INGEST_UDP_FDS';
/** Worker env: which of each listener's sockets is the worker's own (slot % sockets). */
const SLOT_ENV = 'VENEUR_INGEST_SLOT';
/** Worker fds 0-2 are stdio and 3 the IPC channel: inherited sockets follow. */
const FIRST_INHERITED_FD = 4;

/** Parse VENEUR_INGEST_UDP_FDS ('' or unset: none) for the worker in `slot`. */
export function parseUdpFds(
  text: string | undefined,
  slot: number,
): Map<number, { own: number; steal: number[] }> {
  const out = new Map<number, { own: number; steal: number[] }>();
  if (text === undefined || text === '') return out;
  for (const part of text.split(',')) {
    const m = /^(\d+):(\d+(?:\/\d+)*)$/.exec(part);
    if (m === null) throw new Error(`${UDP_FDS_ENV}: expected index:fd/fd/... lists, got "${text}"`);
    const fds = m[2].split('/').map(Number);
    const k = slot % fds.length;
    // steal in ring order from the next slot on, so the workers do not all favour the same peer
    out.set(Number(m[1]), { own: fds[k], steal: [...fds.slice(k + 1), ...fds.slice(0, k)] });
  }
  return out;
}

type ToWorker = { type: 'collect'; id: number } | { type: 'stop' };
/**
 * A worker hands its interval over in parts of HANDOVER_PART series (`part`
 * messages, then `state` or `final` with the last part and the events): exporting
 * and serialising a million series in one message blocked the worker's event loop
 * for 1.6-1.8 s (BENCHMARKS.md, "Merge of 2 x 1M series").
 */
export const HANDOVER_PART = 10_000;

type FromWorker =
  | { type: 'ready' }
  | { type: 'part'; batch: StateBatch }
  | { type: 'state'; id: number; batch: StateBatch; events: DogStatsdEvent[] }
  | { type: 'final'; batch: StateBatch; events: DogStatsdEvent[] };

export interface IngestWorkersOptions {
  readonly count: number;
  readonly aggregator: Aggregator;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  /** How long a flush waits for a worker's state before flushing without it (it then joins the next flush). */
  readonly collectTimeoutMs: number;
  /** UDP statsd listeners (index in statsd_listen_addresses): bound here, read by every worker. */
  readonly udp?: readonly { readonly index: number; readonly address: ListenAddress }[];
  /** read_buffer_size_bytes: SO_RCVBUF of those sockets. */
  readonly recvBufferSize?: number;
}

/** Primary side: forks, collects, merges, restarts. */
export class IngestWorkers implements Component {
  readonly kind = 'ingest-workers';
  readonly name = 'ingest-workers';
  readonly #o: IngestWorkersOptions;
  readonly #workers = new Set<Worker>();
  #collectId = 0;
  #waiting = new Map<Worker, (ok: boolean) => void>();
  /** Worker batches being merged, in arrival order. */
  #importing: Promise<void> = Promise.resolve();
  #stopping = false;
  #finals = new Map<Worker, () => void>();
  #restarts = 0;
  #shared: SharedUdpGroup[] = [];
  #udpFdsEnv = '';
  /** each worker's slot: its own UDP socket of each listener; a replacement takes over the slot */
  readonly #slots = new Map<Worker, number>();

  constructor(opts: IngestWorkersOptions) {
    this.#o = opts;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** PIDs of the live workers. */
  pids(): number[] {
    return [...this.#workers].map((w) => w.process.pid ?? 0);
  }

  async start(): Promise<void> {
    try {
      await this.#bindShared();
    } catch (err) {
      this.#closeShared();
      throw err;
    }
    cluster.setupPrimary({
      serialization: 'advanced',
      // the default stdio, then the UDP sockets: worker fd FIRST_INHERITED_FD + i
      stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...this.#shared.flatMap((g) => g.fds)],
    });
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    await Promise.all(Array.from({ length: this.#o.count }, (_, slot) => this.#fork(slot)));
    this.#o.logger.info({ pids: this.pids(), workers: this.#describe() }, 'ingest workers started');
  }

  /** Cluster id, PID and slot of each live worker (for the log). */
  #describe(): { id: number; pid: number; slot: number }[] {
    return [...this.#workers].map((w) => ({
      id: w.id,
      pid: w.process.pid ?? 0,
      slot: this.#slots.get(w) ?? -1,
    }));
  }

  /** Bind every UDP listener natively (read by nobody here); the workers inherit the fds. */
  async #bindShared(): Promise<void> {
    const lists: string[] = [];
    let next = FIRST_INHERITED_FD;
    for (const { index, address } of this.#o.udp ?? []) {
      const g = await bindSharedUdp(address, this.#o.recvBufferSize ?? 0, this.#o.count, this.#o.logger);
      if (g === null) break; // no addon: every worker uses node:dgram
      this.#shared.push(g);
      lists.push(`${index}:${g.fds.map(() => next++).join('/')}`);
      this.#o.logger.info(
        {
          address: `${address.scheme}://${g.host}:${g.port}`,
          sockets: g.fds.length,
          spread: g.spread,
          recvBuffer: this.#o.recvBufferSize,
          recvBufferKernel: g.recvBufferKernel,
        },
        'UDP sockets bound for the ingest workers (read by them with recvmmsg)',
      );
    }
    this.#udpFdsEnv = lists.join(',');
  }

  #closeShared(): void {
    for (const g of this.#shared) g.close();
    this.#shared = [];
  }

  #fork(slot: number): Promise<void> {
    const worker = cluster.fork({
      VENEUR_INGEST_WORKER: '1',
      [SLOT_ENV]: String(slot),
      ...(this.#udpFdsEnv !== '' ? { [UDP_FDS_ENV]: this.#udpFdsEnv } : {}),
    });
    this.#workers.add(worker);
    this.#slots.set(worker, slot);
    worker.on('message', (msg: FromWorker) => this.#onMessage(worker, msg));
    // a send to a worker that just died fails asynchronously (EPIPE): its exit is handled in #onExit
    worker.on('error', (err) =>
      this.#o.logger.debug({ err, pid: worker.process.pid }, 'ingest worker channel error'),
    );
    return new Promise<void>((resolve, reject) => {
      const onMsg = (msg: FromWorker) => {
        if (msg.type === 'ready') {
          worker.off('message', onMsg);
          worker.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number) =>
        reject(new Error(`ingest worker exited with code ${code} while starting`));
      worker.on('message', onMsg);
      worker.once('exit', onExit);
    });
  }

  #onMessage(worker: Worker, msg: FromWorker): void {
    if (msg.type === 'ready') return;
    // late answers are merged too: they join the interval being aggregated now, nothing is lost.
    // Merged in slices (1M series took seconds in one go), one part after the other.
    const merged = this.#importing.then(() => this.#o.aggregator.importStateBatchSliced(msg.batch));
    this.#importing =
      msg.type === 'part'
        ? merged
        : merged.then(() => {
            this.#o.aggregator.importEvents(msg.events);
            if (msg.type === 'state' && msg.id === this.#collectId) {
              this.#waiting.get(worker)?.(true);
              this.#waiting.delete(worker);
            }
            if (msg.type === 'final') {
              this.#finals.get(worker)?.();
              this.#finals.delete(worker);
            }
          });
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    if (!this.#workers.delete(worker)) return;
    const slot = this.#slots.get(worker) ?? 0;
    this.#slots.delete(worker);
    this.#waiting.get(worker)?.(false);
    this.#waiting.delete(worker);
    this.#finals.get(worker)?.();
    this.#finals.delete(worker);
    if (this.#stopping) return;
    this.#restarts++;
    this.#o.telemetry.count('worker.ingest_restarts_total', 1);
    this.#o.logger.warn({ pid: worker.process.pid, code, signal }, 'ingest worker died: starting a new one');
    this.#fork(slot).then(
      () => this.#o.logger.info({ pids: this.pids(), workers: this.#describe() }, 'ingest worker restarted'),
      (err: unknown) => this.#o.logger.error({ err }, 'could not restart an ingest worker'),
    );
  }

  /** Before each flush: every worker's interval state, merged into the primary's aggregator. */
  async collect(): Promise<void> {
    const id = ++this.#collectId;
    const waits: Promise<boolean>[] = [];
    for (const w of this.#workers) {
      waits.push(
        new Promise<boolean>((resolve) => {
          this.#waiting.set(w, resolve);
          try {
            w.send({ type: 'collect', id } satisfies ToWorker);
          } catch {
            resolve(false);
          }
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#o.collectTimeoutMs);
    });
    const r = await Promise.race([Promise.all(waits), timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      const late = this.#waiting.size;
      this.#waiting.clear();
      this.#o.telemetry.count('worker.ingest_collect_late_total', late);
      this.#o.logger.warn({ late }, 'ingest workers answered late: their data joins the next flush');
    }
  }

  /** Stop the workers: they close their listeners and hand over a final state. */
  async stop(deadline: number): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const finals: Promise<void>[] = [];
    for (const w of this.#workers) {
      finals.push(
        new Promise<void>((resolve) => {
          this.#finals.set(w, resolve);
          try {
            w.send({ type: 'stop' } satisfies ToWorker);
          } catch {
            resolve();
          }
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(finals),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    for (const w of this.#workers) w.process.kill('SIGKILL');
    // the workers have closed their copies (or are gone): the sockets close here
    this.#closeShared();
  }
}

/** Worker side: listeners + aggregator; answers the primary's collect and stop requests. */
export async function runIngestWorker(config: Config, logger: Logger): Promise<void> {
  const aggregator = new Aggregator({
    extendTags: config.extendTags,
    metricMaxLength: config.metricMaxLength,
    maxSeries: config.maxSeries,
  });
  const telemetry = new InternalTelemetry(aggregator);
  const listeners = createStatsdListeners(config, aggregator, {
    logger,
    telemetry,
    inWorker: true,
    only: 'shared',
    udpFds: parseUdpFds(process.env[UDP_FDS_ENV], Number(process.env[SLOT_ENV] ?? 0)),
  });
  for (const l of listeners) await l.start();
  // signals go to the primary's process group too: the primary decides when workers stop
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'] as const) process.on(sig, () => {});
  const send = (msg: FromWorker): Promise<void> =>
    new Promise((resolve) => {
      if (!process.send) return resolve();
      process.send(msg, undefined, undefined, () => resolve());
    });
  const id = cluster.worker?.id ?? 0;
  /**
   * End the interval and send it in parts, yielding between them so the socket keeps
   * being read; `last` makes the closing message from the last part and the events.
   * Hand-overs are serialised: a collect that arrives during one waits for it.
   */
  const handOver = async (
    last: (batch: StateBatch, events: DogStatsdEvent[]) => FromWorker,
  ): Promise<void> => {
    // per-worker load, so an operator can see how the kernel spreads datagrams
    aggregator.ingestInternal(
      MetricType.Counter,
      'veneur.worker.ingest_samples_total',
      [`ingest_worker:${id}`],
      aggregator.processed,
    );
    const snap = aggregator.swap();
    const n = snap.series.size;
    let from = 0;
    for (; n - from > HANDOVER_PART; from += HANDOVER_PART) {
      const part = snap.series.slice(from, from + HANDOVER_PART);
      await send({ type: 'part', batch: exportStateBatch(part, part.length) });
      await new Promise<void>((r) => setImmediate(r));
    }
    const rest = snap.series.slice(from, n);
    await send(last(exportStateBatch(rest, rest.length), [...snap.events]));
    aggregator.recycle(snap);
  };
  let handing: Promise<void> = Promise.resolve();
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'collect') {
      handing = handing
        .then(() => handOver((batch, events) => ({ type: 'state', id: msg.id, batch, events })))
        // the primary counts a missing answer as late; the next collect must still run
        .catch((err: unknown) => logger.error({ err }, 'ingest worker: hand-over failed'));
    } else if (msg.type === 'stop') {
      handing = handing
        .then(async () => {
          for (const l of listeners) await l.stop(Date.now() + 1000);
          await handOver((batch, events) => ({ type: 'final', batch, events }));
        })
        .catch((err: unknown) => logger.error({ err }, 'ingest worker: final hand-over failed'))
        .finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  await send({ type: 'ready' });
}
