#!/usr/bin/env node
/**
 * `veneur-emit` (reference §9.2): send one DogStatsD metric set, event or service
 * check to Veneur (or any DogStatsD server), optionally timing a command.
 *
 *   veneur-emit -hostport udp://127.0.0.1:8126 -name deploys -count 1 -tag env:prod
 *   veneur-emit -hostport tcp://veneur:8126 -mode sc -sc_name db -sc_status CRITICAL -sc_msg "down"
 *   veneur-emit -hostport 127.0.0.1:8126 -name backup.duration -command ./backup.sh --full
 *
 * Exit status: 0 sent; 1 invalid flags/values or sending failed (one line on
 * stderr); 2 unknown flag (with usage); with -command, the command's own status.
 */
import { runCommand } from '../emit/command.js';
import { EMIT_FLAGS, EmitOptionError, type EmitPlan, planEmit, timingLine } from '../emit/options.js';
import { sendLines } from '../emit/transport.js';
import { parseCliFlags } from '../util/flags.js';

const PROGRAM = 'veneur-emit';

const errorLine = (message: string): void => {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
};

async function main(argv: string[]): Promise<number> {
  const flags = parseCliFlags(PROGRAM, EMIT_FLAGS, argv);
  if (typeof flags === 'number') return flags;

  let plan: EmitPlan;
  try {
    plan = planEmit(flags.values, flags.given, flags.rest);
  } catch (err) {
    if (!(err instanceof EmitOptionError)) throw err;
    errorLine(err.message);
    return 1;
  }
  const debug = plan.debug ? (msg: string) => process.stderr.write(`${PROGRAM}: debug: ${msg}\n`) : undefined;
  debug?.(`mode ${plan.mode}, destination ${plan.destination.transport} ${plan.destination.text}`);

  let status = 0;
  let lines = plan.lines;
  if (plan.command !== null) {
    const { argv: cmd, name, tags } = plan.command;
    debug?.(`running ${JSON.stringify(cmd)}`);
    let result: Awaited<ReturnType<typeof runCommand>>;
    try {
      result = await runCommand(cmd);
    } catch (err) {
      errorLine(`could not run ${JSON.stringify(cmd[0])}: ${(err as Error).message}`);
      return 1;
    }
    debug?.(
      `command exited with status ${result.exitCode}${result.signal ? ` (${result.signal})` : ''} after ${result.durationNs} ns`,
    );
    status = result.exitCode;
    lines = [timingLine(name, result.durationNs, tags), ...lines];
  }

  try {
    await sendLines(plan.destination, lines, debug ? { debug } : {});
  } catch (err) {
    errorLine(`sending to ${plan.destination.text} failed: ${(err as Error).message}`);
    // with -command, a failed command's status wins over the send failure
    return status !== 0 ? status : 1;
  }
  debug?.(`sent ${lines.length} line(s)`);
  return status;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // don't wait on anything left behind (a slow socket close)
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err) => {
    process.stderr.write(`${PROGRAM}: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
