import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkEvenly } from './split.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('chunkEvenly', () => {
  it('splits like Go: workers = ceil(n/max), chunks of ceil(n/workers)', () => {
    assert.deepEqual(chunkEvenly(range(5), 2), [[0, 1], [2, 3], [4]]);
    assert.deepEqual(
      chunkEvenly(range(10), 4).map((c) => c.length),
      [4, 4, 2],
    );
    // 25001 with max 25000 -> two nearly equal bodies, not 25000 + 1
    assert.deepEqual(
      chunkEvenly(range(25_001), 25_000).map((c) => c.length),
      [12_501, 12_500],
    );
  });

  it('keeps everything, in order', () => {
    for (const [n, max] of [
      [1, 1],
      [7, 3],
      [100, 7],
      [99, 100],
      [1000, 1],
    ] as const) {
      const chunks = chunkEvenly(range(n), max);
      assert.deepEqual(chunks.flat(), range(n));
      assert.ok(chunks.every((c) => c.length > 0 && c.length <= max));
      assert.equal(chunks.length, Math.ceil(n / max));
    }
  });

  it('gives no chunk for nothing and one chunk when max <= 0 (Go divides by zero)', () => {
    assert.deepEqual(chunkEvenly([], 10), []);
    assert.deepEqual(chunkEvenly([1, 2, 3], 0), [[1, 2, 3]]);
    assert.deepEqual(chunkEvenly([1, 2, 3], -5), [[1, 2, 3]]);
    assert.deepEqual(chunkEvenly([1, 2, 3], Number.NaN), [[1, 2, 3]]);
  });
});
