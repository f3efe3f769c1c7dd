import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { DEFAULT_CONFIG_YAML, loadDefaultConfig } from './default.js';
import { loadConfig } from './load.js';

describe('embedded default config', () => {
  it('is plain YAML and loads in strict mode without warnings', () => {
    assert.equal(typeof YAML.parse(DEFAULT_CONFIG_YAML), 'object');
    const warnings: string[] = [];
    loadConfig({ text: DEFAULT_CONFIG_YAML, env: {}, strict: true, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(warnings, []);
  });

  it('gives statsd on loopback, HTTP on 8127, 10s, percentiles, aggregates and a debug sink', () => {
    const c = loadDefaultConfig({ env: {} });
    assert.deepEqual(c.statsdListenAddresses, ['udp://127.0.0.1:8126']);
    assert.equal(c.httpAddress, '127.0.0.1:8127');
    assert.equal(c.intervalMs, 10_000);
    assert.equal(c.numReaders, 1);
    assert.deepEqual(c.percentiles, [0.5, 0.75, 0.99]);
    assert.deepEqual(c.aggregates, ['min', 'max', 'count']);
    assert.equal(c.metricSinks.length, 1);
    assert.deepEqual(
      { kind: c.metricSinks[0]?.kind, name: c.metricSinks[0]?.name, path: c.metricSinks[0]?.path },
      { kind: 'debug', name: 'debug', path: 'metric_sinks[0]' },
    );
    assert.ok(Object.isFrozen(c));
  });

  it('takes the VENEUR_* overlay like a file does', () => {
    const c = loadDefaultConfig({ env: { VENEUR_HTTPADDRESS: '127.0.0.1:0', VENEUR_INTERVAL: '1s' } });
    assert.equal(c.httpAddress, '127.0.0.1:0');
    assert.equal(c.intervalMs, 1000);
  });
});
