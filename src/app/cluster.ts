/**
 * Multi-core ingest (DESIGN.md "Using more than one core"): with `num_readers` > 1
 * the primary forks that many node:cluster workers. Each worker reads the shared
 * UDP socket (the primary owns it; Node 20 has no SO_REUSEPORT for dgram) and
 * aggregates what it receives. At every flush the primary asks each worker for
 * its interval's state (aggregate/state.ts: counters as sums, digests, HLLs,
 * gauges with their write time), merges it into its own aggregator and flushes
 * once. A worker that dies is replaced and counted; the primary keeps serving.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { Aggregator } from '../aggregate/aggregator.js';
import { exportSnapshot, type SeriesState } from '../aggregate/state.js';
import type { Config } from '../config/types.js';
import { createStatsdListeners } from '../ingest/listeners.js';
import type { Component } from '../model/component.js';
import { type DogStatsdEvent, MetricType } from '../model/metric.js';
import { InternalTelemetry } from '../telemetry/internal.js';
import type { Telemetry } from '../telemetry/types.js';

type ToWorker = { type: 'collect'; id: number } | { type: 'stop' };
type FromWorker =
  | { type: 'ready' }
  | { type: 'state'; id: number; states: SeriesState[]; events: DogStatsdEvent[] }
  | { type: 'final'; states: SeriesState[]; events: DogStatsdEvent[] };

export interface IngestWorkersOptions {
  readonly count: number;
  readonly aggregator: Aggregator;
  readonly logger: Logger;
  readonly telemetry: Telemetry;
  /** How long a flush waits for a worker's state before flushing without it (it then joins the next flush). */
  readonly collectTimeoutMs: number;
}

/** Primary side: forks, collects, merges, restarts. */
export class IngestWorkers implements Component {
  readonly kind = 'ingest-workers';
  readonly name = 'ingest-workers';
  readonly #o: IngestWorkersOptions;
  readonly #workers = new Set<Worker>();
  #collectId = 0;
  #waiting = new Map<Worker, (ok: boolean) => void>();
  #stopping = false;
  #finals = new Map<Worker, () => void>();
  #restarts = 0;

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
    cluster.setupPrimary({ serialization: 'advanced' });
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    await Promise.all(Array.from({ length: this.#o.count }, () => this.#fork()));
    this.#o.logger.info({ pids: this.pids() }, 'ingest workers started');
  }

  #fork(): Promise<void> {
    const worker = cluster.fork({ VENEUR_INGEST_WORKER: '1' });
    this.#workers.add(worker);
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
    if (msg.type === 'state' || msg.type === 'final') {
      // late answers are merged too: they join the interval being aggregated now, nothing is lost
      this.#o.aggregator.importStates(msg.states);
      this.#o.aggregator.importEvents(msg.events);
      if (msg.type === 'state' && msg.id === this.#collectId) {
        this.#waiting.get(worker)?.(true);
        this.#waiting.delete(worker);
      }
      if (msg.type === 'final') {
        this.#finals.get(worker)?.();
        this.#finals.delete(worker);
      }
    }
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    if (!this.#workers.delete(worker)) return;
    this.#waiting.get(worker)?.(false);
    this.#waiting.delete(worker);
    this.#finals.get(worker)?.();
    this.#finals.delete(worker);
    if (this.#stopping) return;
    this.#restarts++;
    this.#o.telemetry.count('worker.ingest_restarts_total', 1);
    this.#o.logger.warn({ pid: worker.process.pid, code, signal }, 'ingest worker died: starting a new one');
    this.#fork().then(
      () => this.#o.logger.info({ pids: this.pids() }, 'ingest worker restarted'),
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
  const handOver = (): { states: SeriesState[]; events: DogStatsdEvent[] } => {
    // per-worker load, so an operator can see how the kernel spreads datagrams
    aggregator.ingestInternal(
      MetricType.Counter,
      'veneur.worker.ingest_samples_total',
      [`ingest_worker:${id}`],
      aggregator.processed,
    );
    const snap = aggregator.swap();
    const states = exportSnapshot(snap.series.values());
    const events = [...snap.events];
    aggregator.recycle(snap);
    return { states, events };
  };
  process.on('message', (msg: ToWorker) => {
    if (msg.type === 'collect') {
      void send({ type: 'state', id: msg.id, ...handOver() });
    } else if (msg.type === 'stop') {
      void (async () => {
        for (const l of listeners) await l.stop(Date.now() + 1000);
        await send({ type: 'final', ...handOver() });
        process.exit(0);
      })();
    }
  });
  process.on('disconnect', () => process.exit(0));
  await send({ type: 'ready' });
}
