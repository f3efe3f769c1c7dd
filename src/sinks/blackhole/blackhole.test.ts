import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dogEvent, gauge, testSinkContext } from '../../../test/helpers/sink-context.js';
import { blackholeSinkDefinition } from './sink.js';

describe('blackhole sink', () => {
  it('accepts everything and reports it flushed', async () => {
    const section = { path: 'metric_sinks[0].config', envPrefix: '', env: {}, strict: true };
    const sink = blackholeSinkDefinition.create(
      blackholeSinkDefinition.parseConfig(undefined, section),
      testSinkContext({ name: 'bh' }),
    );
    assert.equal(sink.kind, 'blackhole');
    assert.equal(sink.name, 'bh');
    await sink.start();
    const signal = new AbortController().signal;
    await sink.flushEvents?.([dogEvent()], signal);
    assert.deepEqual(await sink.flush([gauge('a', 1), gauge('b', 2)], signal), {
      flushed: 2,
      skipped: 0,
      dropped: 0,
    });
    await sink.stop(Date.now());
    await sink.stop(Date.now());
    assert.throws(() => blackholeSinkDefinition.parseConfig({ nope: 1 }, section), /nope/);
  });
});
