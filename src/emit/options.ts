/**
 * veneur-emit's flags (reference §9.2) and their validation into an EmitPlan:
 * what to send, where, and which command to time. Go veneur-emit computes its
 * flag-combination check and ignores the result (§14.17); here every invalid
 * combination or value is an error (exit 1) before anything is run or sent.
 */
import type { FlagSpec, FlagValues } from '../util/flags.js';
import { type Destination, parseDestination } from './destination.js';
import {
  formatEvent,
  formatMetricLine,
  formatServiceCheck,
  type MetricLine,
  mergeTags,
  SC_STATUS,
} from './packets.js';
import { formatFloat, formatNsAsMs, parseGoDurationNs, parseGoFloat, parseGoInt64 } from './values.js';

type StringFlag = Extract<FlagSpec, { type: 'string' }>;
type BoolFlag = Extract<FlagSpec, { type: 'bool' }>;

const str = (usage: string, placeholder?: string, def = ''): StringFlag =>
  placeholder === undefined
    ? { type: 'string', default: def, usage }
    : { type: 'string', default: def, usage, placeholder };
const bool = (usage: string): BoolFlag => ({ type: 'bool', default: false, usage });

const UNSUPPORTED_NOTE = ' Not supported in this version (an error if used).';

export const EMIT_FLAGS = {
  // any mode
  hostport: str(
    'Destination: udp://host:port, tcp://host:port, unix:///path/to.sock, or host:port (meaning UDP).',
  ),
  mode: str("What to send: 'metric', 'event' or 'sc' (service check).", undefined, 'metric'),
  debug: bool('Log what is sent, and where, to stderr.'),
  tag: str("Tag(s) for everything emitted, comma separated. Ex: 'service:airflow,canary'"),
  // metric mode
  name: str("Name of the metric to report. Ex: 'daemontools.service.starts'"),
  count: str("Report a 'count' metric. Value must be an integer.", 'int'),
  gauge: str("Report a 'gauge' metric. Value must be a float.", 'float'),
  timing: str(
    "Report a 'timing' metric in milliseconds. Value is a Go duration, e.g. 300ms, 1.5s.",
    'duration',
  ),
  set: str("Report a 'set' metric with an arbitrary string value."),
  command: bool(
    'Run the command given after the flags (stdin/stdout/stderr passed through), report its duration as a timing named -name, and exit with its exit status.',
  ),
  // event mode
  e_title: str("Title of the event (required with -mode event). Ex: 'An exception occurred'"),
  e_text: str('Text of the event (required with -mode event). Line breaks are sent as \\n.'),
  e_time: str('Timestamp of the event, in Unix seconds. Default: when the server receives it.'),
  e_hostname: str('Hostname for the event.'),
  e_aggr_key: str('Aggregation key, to group the event with others with the same key.'),
  e_priority: str("Priority of the event: 'normal' or 'low'.", undefined, 'normal'),
  e_source_type: str('Source type of the event.'),
  e_alert_type: str("Alert type of the event: 'error', 'warning', 'info' or 'success'.", undefined, 'info'),
  e_event_tags: str(
    "Tag(s) for the event, comma separated (merged with -tag). Ex: 'service:airflow,host_type:qa'",
  ),
  // service-check mode
  sc_name: str('Service check name (required with -mode sc).'),
  sc_status: str(
    'Service check status (required with -mode sc): 0 or OK, 1 or WARNING, 2 or CRITICAL, 3 or UNKNOWN.',
  ),
  sc_time: str('Timestamp of the check, in Unix seconds.'),
  sc_hostname: str('Hostname for the service check.'),
  sc_tags: str("Tag(s) for the service check, comma separated (merged with -tag). Ex: 'service:airflow'"),
  sc_msg: str('Message describing the current state of the service check.'),
  // SSF / gRPC / tracing: accepted so that scripts get a clear error, not "flag provided but not defined"
  ssf: bool(`Send an SSF span instead of DogStatsD.${UNSUPPORTED_NOTE}`),
  grpc: bool(`Send over gRPC.${UNSUPPORTED_NOTE}`),
  proxy: str(`With -grpc, the address of a proxy to dial.${UNSUPPORTED_NOTE}`),
  trace_id: str(`ID of the trace (top-level) span; enables tracing.${UNSUPPORTED_NOTE}`, 'int'),
  parent_span_id: str(`ID of the parent span.${UNSUPPORTED_NOTE}`, 'int'),
  span_service: str(`Service name of the span.${UNSUPPORTED_NOTE}`, undefined, 'veneur-emit'),
  span_starttime: str(`Start date/time of the span.${UNSUPPORTED_NOTE}`),
  span_endtime: str(`End date/time of the span.${UNSUPPORTED_NOTE}`),
  span_tags: str(`Tag(s) for the span only, comma separated.${UNSUPPORTED_NOTE}`),
  indicator: bool(`Mark the span as an indicator span.${UNSUPPORTED_NOTE}`),
  error: bool(`Mark the span as an error.${UNSUPPORTED_NOTE}`),
} as const satisfies Record<string, FlagSpec>;

