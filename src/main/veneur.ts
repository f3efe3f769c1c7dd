#!/usr/bin/env -S node --single-threaded-gc --max-semi-space-size=64 --no-allocation-site-pretenuring --no-memory-reducer
/**
 * `veneur`: flags (reference §9.1), config, build, signals, exit codes.
 * With no -f it runs the embedded default config (statsd on udp://127.0.0.1:8126,
 * HTTP on 127.0.0.1:8127, debug sink).
 *
 * The shebang's `--single-threaded-gc`: with V8's parallel scavenger, a young-GC
 * pause on a busy core included waiting for helper threads to be scheduled (pauses
 * of 6-13 ms against 1-3 ms of actual work, measured with --trace-gc-nvp), long
 * enough to overflow the socket buffer at 1M+ lines/s. GC work itself is small
 * here because series are recycled between intervals (BENCHMARKS.md, "GC and loss").
 *
 * `--max-semi-space-size=64` (MiB; V8's default is 16): with a million series the
 * heap holds millions of objects, and a scavenge that runs while a major GC is
 * marking spends 30-60 ms updating the marking worklist, whatever little it copies.
 * Four times fewer scavenges took the longest event-loop blocks under load from
 * 240-370 ms to 48-80 ms and the loss at 300k lines/s from up to 3% to 0
 * (BENCHMARKS.md, "Flush under load"). The young generation grows to it only
 * when the allocation rate asks for it.
 *
 * `--no-allocation-site-pretenuring`: V8 watched the flushed-record literals survive
 * while the first flush after a million new series ran, decided to allocate them in
 * old space from then on, and every later flush (2.25M records at 1M series) went
 * straight to the old generation: 1.4 GB promoted per 30 s, a major GC every few
 * intervals (sampling heap profile of the server under load: 1,440 -> 298 MB).
 *
 * `--no-memory-reducer`: once the flush stopped filling the old generation (number
 * strings off V8's number-string cache, sinks/helper/json.ts), the memory reducer was
 * what still started major GCs under steady load: it reads a flat old generation as
 * an idle process and marks the whole ~0.9 GiB heap (1.3-1.5 s of marking on the
 * ingest core), then shrinks the young generation, so scavenges run 5x as often for
 * a while. One interval in such a 300 s run lost 13.7%; with the flag, 300 s had no
 * major GC and no loss (BENCHMARKS.md, "Number strings in the old generation").
 * Major GCs still run when the old generation reaches its limit; what is given up is
 * shrinking the heap after the load falls.
 * Tests and the bench read the flags from this line (test/helpers/veneur-process.ts).
 */
import cluster from 'node:cluster';
import { buildApp } from '../app/build.js';
import { runIngestWorker } from '../app/cluster.js';
import { DEFAULT_CONFIG_YAML } from '../config/default.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../telemetry/logger.js';
import { parseCliFlags } from '../util/flags.js';
import { buildInfo } from './build-info.js';
import { runUntilStopped } from './run.js';

const FLAGS = {
  f: {
    type: 'string',
    default: '',
    usage: 'The config file to read for settings (default: the embedded config).',
  },
  'validate-config': {
    type: 'bool',
    default: false,
    usage: 'Validate the config file is valid YAML with correct value types, then immediately exit.',
  },
  'validate-config-strict': {
    type: 'bool',
    default: false,
    usage: 'Validate as with -validate-config, but also fail if there are any unknown fields.',
  },
  'print-secrets': { type: 'bool', default: false, usage: 'Disables redacting config secrets' },
  version: { type: 'bool', default: false, usage: 'Print the version and exit.' },
} as const;

async function main(argv: string[]): Promise<number> {
  const flags = parseCliFlags('veneur', FLAGS, argv);
  if (typeof flags === 'number') return flags;
  const info = buildInfo();
  if (flags.values.version) {
    process.stdout.write(`${info.version}\n`);
    return 0;
  }
  const strict = flags.values['validate-config-strict'];
  // Go: -validate-config-strict alone only makes parsing strict and starts the server (§14.17);
  // we treat it as "validate strictly and exit", which is what its name promises.
  const validateOnly = flags.values['validate-config'] || strict;
  const file = flags.values.f;

  const bootLogger = createLogger();
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({
      ...(file === '' ? { text: DEFAULT_CONFIG_YAML } : { file }),
      env: process.env,
      strict,
      onWarning: (msg) => bootLogger.warn(msg),
    });
  } catch (err) {
    process.stderr.write(`veneur: invalid config${file ? ` ${file}` : ''}: ${(err as Error).message}\n`);
    return 1;
  }
  const logger = createLogger({ debug: config.debug });
  if (cluster.isWorker) {
    // a multi-core ingest worker (num_readers > 1): listeners + aggregation only
    await runIngestWorker(config, logger.child({ ingest_worker: cluster.worker?.id }));
    return new Promise<number>(() => {}); // runs until the primary stops it
  }
  if (file === '') {
    logger.info(
      { statsd: config.statsdListenAddresses, http: config.httpAddress },
      'no -f given: running the embedded default config (debug sink)',
    );
  }

  let quit: () => void = () => {};
  const quitRequested = new Promise<string>((resolve) => {
    quit = () => resolve('quitquitquit');
  });
  let app: ReturnType<typeof buildApp>;
  try {
    app = buildApp(config, {
      logger,
      env: process.env,
      strict,
      version: info.version,
      buildDate: info.buildDate,
      printSecrets: flags.values['print-secrets'],
      onQuit: () => quit(),
    });
  } catch (err) {
    process.stderr.write(`veneur: invalid config${file ? ` ${file}` : ''}: ${(err as Error).message}\n`);
    return 1;
  }
  if (validateOnly) {
    process.stdout.write('config is valid\n');
    return 0;
  }

  return runUntilStopped(app, {
    logger,
    shutdownMs: config.intervalMs,
    extraStop: quitRequested,
    started: () => logger.info({ version: info.version, interval_ms: config.intervalMs }, 'veneur started'),
    stopping: (reason) => logger.info({ reason }, 'shutting down: closing listeners, flushing once more'),
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // don't wait on idle keep-alive sockets or timers
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err) => {
    process.stderr.write(`veneur: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
