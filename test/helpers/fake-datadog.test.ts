/** The fake must be strict, or the sink tests prove nothing: check that it rejects deviations. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { type FakeDatadog, startFakeDatadog } from './fake-datadog.js';

const KEY = 'fake-key';
const json = { 'content-type': 'application/json' };
const deflated = { ...json, 'content-encoding': 'deflate' };
const goodSeries =
  '{"series":[{"metric":"m","points":[[1700000000,1.5]],"tags":["a:b"],"type":"gauge","host":"h","interval":10}]}';

describe('fake Datadog intake', () => {
  let fake: FakeDatadog;
  before(async () => {
    fake = await startFakeDatadog({ apiKey: KEY });
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.violations.length = 0;
    fake.requests.length = 0;
    fake.series.length = 0;
  });

  async function post(path: string, headers: Record<string, string>, body: Buffer | string, method = 'POST') {
    const res = await fetch(`${fake.url}${path}`, {
      method,
      headers,
      body: method === 'GET' ? undefined : body,
    });
    await res.text();
    return res.status;
  }

  it('accepts and decodes well-formed requests', async () => {
    assert.equal(await post(`/api/v1/series?api_key=${KEY}`, deflated, deflateSync(goodSeries)), 202);
    assert.equal(
      await post(
        `/api/v1/check_run?api_key=${KEY}`,
        json,
        '[{"check":"c","status":0,"host_name":"h","timestamp":1}]',
      ),
      202,
    );
    assert.equal(
      await post(
        `/intake?api_key=${KEY}`,
        deflated,
        deflateSync('{"events":{"api":[{"msg_title":"t","msg_text":"x"}]}}'),
      ),
      202,
    );
    assert.deepEqual(fake.violations, []);
    assert.equal(fake.series[0]!.metric, 'm');
    assert.equal(fake.checks.length, 1);
    assert.equal(fake.events.length, 1);
  });

  it('rejects a missing or wrong API key with 403', async () => {
    assert.equal(await post('/api/v1/series', deflated, deflateSync(goodSeries)), 403);
    assert.equal(await post('/api/v1/series?api_key=nope', deflated, deflateSync(goodSeries)), 403);
    assert.equal(fake.violations.length, 2);
    assert.equal(fake.series.length, 0);
  });

  it('rejects wrong paths, methods, encodings and content types', async () => {
    const cases: [string, Record<string, string>, Buffer | string, string?][] = [
      [`/api/v2/series?api_key=${KEY}`, deflated, deflateSync(goodSeries)],
      [`/api/v1/series?api_key=${KEY}`, deflated, '', 'GET'],
      [`/api/v1/series?api_key=${KEY}`, json, goodSeries], // not compressed
      [`/api/v1/series?api_key=${KEY}`, deflated, deflateRawSync(goodSeries)], // raw deflate, not zlib
      [`/api/v1/series?api_key=${KEY}`, { ...json, 'content-encoding': 'gzip' }, gzipSync(goodSeries)],
      [
        `/api/v1/series?api_key=${KEY}`,
        { 'content-type': 'text/plain', 'content-encoding': 'deflate' },
        deflateSync(goodSeries),
      ],
      [`/api/v1/check_run?api_key=${KEY}`, deflated, deflateSync('[]')], // check_run must be plain
      [`/api/v1/series?api_key=${KEY}&extra=1`, deflated, deflateSync(goodSeries)],
    ];
    for (const [path, headers, body, method] of cases) {
      const status = await post(path, headers, body, method);
      assert.ok(status >= 400, `${method ?? 'POST'} ${path} ${JSON.stringify(headers)} answered ${status}`);
    }
    assert.equal(fake.violations.length, cases.length);
  });

  it('validates body shapes', async () => {
    const bad = [
      '{"series":[{"points":[[1,2]],"type":"gauge"}]}', // no metric
      '{"series":[{"metric":"m","points":[[1,"2"]],"type":"gauge"}]}', // string value
      '{"series":[{"metric":"m","points":[1,2],"type":"gauge"}]}', // flat points
      '{"series":[{"metric":"m","points":[[1,2]],"type":"histogram"}]}',
      '{"series":[{"metric":"m","points":[[1,2]],"type":"gauge","tags":[]}]}', // Go omits empty tags
      '{"series":[{"metric":"m","points":[[1,2]],"type":"gauge","color":"red"}]}',
      '[{"metric":"m","points":[[1,2]],"type":"gauge"}]',
      'not json',
    ];
    for (const body of bad)
      assert.equal(await post(`/api/v1/series?api_key=${KEY}`, deflated, deflateSync(body)), 400, body);
    assert.equal(fake.violations.length, bad.length);
    assert.equal(
      await post(`/api/v1/check_run?api_key=${KEY}`, json, '[{"check":"c","status":7,"host_name":"h"}]'),
      400,
    );
    assert.equal(
      await post(
        `/intake?api_key=${KEY}`,
        deflated,
        deflateSync('{"events":{"api":[{"msg_title":"t","msg_text":"x","priority":"high"}]}}'),
      ),
      400,
    );
  });

  it('answers injected failures, then recovers; waitFor sees requests', async () => {
    fake.failNext(2, 503);
    const waiting = fake.waitFor((f) => f.series.length === 1, 2_000);
    assert.equal(await post(`/api/v1/series?api_key=${KEY}`, deflated, deflateSync(goodSeries)), 503);
    assert.equal(await post(`/api/v1/series?api_key=${KEY}`, deflated, deflateSync(goodSeries)), 503);
    assert.equal(await post(`/api/v1/series?api_key=${KEY}`, deflated, deflateSync(goodSeries)), 202);
    await waiting;
    assert.deepEqual(
      fake.requests.map((r) => r.status),
      [503, 503, 202],
    );
    assert.deepEqual(fake.violations, []);
    await assert.rejects(
      fake.waitFor(() => false, 20),
      /not met within 20 ms/,
    );
  });

  it('delays answers when told to', async () => {
    fake.delayNext(1, 150);
    const started = Date.now();
    assert.equal(await post(`/api/v1/series?api_key=${KEY}`, deflated, deflateSync(goodSeries)), 202);
    assert.ok(Date.now() - started >= 140);
  });
});
