import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError } from '../util/errors.js';
import { parseSection, type SectionContext, zDuration, zGoString, zSecret } from './section.js';

/** A sink-style section, as a sink kind's parseConfig would declare it. */
const sinkSchema = z.object({
  api_key: zSecret,
  api_hostname: zGoString.default('https://app.datadoghq.com'),
  flush_max_per_body: z.number().int().default(25_000),
  flush_timeout: zDuration.default(10_000),
  enabled: z.boolean().default(false),
  tags: z.array(zGoString).default([]),
  nested: z.object({ on: z.boolean().default(false) }).prefault({}),
});

const ctx = (over: Partial<SectionContext> = {}): SectionContext => ({
  path: 'metric_sinks[2].config',
  envPrefix: 'DD',
  env: {},
  strict: false,
  ...over,
});

describe('parseSection (sink config sections)', () => {
  it('applies defaults and the per-sink env prefix (sink name)', () => {
    const out = parseSection(
      sinkSchema,
      { api_key: 'k' },
      ctx({ env: { DD_FLUSHMAXPERBODY: '5000', DD_TAGS: 'a,b' } }),
    );
    assert.equal(out.api_key.reveal(), 'k');
    assert.equal(out.api_hostname, 'https://app.datadoghq.com');
    assert.equal(out.flush_max_per_body, 5000);
    assert.equal(out.flush_timeout, 10_000);
    assert.deepEqual(out.tags, ['a', 'b']);
    assert.equal(
      parseSection(sinkSchema, {}, ctx({ env: { DD_APIKEY: 'from-env' } })).api_key.reveal(),
      'from-env',
    );
    assert.equal(
      parseSection(sinkSchema, { api_key: 'k' }, ctx({ env: { DD_NESTED_ON: 'true' } })).nested.on,
      true,
    );
  });

  it('errors carry the full YAML path', () => {
    assert.throws(
      () => parseSection(sinkSchema, { api_key: 'k', flush_timeout: 'soon' }, ctx()),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.path === 'metric_sinks[2].config.flush_timeout' &&
        /expected a duration like "10s"/.test(err.message),
    );
    assert.throws(
      () => parseSection(sinkSchema, {}, ctx()),
      (err: unknown) =>
        err instanceof ConfigError && err.message === 'metric_sinks[2].config.api_key: required (a string)',
    );
    assert.throws(
      () => parseSection(sinkSchema, { api_key: 'k', flush_max_per_body: 'lots' }, ctx()),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message === 'metric_sinks[2].config.flush_max_per_body: expected a number, got a string',
    );
    assert.throws(
      () => parseSection(sinkSchema, 'oops', ctx()),
      (err: unknown) => err instanceof ConfigError && err.path === 'metric_sinks[2].config',
    );
  });

  it('keys without a value take their default; YAML 1.1 booleans fill boolean fields', () => {
    const out = parseSection(
      sinkSchema,
      { api_key: 'k', api_hostname: null, enabled: 'yes', nested: { on: 'on' } },
      ctx(),
    );
    assert.equal(out.api_hostname, 'https://app.datadoghq.com');
    assert.equal(out.enabled, true);
    assert.equal(out.nested.on, true);
    assert.throws(() => parseSection(sinkSchema, { api_key: 'k', enabled: 'maybe' }, ctx()), ConfigError);
  });

  it('unknown keys: reported in non-strict mode, rejected in strict mode; ignoredKeys match paths and prefixes', () => {
    const seen: [string, boolean][] = [];
    const ignoredKeys = new Set(['old_*', 'nested.legacy']);
    parseSection(
      sinkSchema,
      { api_key: 'k', old_thing: 1, other: 2, nested: { legacy: true, typo: 1 } },
      ctx({ ignoredKeys, onIgnored: (p, legacy) => seen.push([p, legacy]) }),
    );
    assert.deepEqual(seen, [
      ['metric_sinks[2].config.old_thing', true],
      ['metric_sinks[2].config.other', false],
      ['metric_sinks[2].config.nested.legacy', true],
      ['metric_sinks[2].config.nested.typo', false],
    ]);
    assert.throws(
      () => parseSection(sinkSchema, { api_key: 'k', other: 2 }, ctx({ strict: true })),
      (err: unknown) => err instanceof ConfigError && err.path === 'metric_sinks[2].config.other',
    );
  });

  it('secrets never print', () => {
    const out = parseSection(sinkSchema, { api_key: 'sekrit' }, ctx());
    assert.equal(JSON.stringify(out).includes('sekrit'), false);
    assert.equal(String(out.api_key), 'REDACTED');
  });
});