export type EmitFlags = typeof EMIT_FLAGS;
export type EmitFlagValues = FlagValues<EmitFlags>;
export type EmitMode = 'metric' | 'event' | 'sc';

const UNSUPPORTED = new Set([
  'ssf',
  'grpc',
  'proxy',
  'trace_id',
  'parent_span_id',
  'span_service',
  'span_starttime',
  'span_endtime',
  'span_tags',
  'indicator',
  'error',
]);
const FLAG_MODE: Readonly<Record<string, EmitMode>> = {
  name: 'metric',
  count: 'metric',
  gauge: 'metric',
  timing: 'metric',
  set: 'metric',
  command: 'metric',
  e_title: 'event',
  e_text: 'event',
  e_time: 'event',
  e_hostname: 'event',
  e_aggr_key: 'event',
  e_priority: 'event',
  e_source_type: 'event',
  e_alert_type: 'event',
  e_event_tags: 'event',
  sc_name: 'sc',
  sc_status: 'sc',
  sc_time: 'sc',
  sc_hostname: 'sc',
  sc_tags: 'sc',
  sc_msg: 'sc',
};

export interface TimedCommand {
  readonly argv: readonly string[];
  /** Metric name and tags for the timing line. */
  readonly name: string;
  readonly tags: readonly string[];
}

export interface EmitPlan {
  readonly mode: EmitMode;
  readonly destination: Destination;
  readonly debug: boolean;
  /** DogStatsD lines to send (for -command, the timing line is put in front once it is known). */
  readonly lines: readonly string[];
  readonly command: TimedCommand | null;
}

/** An invalid flag value or combination; the message is one line, without the program name. */
export class EmitOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmitOptionError';
  }
}

function fail(message: string): never {
  throw new EmitOptionError(message);
}

/** Characters that would break the DogStatsD line (or its framing) in a field. */
function checkField(flag: string, value: string, opts: { colon?: boolean; newline?: boolean } = {}): string {
  if (value.includes('|')) fail(`-${flag} must not contain '|'`);
  if (!opts.newline && /[\n\r]/.test(value)) fail(`-${flag} must not contain a line break`);
  if (opts.colon && value.includes(':')) fail(`-${flag} must not contain ':'`);
  return value;
}

function checkTags(flag: string, csv: string): string {
  for (const tag of csv.split(',')) checkField(flag, tag);
  return csv;
}

const UNIX_SECONDS = /^[+-]?[0-9]+$/;
function checkTimestamp(flag: string, value: string): string {
  if (!UNIX_SECONDS.test(value) || parseGoInt64(value.replace(/^\+/, '')) === null)
    fail(`invalid value ${JSON.stringify(value)} for -${flag}: expected Unix seconds (an integer)`);
  return value;
}

/** A timing line for a duration in nanoseconds: `name:<ms>|ms|#tags`. */
export function timingLine(name: string, ns: bigint, tags: readonly string[]): string {
  return formatMetricLine({ name, value: formatNsAsMs(ns), type: 'ms', tags });
}

/**
 * Validate parsed flags (`given`: the flags set on the command line, in order;
 * `rest`: the arguments after them) into a plan. Throws EmitOptionError.
 */
