import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { logVerbosity } from '@grpc/grpc-js';
// grpc-js's internal log entry point: what its transports call
import { log } from '@grpc/grpc-js/build/src/logging.js';
import { pino } from 'pino';
import { routeGrpcLogs } from './grpc-log.js';

describe('grpc-js logs', () => {
  it('go to the pino logger as JSON, not to stderr as text', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n'))
          if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const written: string[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => written.push(a.join(' '));
    try {
      routeGrpcLogs(pino({ level: 'debug' }, sink));
      log(logVerbosity.ERROR, 'Received a %s frame on stream %d', 'RST_STREAM', 7);
    } finally {
      console.error = orig;
    }
    assert.deepEqual(written, [], 'nothing written to stderr');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, 40);
    assert.equal(lines[0]!.component, 'grpc-js');
    assert.equal(lines[0]!.msg, 'Received a RST_STREAM frame on stream 7');
  });
});
