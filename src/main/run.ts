/**
 * The process lifecycle shared by the CLIs: start, wait for a stop request
 * (SIGTERM, SIGINT, SIGHUP, SIGUSR2 or an extra promise such as /quitquitquit),
 * shut down gracefully; a second SIGTERM/SIGINT during shutdown exits at once.
 * Only src/main turns outcomes into exit codes.
 */
import type { Logger } from 'pino';

export interface Runnable {
  start(): Promise<void>;
  shutdown(deadline: number): Promise<void>;
}

/** Runs `app` until asked to stop. Resolves the exit code (0 after a clean shutdown, 1 if start failed). */
export async function runUntilStopped(
  app: Runnable,
  opts: {
    logger: Logger;
    shutdownMs: number;
    started: () => void;
    stopping: (reason: string) => void;
    extraStop?: Promise<string>;
  },
): Promise<number> {
  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'] as const)
      process.once(sig, () => resolve(sig));
  });
  try {
    await app.start();
  } catch (err) {
    opts.logger.error({ err }, 'failed to start');
    await app.shutdown(Date.now() + 2000).catch(() => {});
    return 1;
  }
  opts.started();
  const reason = await (opts.extraStop ? Promise.race([signalled, opts.extraStop]) : signalled);
  opts.stopping(reason);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => process.exit(1));
  await app.shutdown(Date.now() + opts.shutdownMs);
  return 0;
}
