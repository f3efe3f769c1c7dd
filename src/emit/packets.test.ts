import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlags } from '../util/flags.js';
import { parseDestination } from './destination.js';
import { EMIT_FLAGS, type EmitPlan, planEmit, timingLine } from './options.js';
import { formatEvent, formatMetricLine, formatServiceCheck, mergeTags, parseTags } from './packets.js';
import { packDatagrams, streamPayload } from './transport.js';

/** Parse a veneur-emit command line (without -hostport, which is added) into a plan. */
function plan(args: string[]): EmitPlan {
  const f = parseFlags(EMIT_FLAGS, ['-hostport', '127.0.0.1:8126', ...args]);
  return planEmit(f.values, f.given, f.rest);
}
const lines = (args: string[]): readonly string[] => plan(args).lines;
const planError = (args: string[]): string => {
  try {
    plan(args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`expected ${args.join(' ')} to be rejected`);
};

describe('veneur-emit packets', () => {
  it('tags: comma list, empty elements skipped, later keys override, order and bare tags kept', () => {
    assert.deepEqual([...parseTags('k:v,k2,,a:b:c').values()], ['k:v', 'k2', 'a:b:c']);
    assert.deepEqual(mergeTags('a:1,b,c:3', 'c:9,d', 'a:0'), ['a:0', 'b', 'c:9', 'd']);
    assert.deepEqual(mergeTags('', ''), []);
  });

  it('metric lines, every type, with and without tags', () => {
    const m = (type: 'c' | 'g' | 'ms' | 's', value: string, tags: string[] = []) =>
      formatMetricLine({ name: 'a.b', value, type, tags });
    assert.equal(m('c', '3'), 'a.b:3|c');
    assert.equal(m('g', '1.5', ['env:prod', 'canary']), 'a.b:1.5|g|#env:prod,canary');
    assert.equal(m('ms', '250'), 'a.b:250|ms');
    assert.equal(m('s', 'user42', ['k:v']), 'a.b:user42|s|#k:v');
  });

  it('metric mode: one line per value, in Go order (timing, gauge, count, set)', () => {
    assert.deepEqual(lines(['-name', 'x', '-count', '3', '-gauge', '1.5']), ['x:1.5|g', 'x:3|c']);
    assert.deepEqual(
      lines([
        '-name',
        'x',
        '-set',
        'u1',
        '-count',
        '-2',
        '-timing',
        '1.5s',
        '-gauge',
        '1e21',
        '-tag',
        'a:1,b',
      ]),
      ['x:1500|ms|#a:1,b', 'x:1000000000000000000000|g|#a:1,b', 'x:-2|c|#a:1,b', 'x:u1|s|#a:1,b'],
    );
    // explicit zero values are sent; hex counts; sub-millisecond timings are exact
    assert.deepEqual(lines(['-name', 'z', '-count', '0', '-gauge', '0', '-timing', '0']), [
      'z:0|ms',
      'z:0|g',
      'z:0|c',
    ]);
    assert.deepEqual(lines(['-name', 'h', '-count', '0x10', '-timing', '1.5us']), ['h:0.0015|ms', 'h:16|c']);
    // a gauge keeps its float64 value (Go veneur-emit rounds it through float32)
    assert.deepEqual(lines(['-name', 'g', '-gauge', '1.1']), ['g:1.1|g']);
    assert.deepEqual(lines(['-name', 'g', '-count', '9007199254740993']), ['g:9007199254740993|c']);
  });

  it('events: all options, lengths in bytes after newline escaping', () => {
    assert.equal(
      formatEvent({
        title: 'foo',
        text: 'bar',
        timestamp: '1136239445',
        hostname: 'example.com',
        aggregationKey: 'foos',
        priority: 'low',
        sourceType: 'test',
        alertType: 'success',
        tags: ['foo:bar', 'baz:qux'],
      }),
      '_e{3,3}:foo|bar|d:1136239445|h:example.com|k:foos|p:low|s:test|t:success|#foo:bar,baz:qux',
    );
    // 'foo\nbar\nbaz\n' is sent as 15 bytes: foo\nbar\nbaz\n with two-byte escapes
    assert.equal(
      formatEvent({ title: 'foo', text: 'foo\nbar\nbaz\n', tags: [] }),
      '_e{3,15}:foo|foo\\nbar\\nbaz\\n',
    );
    // multi-byte UTF-8: lengths are bytes, not characters
    assert.equal(formatEvent({ title: 'café', text: 'naïve ☃', tags: [] }), '_e{5,10}:café|naïve ☃');
  });

  it('event mode from flags: defaults only written when given, -tag merged over -e_event_tags', () => {
    assert.deepEqual(lines(['-mode', 'event', '-e_title', 'Deploy', '-e_text', 'v2\nrolled out']), [
      '_e{6,14}:Deploy|v2\\nrolled out',
    ]);
    assert.deepEqual(
      lines([
        '-mode',
        'event',
        '-e_title',
        'An exception occurred',
        '-e_text',
        'Cannot parse CSV file from 10.0.0.17',
        '-e_time',
        '1136239445',
        '-e_hostname',
        'web1',
        '-e_aggr_key',
        'csv',
        '-e_priority',
        'normal',
        '-e_source_type',
        'jenkins',
        '-e_alert_type',
        'error',
        '-e_event_tags',
        'service:airflow,host_type:qa',
        '-tag',
        'host_type:prod,env:x',
      ]),
      [
        '_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17|d:1136239445|h:web1|k:csv|p:normal|s:jenkins|t:error|#service:airflow,host_type:prod,env:x',
      ],
    );
  });

  it('service checks: the reference example exactly, status names, message escaping', () => {
    const example =
      '_sc|Redis connection|2|#redis_instance:10.0.0.16:6379|m:Redis connection timed out after 10s';
    assert.equal(
      formatServiceCheck({
        name: 'Redis connection',
        status: 2,
        tags: ['redis_instance:10.0.0.16:6379'],
        message: 'Redis connection timed out after 10s',
      }),
      example,
    );
    for (const status of ['2', 'CRITICAL', 'critical'])
      assert.deepEqual(
        lines([
          '-mode',
          'sc',
          '-sc_name',
          'Redis connection',
          '-sc_status',
          status,
          '-sc_tags',
          'redis_instance:10.0.0.16:6379',
          '-sc_msg',
          'Redis connection timed out after 10s',
        ]),
        [example],
      );
    assert.deepEqual(
      lines([
        '-mode',
        'sc',
        '-sc_name',
        'foo.bar',
        '-sc_status',
        'OK',
        '-sc_time',
        '1136239445',
        '-sc_hostname',
        'example.com',
        '-sc_tags',
        'foo:bar',
        '-tag',
        'qux:dor',
        '-sc_msg',
        'line1\nline2',
      ]),
      ['_sc|foo.bar|0|d:1136239445|h:example.com|#foo:bar,qux:dor|m:line1\\nline2'],
    );
    assert.deepEqual(lines(['-mode', 'sc', '-sc_name', 'x', '-sc_status', 'unknown']), ['_sc|x|3']);
  });

  it('-command: plan keeps the argv, timing line built from nanoseconds', () => {
    const p = plan(['-name', 'job', '-tag', 'a:b', '-count', '1', '-command', 'sh', '-c', 'exit 3']);
    assert.deepEqual(p.command, { argv: ['sh', '-c', 'exit 3'], name: 'job', tags: ['a:b'] });
    assert.deepEqual(p.lines, ['job:1|c|#a:b']);
    assert.equal(timingLine('job', 12_345_678n, ['a:b']), 'job:12.345678|ms|#a:b');
    assert.equal(plan(['-name', 'job', '-command', 'true']).lines.length, 0);
  });

  it('rejects invalid combinations and values', () => {
    const cases: [string[], RegExp][] = [
      [['-count', '1'], /needs -name/],
      [['-name', 'x'], /at least one of -count, -gauge, -timing, -set/],
      [['-name', 'x', '-count', '1.5'], /-count/],
      [['-name', 'x', '-gauge', 'NaN'], /-gauge: not a finite number/],
      [['-name', 'x', '-timing', '5'], /-timing: not a Go duration/],
      [['-name', 'x', '-set', ''], /-set needs a non-empty value/],
      [['-name', 'x', '-set', 'a:b'], /-set must not contain ':'/],
      [['-name', 'a:b', '-count', '1'], /-name must not contain ':'/],
      [['-name', 'x', '-count', '1', '-tag', 'a|b'], /-tag must not contain '\|'/],
      [['-name', 'x', '-count', '1', 'extra'], /unexpected argument/],
      [['-name', 'x', 'count', '1'], /did you mean -count\?/],
      [['-name', 'x', '-command'], /-command needs the command/],
      [['-mode', 'bogus'], /invalid -mode "bogus"/],
      [['-mode', 'event', '-e_title', 't'], /needs -e_text/],
      [['-mode', 'event', '-e_text', 't'], /needs -e_title/],
      [['-mode', 'event', '-e_title', 't', '-e_text', 'x', '-e_priority', 'high'], /-e_priority/],
      [['-mode', 'event', '-e_title', 't', '-e_text', 'x', '-e_alert_type', 'fatal'], /-e_alert_type/],
      [['-mode', 'event', '-e_title', 't', '-e_text', 'x', '-e_time', 'today'], /-e_time/],
      [['-mode', 'event', '-e_title', 'a\nb', '-e_text', 'x'], /-e_title must not contain a line break/],
      [
        ['-mode', 'event', '-e_title', 't', '-e_text', 'x', '-count', '1'],
        /-count is only valid with -mode metric/,
      ],
      [['-mode', 'sc', '-sc_name', 'x'], /needs -sc_status/],
      [['-mode', 'sc', '-sc_status', '0'], /needs -sc_name/],
      [['-mode', 'sc', '-sc_name', 'x', '-sc_status', '4'], /invalid -sc_status "4"/],
      [['-mode', 'sc', '-sc_name', 'x', '-sc_status', 'BAD'], /invalid -sc_status/],
      [['-mode', 'sc', '-sc_name', 'x', '-sc_status', '0', '-e_title', 't'], /only valid with -mode event/],
      [
        ['-mode', 'sc', '-sc_name', 'x', '-sc_status', '0', '-command', 'true'],
        /only valid with -mode metric/,
      ],
      [['-name', 'x', '-count', '1', '-ssf'], /-ssf is not supported in this version/],
      [['-name', 'x', '-count', '1', '-grpc'], /-grpc is not supported/],
      [['-name', 'x', '-count', '1', '-trace_id', '5'], /-trace_id is not supported/],
      [['-name', 'x', '-count', '1', '-span_service', 'svc'], /-span_service is not supported/],
      [['-name', 'x', '-count', '1', '-proxy', 'h:1'], /-proxy is not supported/],
      [['-name', 'x', '-count', '1', '-indicator'], /-indicator is not supported/],
    ];
    for (const [args, re] of cases) assert.match(planError(args), re, args.join(' '));
    // a boolean SSF flag explicitly off is harmless
    assert.deepEqual(lines(['-name', 'x', '-count', '1', '-ssf=false']), ['x:1|c']);
  });

  it('-hostport: URLs and bare host:port', () => {
    assert.deepEqual(parseDestination('127.0.0.1:8126'), {
      transport: 'udp',
      family: 0,
      host: '127.0.0.1',
      port: 8126,
      text: 'udp://127.0.0.1:8126',
    });
    assert.deepEqual(parseDestination('tcp://localhost:9'), {
      transport: 'tcp',
      family: 0,
      host: 'localhost',
      port: 9,
      text: 'tcp://localhost:9',
    });
    assert.equal(parseDestination('udp6://[::1]:8126').transport, 'udp');
    assert.deepEqual(parseDestination('udp6://[::1]:8126'), {
      transport: 'udp',
      family: 6,
      host: '::1',
      port: 8126,
      text: 'udp6://[::1]:8126',
    });
    assert.deepEqual(parseDestination('unix:///tmp/v.sock'), {
      transport: 'unix',
      path: '/tmp/v.sock',
      text: 'unix:///tmp/v.sock',
    });
    assert.deepEqual(parseDestination('unix:@veneur'), {
      transport: 'unix',
      path: '\0veneur',
      text: 'unix:@veneur',
    });
    for (const bad of ['', 'localhost', 'http://x:1', 'udp://x', 'udp://x:0', 'unixgram:///tmp/x'])
      assert.throws(() => parseDestination(bad), JSON.stringify(bad));
  });

  it('framing: UDP lines joined by \\n in datagrams of at most 1432 bytes; streams newline-terminated', () => {
    assert.deepEqual(
      packDatagrams(['a:1|c', 'a:2|g']).map((b) => b.toString()),
      ['a:1|c\na:2|g'],
    );
    const long = 'x'.repeat(1000);
    assert.deepEqual(
      packDatagrams([long, long, 'y'.repeat(2000)]).map((b) => b.length),
      [1000, 1000, 2000],
    );
    assert.deepEqual(
      packDatagrams(['a'.repeat(700), 'b'.repeat(731), 'c']).map((b) => b.length),
      [1432, 1],
    );
    assert.equal(streamPayload(['a:1|c', '_sc|x|0']).toString(), 'a:1|c\n_sc|x|0\n');
  });
});
