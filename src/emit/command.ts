/**
 * `-command`: run a program with this process's stdin/stdout/stderr, time it, and
 * report how it ended. While it runs, SIGINT and SIGQUIT (which a terminal sends
 * to the whole process group, so the child gets them too) are left to the child,
 * and SIGTERM/SIGHUP sent to veneur-emit alone are forwarded to it; either way
 * veneur-emit survives to report the timing and the exit status.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export interface CommandResult {
  /** Wall-clock duration from spawn to exit, in nanoseconds. */
  readonly durationNs: bigint;
  /** Exit code to propagate: the child's, or 128+N when killed by signal N (as shells report it). */
  readonly exitCode: number;
  /** Set when the child was killed by a signal. */
  readonly signal: NodeJS.Signals | null;
}

const FORWARD: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];
const LEAVE_TO_CHILD: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

/** Run argv[0] with the remaining args. Rejects if it cannot be started (e.g. not found). */
export function runCommand(argv: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of FORWARD) handlers.set(sig, () => child.kill(sig));
    for (const sig of LEAVE_TO_CHILD) handlers.set(sig, () => {});
    for (const [sig, h] of handlers) process.on(sig, h);
    const cleanup = (): void => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.once('error', (err) => {
      cleanup();
      reject(err);
    });
    child.once('exit', (code, signal) => {
      const durationNs = process.hrtime.bigint() - start;
      cleanup();
      const exitCode = code ?? (signal !== null ? 128 + (constants.signals[signal] ?? 0) : 1);
      resolve({ durationNs, exitCode, signal });
    });
  });
}
