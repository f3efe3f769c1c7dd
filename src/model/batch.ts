/**
 * One flush's records as the sinks receive them: a stream of frozen chunks,
 * shared by every sink, that no sink may mutate.
 *
 * Why a stream and not one array (DESIGN.md's first contract): a flush of 1M
 * series has 2M+ records. Held in one array until the slowest sink finished,
 * every record survived every scavenge and was promoted, and at 1M series GC
 * took most of a 20 s flush (BENCHMARKS.md, "Flush of 1M series"). Chunks that
 * each sink consumes as they are generated die young.
 *
 * A plain array is still a batch (tests, small callers); `chunksOf` gives every
 * sink the same view of both.
 */
import type { InterMetric } from './metric.js';

/** A chunked stream of one flush's records (see MetricFanout for the producer). */
export interface MetricStream extends AsyncIterable<readonly InterMetric[]> {
  /** Records produced so far. */
  readonly produced: number;
  /** Every record of the flush, once the producer has finished. */
  readonly total: Promise<number>;
  /** Stop receiving: queued and future chunks are discarded. Idempotent. */
  close(): void;
}

export type MetricBatch = readonly InterMetric[] | MetricStream;

/** Records per chunk when an array batch is handed out in chunks. */
const ARRAY_CHUNK = 4096;

export function isMetricStream(batch: MetricBatch): batch is MetricStream {
  return !Array.isArray(batch);
}

/** The batch's chunks, in order (an array is cut into chunks of ARRAY_CHUNK records). */
export async function* chunksOf(batch: MetricBatch): AsyncGenerator<readonly InterMetric[]> {
  if (isMetricStream(batch)) {
    yield* batch;
    return;
  }
  const arr = batch as readonly InterMetric[];
  if (arr.length <= ARRAY_CHUNK) {
    if (arr.length > 0) yield arr;
    return;
  }
  for (let i = 0; i < arr.length; i += ARRAY_CHUNK) yield arr.slice(i, i + ARRAY_CHUNK);
}

/** Every record of the batch in one array (for sinks that need them all, e.g. the debug table). */
export async function collect(batch: MetricBatch): Promise<InterMetric[]> {
  if (!isMetricStream(batch)) return (batch as readonly InterMetric[]).slice();
  const out: InterMetric[] = [];
  for await (const chunk of batch) for (const m of chunk) out.push(m);
  return out;
}

/** Number of records in the batch (waits for a stream's producer to finish). */
export function batchSize(batch: MetricBatch): Promise<number> {
  return isMetricStream(batch) ? batch.total : Promise.resolve((batch as readonly InterMetric[]).length);
}

type Waiter = (r: IteratorResult<readonly InterMetric[]>) => void;

class Reader implements MetricStream, AsyncIterator<readonly InterMetric[]> {
  readonly #fanout: MetricFanout;
  #queue: (readonly InterMetric[])[] = [];
  #head = 0;
  #waiter: Waiter | null = null;
  #closed = false;

  constructor(fanout: MetricFanout) {
    this.#fanout = fanout;
  }

  get produced(): number {
    return this.#fanout.produced;
  }

  get total(): Promise<number> {
    return this.#fanout.total;
  }

  get closed(): boolean {
    return this.#closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<readonly InterMetric[]> {
    return this;
  }

  /** Producer side: a new chunk (ignored once closed). */
  offer(chunk: readonly InterMetric[]): void {
    if (this.#closed) return;
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w({ value: chunk, done: false });
    } else this.#queue.push(chunk);
  }

  /** Producer side: no more chunks. */
  finish(): void {
    const w = this.#waiter;
    if (w !== null && this.#head >= this.#queue.length) {
      this.#waiter = null;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<readonly InterMetric[]>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head]!;
      this.#queue[this.#head++] = EMPTY;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed || this.#fanout.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<readonly InterMetric[]>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    const w = this.#waiter;
    this.#waiter = null;
    w?.({ value: undefined, done: true });
  }
}

const EMPTY: readonly InterMetric[] = Object.freeze([]);

/**
 * The producer side: the flusher pushes chunks, every reader gets each chunk
 * (frozen, shared). Readers must be created before the first push. The producer
 * never waits for readers: a slow reader queues chunks, a closed one drops them.
 */
export class MetricFanout {
  readonly #readers: Reader[] = [];
  #produced = 0;
  #ended = false;
  #resolveTotal!: (n: number) => void;
  readonly total: Promise<number>;

  constructor() {
    this.total = new Promise((resolve) => {
      this.#resolveTotal = resolve;
    });
  }

  get produced(): number {
    return this.#produced;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A new reader; call before the first push. */
  reader(): MetricStream {
    if (this.#produced > 0) throw new Error('MetricFanout: reader created after the first chunk');
    const r = new Reader(this);
    this.#readers.push(r);
    return r;
  }

  push(chunk: InterMetric[]): void {
    if (chunk.length === 0) return;
    if (this.#ended) throw new Error('MetricFanout: push after end');
    const frozen = Object.freeze(chunk);
    this.#produced += frozen.length;
    for (const r of this.#readers) r.offer(frozen);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const r of this.#readers) r.finish();
    this.#resolveTotal(this.#produced);
  }
}
