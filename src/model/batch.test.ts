import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gauge } from '../../test/helpers/sink-context.js';
import { batchSize, chunksOf, collect, MetricFanout } from './batch.js';
import type { InterMetric } from './metric.js';

const names = (ms: readonly InterMetric[]) => ms.map((m) => m.name);

describe('MetricFanout', () => {
  it('gives every reader every chunk, frozen and shared, in order', async () => {
    const f = new MetricFanout();
    const a = f.reader();
    const b = f.reader();
    const gotA: (readonly InterMetric[])[] = [];
    const readA = (async () => {
      for await (const c of a) gotA.push(c);
    })();
    f.push([gauge('x', 1), gauge('y', 2)]);
    f.push([]); // empty chunks are not handed out
    f.push([gauge('z', 3)]);
    f.end();
    await readA;
    const gotB = await collect(b); // a reader that starts late still gets the queued chunks
    assert.deepEqual(gotA.map(names), [['x', 'y'], ['z']]);
    assert.deepEqual(names(gotB), ['x', 'y', 'z']);
    assert.ok(gotA.every((c) => Object.isFrozen(c)));
    assert.equal(f.produced, 3);
    assert.equal(await a.total, 3);
  });

  it('never waits for readers; a closed reader drops what it has not read', async () => {
    const f = new MetricFanout();
    const slow = f.reader();
    const fast = f.reader();
    const it = slow[Symbol.asyncIterator]();
    f.push([gauge('a', 1)]);
    assert.deepEqual(names((await it.next()).value as InterMetric[]), ['a']);
    f.push([gauge('b', 1)]);
    slow.close();
    f.push([gauge('c', 1)]);
    f.end();
    assert.equal((await it.next()).done, true);
    assert.deepEqual(names(await collect(fast)), ['a', 'b', 'c']);
    assert.equal(await batchSize(slow), 3);
  });

  it('wakes a reader that is waiting when the producer ends', async () => {
    const f = new MetricFanout();
    const r = f.reader();
    const pending = r[Symbol.asyncIterator]().next();
    f.end();
    assert.equal((await pending).done, true);
  });

  it('refuses readers after the first chunk (they would miss it)', () => {
    const f = new MetricFanout();
    f.reader();
    f.push([gauge('a', 1)]);
    assert.throws(() => f.reader(), /after the first chunk/);
  });
});

describe('chunksOf', () => {
  it('hands a small array over as itself and cuts a large one into chunks', async () => {
    const small = [gauge('a', 1)];
    const chunks: (readonly InterMetric[])[] = [];
    for await (const c of chunksOf(small)) chunks.push(c);
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0], small);
    const big = Array.from({ length: 10_000 }, (_, i) => gauge(`m${i}`, i));
    const sizes: number[] = [];
    for await (const c of chunksOf(big)) sizes.push(c.length);
    assert.deepEqual(sizes, [4096, 4096, 1808]);
    for await (const _ of chunksOf([])) assert.fail('no chunk for an empty batch');
  });
});