export function planEmit(
  values: EmitFlagValues,
  given: ReadonlySet<string>,
  rest: readonly string[],
): EmitPlan {
  for (const flag of given) {
    if (!UNSUPPORTED.has(flag)) continue;
    if (EMIT_FLAGS[flag as keyof EmitFlags].type === 'bool' && values[flag as keyof EmitFlags] === false)
      continue;
    fail(
      `-${flag} is not supported in this version of veneur-emit: SSF, gRPC and tracing are not implemented (DogStatsD metrics, events and service checks only)`,
    );
  }
  const mode = values.mode;
  if (mode !== 'metric' && mode !== 'event' && mode !== 'sc')
    fail(`invalid -mode ${JSON.stringify(mode)}: must be one of metric, event, sc`);
  const m = mode as EmitMode;
  for (const flag of given) {
    const only = FLAG_MODE[flag];
    if (only !== undefined && only !== m) fail(`-${flag} is only valid with -mode ${only}`);
  }
  const isSet = (flag: keyof EmitFlags): boolean => given.has(flag);

  const command = values.command;
  if (command && rest.length === 0) fail('-command needs the command to run after the flags');
  if (!command && rest.length > 0) {
    const first = rest[0];
    if (first in EMIT_FLAGS) fail(`unexpected argument ${JSON.stringify(first)}: did you mean -${first}?`);
    fail(`unexpected argument(s) after the flags: ${rest.map((a) => JSON.stringify(a)).join(' ')}`);
  }

  const tagCsv = checkTags('tag', values.tag);
  let lines: string[];
  let timed: TimedCommand | null = null;
  switch (m) {
    case 'metric': {
      const name = checkField('name', values.name, { colon: true });
      if (name === '') fail('metric mode needs -name');
      const tags = mergeTags(tagCsv);
      const metrics: MetricLine[] = [];
      // Go's order: (command timing), timing, gauge, count, set
      if (isSet('timing')) {
        const ns = parseGoDurationNs(values.timing);
        if (ns === null)
          fail(
            `invalid value ${JSON.stringify(values.timing)} for -timing: not a Go duration (e.g. 300ms, 1.5s)`,
          );
        metrics.push({ name, value: formatNsAsMs(ns), type: 'ms', tags });
      }
      if (isSet('gauge')) {
        const v = parseGoFloat(values.gauge);
        if (v === null) fail(`invalid value ${JSON.stringify(values.gauge)} for -gauge: not a finite number`);
        metrics.push({ name, value: formatFloat(v), type: 'g', tags });
      }
      if (isSet('count')) {
        const v = parseGoInt64(values.count);
        if (v === null)
          fail(`invalid value ${JSON.stringify(values.count)} for -count: not a 64-bit integer`);
        metrics.push({ name, value: String(v), type: 'c', tags });
      }
      if (isSet('set')) {
        const member = checkField('set', values.set, { colon: true });
        if (member === '') fail('-set needs a non-empty value');
        metrics.push({ name, value: member, type: 's', tags });
      }
      if (metrics.length === 0 && !command)
        fail('no metric to send: give at least one of -count, -gauge, -timing, -set (or -command)');
      lines = metrics.map(formatMetricLine);
      if (command) timed = { argv: rest, name, tags };
      break;
    }
    case 'event': {
      if (!isSet('e_title') || values.e_title === '') fail('event mode needs -e_title');
      if (!isSet('e_text') || values.e_text === '') fail('event mode needs -e_text');
      const priority = values.e_priority;
      if (priority !== 'normal' && priority !== 'low')
        fail(`invalid -e_priority ${JSON.stringify(priority)}: must be normal or low`);
      const alert = values.e_alert_type;
      if (!['error', 'warning', 'info', 'success'].includes(alert))
        fail(`invalid -e_alert_type ${JSON.stringify(alert)}: must be error, warning, info or success`);
      const opt = (flag: keyof EmitFlags, v: string): string | undefined =>
        isSet(flag) && v !== '' ? checkField(flag, v) : undefined;
      lines = [
        formatEvent({
          title: checkField('e_title', values.e_title),
          text: checkField('e_text', values.e_text, { newline: true }),
          timestamp: isSet('e_time') ? checkTimestamp('e_time', values.e_time) : undefined,
          hostname: opt('e_hostname', values.e_hostname),
          aggregationKey: opt('e_aggr_key', values.e_aggr_key),
          // like Go, the defaults (normal, info) are only written when given
          priority: isSet('e_priority') ? priority : undefined,
          sourceType: opt('e_source_type', values.e_source_type),
          alertType: isSet('e_alert_type') ? alert : undefined,
          tags: mergeTags(checkTags('e_event_tags', values.e_event_tags), tagCsv),
        }),
      ];
      break;
    }
    case 'sc': {
      const name = checkField('sc_name', values.sc_name);
      if (name === '') fail('sc mode needs -sc_name');
      if (!isSet('sc_status')) fail('sc mode needs -sc_status (0-3 or OK, WARNING, CRITICAL, UNKNOWN)');
      const status = Object.hasOwn(SC_STATUS, values.sc_status.toUpperCase())
        ? SC_STATUS[values.sc_status.toUpperCase()]
        : fail(
            `invalid -sc_status ${JSON.stringify(values.sc_status)}: must be 0-3 or OK, WARNING, CRITICAL, UNKNOWN`,
          );
      lines = [
        formatServiceCheck({
          name,
          status,
          timestamp: isSet('sc_time') ? checkTimestamp('sc_time', values.sc_time) : undefined,
          hostname:
            isSet('sc_hostname') && values.sc_hostname !== ''
              ? checkField('sc_hostname', values.sc_hostname)
              : undefined,
          tags: mergeTags(checkTags('sc_tags', values.sc_tags), tagCsv),
          message:
            isSet('sc_msg') && values.sc_msg !== ''
              ? checkField('sc_msg', values.sc_msg, { newline: true })
              : undefined,
        }),
      ];
      break;
    }
  }

  let destination: Destination;
  try {
    destination = parseDestination(values.hostport);
  } catch (err) {
    return fail((err as Error).message);
  }
  return { mode: m, destination, debug: values.debug, lines, command: timed };
}
