import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, withRetry } from './retry.js';

describe('withRetry', () => {
  it('returns the first success and passes the attempt number', async () => {
    const seen: number[] = [];
    const v = await withRetry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return 'ok';
      },
      { attempts: 5, baseDelayMs: 1, maxDelayMs: 2 },
    );
    assert.equal(v, 'ok');
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('rethrows the last error after the attempts are used up', async () => {
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new Error(`fail ${n}`);
        },
        { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      ),
      /fail 3/,
    );
    assert.equal(n, 3);
  });

  it('does not retry errors that are not retryable', async () => {
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new Error('permanent');
        },
        { attempts: 5, baseDelayMs: 1, maxDelayMs: 1, isRetryable: () => false },
      ),
      /permanent/,
    );
    assert.equal(n, 1);
  });

  it('stops sleeping as soon as the signal aborts, rethrowing the last error', async () => {
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 30);
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new Error(`fail ${n}`);
        },
        { attempts: 10, baseDelayMs: 5_000, maxDelayMs: 5_000, signal: ac.signal },
      ),
      /fail 1/,
    );
    assert.equal(n, 1);
    assert.ok(Date.now() - started < 1_000, 'must not sleep past the abort');
  });

  it('does not start when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
        },
        { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, signal: ac.signal },
      ),
      /gone/,
    );
    assert.equal(n, 0);
  });

  it('backs off exponentially with equal jitter, capped', () => {
    assert.equal(
      backoffDelay(1, 100, 1_000, () => 0),
      50,
    );
    assert.equal(
      backoffDelay(1, 100, 1_000, () => 0.999999),
      99.99995,
    );
    assert.equal(
      backoffDelay(2, 100, 1_000, () => 0),
      100,
    );
    assert.equal(
      backoffDelay(3, 100, 1_000, () => 0),
      200,
    );
    assert.equal(
      backoffDelay(10, 100, 1_000, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(1, 0, 1_000, () => 0.5),
      0,
    );
  });
});
