/**
 * Go Veneur v14's own Datadog payloads (shared/golden/dogstatsd-to-datadog) fed back in:
 * the InterMetrics Go must have flushed are rebuilt from its series.json, and our bodies
 * must be the same bytes as Go's (the golden files are Go's JSON, pretty-printed; we
 * compare against them with the whitespace outside strings removed, so every number
 * literal is compared as Go wrote it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type FakeDatadog, startFakeDatadog } from '../../../test/helpers/fake-datadog.js';
import { check, counter, dogEvent, gauge, testSinkContext } from '../../../test/helpers/sink-context.js';
import type { InterMetric } from '../../model/metric.js';
import { parseDatadogConfig } from './config.js';
import { createDatadogSink } from './sink.js';

// copied into the repository from shared/golden: a missing file fails the test
const GOLDEN = join(import.meta.dirname, '../../../test/fixtures/golden/dogstatsd-to-datadog');

/** Remove insignificant whitespace from JSON text, keeping every token byte-for-byte. */
function compactJson(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i];
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
      out += ch;
    } else if (ch !== ' ' && ch !== '\n' && ch !== '\r' && ch !== '\t') {
      out += ch;
    }
  }
  return out;
}

interface GoldenSeries {
  metric: string;
  points: [number, number][];
  tags?: string[];
  type: 'rate' | 'gauge';
}

const INTERVAL = 3; // config.yaml: interval: 3s

describe('datadog sink matches Go Veneur golden payloads', () => {
  const dir = GOLDEN;
  let fake: FakeDatadog;
  before(async () => {
    fake = await startFakeDatadog({ apiKey: 'goldenkey' });
  });
  after(async () => {
    await fake.close();
  });

  function makeSink() {
    const ctx = testSinkContext({ name: 'datadog', hostname: 'goldenhost', intervalSeconds: INTERVAL });
    const config = parseDatadogConfig(
      { api_key: 'goldenkey', api_hostname: fake.url, flush_max_per_body: 5000 },
      { path: 'metric_sinks[0].config', envPrefix: '', env: {}, strict: true },
    );
    return createDatadogSink(config, ctx);
  }

  it('series.json: same bytes', async () => {
    const text = readFileSync(join(dir, 'series.json'), 'utf8');
    const golden = JSON.parse(text) as GoldenSeries[];
    const metrics: InterMetric[] = golden.map((s) => {
      const [ts, v] = s.points[0]!;
      if (s.type === 'rate') {
        // Go flushed count/interval; counts are integers (per-sample truncation, §14.1).
        const count = Math.round(v * INTERVAL);
        assert.equal(count / INTERVAL, v, `${s.metric}: rate is an integer count / interval`);
        return counter(s.metric, count, s.tags ?? [], ts);
      }
      return gauge(s.metric, v, s.tags ?? [], ts);
    });
    const sink = makeSink();
    fake.requests.length = 0;
    const res = await sink.flush(metrics, new AbortController().signal);
    assert.deepEqual(res, { flushed: golden.length, skipped: 0, dropped: 0 });
    const reqs = fake.requestsTo('/api/v1/series');
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]!.text, `{"series":${compactJson(text)}}\n`);
    assert.deepEqual(fake.violations, []);
    await sink.stop(Date.now() + 1_000);
  });

  it('check_run.json: same bytes, uncompressed', async () => {
    const text = readFileSync(join(dir, 'check_run.json'), 'utf8');
    const ts = (JSON.parse(text) as { timestamp: number }[])[0]!.timestamp;
    // From input.txt: `_sc|golden.check|1|#env:prod|m:disk almost full`, `_sc|golden.check2|0`
    const sink = makeSink();
    fake.requests.length = 0;
    await sink.flush(
      [
        check('golden.check', 1, { tags: ['env:prod'], message: 'disk almost full', timestamp: ts }),
        check('golden.check2', 0, { timestamp: ts }),
      ],
      new AbortController().signal,
    );
    const [req] = fake.requestsTo('/api/v1/check_run');
    assert.equal(req!.raw.toString('utf8'), `${compactJson(text)}\n`);
    assert.deepEqual(fake.violations, []);
    await sink.stop(Date.now() + 1_000);
  });

  it('events.json: same bytes', async () => {
    const text = readFileSync(join(dir, 'events.json'), 'utf8');
    const ts = (JSON.parse(text) as { timestamp: number }[])[0]!.timestamp;
    // From input.txt: `_e{12,9}:golden title|some text|p:low|t:warning|#env:prod`
    const sink = makeSink();
    fake.requests.length = 0;
    await sink.flushEvents(
      [
        dogEvent({
          title: 'golden title',
          text: 'some text',
          timestamp: ts,
          priority: 'low',
          alertType: 'warning',
          tags: new Map([['env', 'prod']]),
        }),
      ],
      new AbortController().signal,
    );
    const [req] = fake.requestsTo('/intake');
    assert.equal(req!.text, `{"events":{"api":${compactJson(text)}}}\n`);
    assert.deepEqual(fake.violations, []);
    await sink.stop(Date.now() + 1_000);
  });
});
