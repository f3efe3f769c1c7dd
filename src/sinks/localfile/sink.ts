/**
 * Localfile metric sink (reference §5.7): every flush appends ONE gzip member holding
 * the flush's rows (format.ts) to `flush_file`, so the file is a multi-member gzip
 * stream that `zcat` / zlib read whole.
 *
 * I/O: rows are built in slices (yielding to the event loop between them), compressed
 * by zlib on the libuv thread pool, and appended with a single write on an O_APPEND
 * handle. A write that fails part-way is rolled back (ftruncate to the size before
 * it), so a failed flush never leaves a truncated member that would make the rest of
 * the file unreadable. Errors reject (the sink wrapper counts them); the file is
 * reopened on every flush, so the next flush retries (e.g. once the directory is back).
 *
 * Differences from Go: counters are divided by the real interval (Go passes 0 -> ±Inf
 * / NaN) and the Interval column carries it; the timestamp uses a 24-hour clock; the
 * delimiter defaults to a tab; Partition is the date of each row's timestamp, not the
 * wall clock at flush; status checks are counted as skipped; an empty flush writes
 * nothing; the file is created 0666 & ~umask, not 0777 & ~umask.
 */
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { chunksOf, type MetricBatch } from '../../model/batch.js';
import type { FlushResult, MetricSink, MetricSinkDefinition, SinkContext } from '../types.js';
import { type LocalfileConfig, parseLocalfileConfig } from './config.js';
import { RowEncoder } from './format.js';

const gzipAsync = promisify(gzip);

/** What the sink needs of an open file (a fs/promises FileHandle); injectable for tests. */
export interface AppendHandle {
  stat(): Promise<{ size: number }>;
  writeFile(data: Uint8Array): Promise<void>;
  truncate(len: number): Promise<void>;
  close(): Promise<void>;
}

export type OpenForAppend = (path: string) => Promise<AppendHandle>;

/** Open (creating if needed) for appending: O_WRONLY | O_APPEND | O_CREAT, mode 0666 & ~umask. */
export const openForAppend: OpenForAppend = (path) => open(path, 'a', 0o666);

export interface LocalfileSinkOptions {
  readonly openForAppend?: OpenForAppend;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class LocalfileMetricSink implements MetricSink {
  readonly kind = 'localfile';
  readonly name: string;
  readonly #config: LocalfileConfig;
  readonly #ctx: SinkContext;
  readonly #open: OpenForAppend;
  /** Tail of the write chain: appends never interleave, even if flushes overlap. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(config: LocalfileConfig, ctx: SinkContext, options: LocalfileSinkOptions = {}) {
    this.name = ctx.name;
    this.#config = config;
    this.#ctx = ctx;
    this.#open = options.openForAppend ?? openForAppend;
  }

  get flushFile(): string {
    return this.#config.flushFile;
  }

  async start(): Promise<void> {}

  /** Waits (until the deadline at most) for an append in progress. */
  async stop(deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#tail.catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  async flush(metrics: MetricBatch, signal: AbortSignal): Promise<FlushResult> {
    const encoder = new RowEncoder({
      delimiter: this.#config.delimiter,
      hostname: this.#ctx.hostname,
      intervalSeconds: this.#ctx.intervalSeconds,
    });
    const slices: Buffer[] = [];
    let rows = 0;
    let skipped = 0;
    let first = true;
    for await (const chunk of chunksOf(metrics)) {
      if (!first) await yieldToEventLoop();
      first = false;
      signal.throwIfAborted();
      let text = '';
      for (let i = 0; i < chunk.length; i++) {
        const row = encoder.encode(chunk[i]!);
        if (row === undefined) skipped++;
        else {
          text += row;
          rows++;
        }
      }
      if (text !== '') slices.push(Buffer.from(text, 'utf8'));
    }
    if (rows === 0) return { flushed: 0, skipped, dropped: 0 };

    const member = await gzipAsync(slices.length === 1 ? slices[0]! : Buffer.concat(slices));
    signal.throwIfAborted();
    const append = this.#tail.then(() => this.#append(member, signal));
    this.#tail = append.catch(() => {});
    await append;
    this.#ctx.logger.debug(
      { rows, skipped, bytes: member.length, file: this.#config.flushFile },
      'appended flush to local file',
    );
    return { flushed: rows, skipped, dropped: 0 };
  }

  /** One whole gzip member, or nothing: a partial write is truncated away. */
  async #append(member: Buffer, signal: AbortSignal): Promise<void> {
    // Past this point the write is not interrupted: an abort would leave half a member.
    signal.throwIfAborted();
    const path = this.#config.flushFile;
    let handle: AppendHandle;
    try {
      handle = await this.#open(path);
    } catch (err) {
      throw new Error(`localfile: couldn't open ${path} for appending: ${describe(err)}`, { cause: err });
    }
    let written = false;
    try {
      let size: number;
      try {
        size = (await handle.stat()).size;
      } catch (err) {
        throw new Error(`localfile: couldn't stat ${path}: ${describe(err)}`, { cause: err });
      }
      try {
        await handle.writeFile(member);
      } catch (err) {
        const rolledBack = await handle.truncate(size).then(
          () => true,
          () => false,
        );
        throw new Error(
          `localfile: couldn't append to ${path}: ${describe(err)}${rolledBack ? '' : ' (and could not remove the partial write)'}`,
          { cause: err },
        );
      }
      written = true;
    } finally {
      if (!written) await handle.close().catch(() => {});
    }
    try {
      await handle.close();
    } catch (err) {
      throw new Error(`localfile: couldn't close ${path} after appending: ${describe(err)}`, { cause: err });
    }
  }
}

export function createLocalfileSink(
  config: LocalfileConfig,
  ctx: SinkContext,
  options?: LocalfileSinkOptions,
): LocalfileMetricSink {
  return new LocalfileMetricSink(config, ctx, options);
}

export const localfileSinkDefinition: MetricSinkDefinition<LocalfileConfig> = {
  kind: 'localfile',
  parseConfig: parseLocalfileConfig,
  create: (config, ctx) => new LocalfileMetricSink(config, ctx),
};
