import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { check, counter, dogEvent, gauge, testSinkContext } from '../../../test/helpers/sink-context.js';
import { wrapMetricSink } from '../helper/wrap.js';
import { createDebugSink, debugSinkDefinition, renderDebugTable } from './sink.js';

function collector(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { out, text: () => chunks.join('') };
}

const NOW = new Date('2026-11-21T06:13:00.000Z');
const section = { path: 'metric_sinks[0].config', envPrefix: '', env: {}, strict: true };

describe('debug sink', () => {
  it('prints an aligned table with a header line', () => {
    const text = renderDebugTable(
      'dbg',
      [counter('a.count', 19, ['env:prod', 'team:t0']), gauge('a.much.longer.gauge', 6.5)],
      [],
      NOW,
    );
    assert.equal(
      text,
      [
        '-- debug sink "dbg": flush at 2026-11-21T06:13:00.000Z, 2 metrics, 0 events',
        'TYPE     NAME                 TAGS              VALUE',
        'counter  a.count              env:prod,team:t0  19',
        'gauge    a.much.longer.gauge                    6.5',
        '',
      ].join('\n'),
    );
  });

  it('adds message and host columns for checks, and lists events below', () => {
    const text = renderDebugTable(
      'dbg',
      [check('svc.up', 2, { tags: ['env:prod'], message: 'disk\nfull', hostName: 'web1' }), gauge('g', 1e21)],
      [
        dogEvent({
          title: 'deploy',
          text: 'v2\nrolled',
          timestamp: 1_795_240_249,
          hostname: 'web1',
          priority: 'low',
          alertType: 'warning',
          tags: new Map([
            ['env', 'prod'],
            ['canary', ''],
          ]),
        }),
      ],
      NOW,
    );
    assert.equal(
      text,
      [
        '-- debug sink "dbg": flush at 2026-11-21T06:13:00.000Z, 2 metrics, 1 event',
        'TYPE    NAME    TAGS      VALUE  MESSAGE     HOST',
        'status  svc.up  env:prod  2      disk\\nfull  web1',
        'gauge   g                 1e+21',
        'events:',
        '  [warning/low] deploy: v2\\nrolled  host=web1 ts=1795240249 tags=canary,env:prod',
        '',
      ].join('\n'),
    );
  });

  it('writes each flush (with the events handed over before it) to the stream and logs a debug line', async () => {
    const { out, text } = collector();
    const ctx = testSinkContext({ name: 'dbg' });
    const sink = createDebugSink(debugSinkDefinition.parseConfig({}, section), ctx, out, () => NOW);
    const wrapped = wrapMetricSink(sink, { telemetry: ctx.telemetry, logger: ctx.logger, timeoutMs: 1_000 });
    const outcome = await wrapped.flush(
      [gauge('g', 1)],
      [dogEvent({ title: 'e1', text: 'body' })],
      Date.now() + 1_000,
    );
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.flushed, 1);
    assert.match(text(), /^-- debug sink "dbg": flush at 2026-11-21T06:13:00.000Z, 1 metric, 1 event\n/);
    assert.match(text(), /\n {2}\[info\/normal\] e1: body {2}ts=1700000000\n$/);
    await wrapped.flush([], [], Date.now() + 1_000);
    assert.match(text(), /0 metrics, 0 events\n$/);
    assert.equal(ctx.logLines.filter((l) => l.msg === 'debug sink flush' && l.level === 20).length, 2);
  });

  it('accepts output: stdout|stderr and rejects anything else', () => {
    assert.equal(debugSinkDefinition.parseConfig(undefined, section).output, 'stdout');
    assert.equal(debugSinkDefinition.parseConfig({ output: 'stderr' }, section).output, 'stderr');
    assert.throws(
      () => debugSinkDefinition.parseConfig({ output: 'file' }, section),
      /metric_sinks\[0\]\.config\.output/,
    );
  });
});
