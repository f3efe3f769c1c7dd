/** The `veneur` command line: flags, config validation, errors naming the YAML path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runVeneur, startVeneur, writeTempConfig } from '../helpers/veneur-process.js';

describe('veneur CLI', { timeout: 60_000 }, () => {
  it('-validate-config accepts a valid file and exits 0', async () => {
    const f = writeTempConfig('statsd_listen_addresses: [udp://127.0.0.1:0]\ninterval: 5s\n');
    const r = await runVeneur(['-f', f, '-validate-config']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('a bad value fails at start with the YAML path and what was expected', async () => {
    const f = writeTempConfig(
      'metric_sinks:\n  - kind: datadog\n    name: dd\n    config: {api_key: k, api_hostname: "http://x", flush_max_per_body: lots}\n',
    );
    const r = await runVeneur(['-f', f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /metric_sinks\[0\]\.config\.flush_max_per_body/);
  });

  it('an unknown sink kind names its path', async () => {
    const f = writeTempConfig('metric_sinks:\n  - {kind: debug, name: a}\n  - {kind: nosuch, name: b}\n');
    const r = await runVeneur(['-f', f, '-validate-config']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /metric_sinks\[1\]\.kind/);
  });

  it('-validate-config-strict rejects unknown keys; plain validation tolerates them', async () => {
    const f = writeTempConfig('interval: 10s\nno_such_key: 1\n');
    const strict = await runVeneur(['-f', f, '-validate-config-strict']);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /no_such_key/);
    const loose = await runVeneur(['-f', f, '-validate-config']);
    assert.equal(loose.code, 0, loose.stderr);
  });

  it('VENEUR_* environment overrides the file', async () => {
    const f = writeTempConfig('interval: 10s\nhttp_address: 127.0.0.1:0\n');
    const v = await startVeneur(null, {
      args: ['-f', f],
      env: { VENEUR_INTERVAL: '2s', VENEUR_STATSDLISTENADDRESSES: 'udp://127.0.0.1:0' },
    });
    try {
      assert.equal(v.statsd.length, 1);
      assert.ok(v.logs.some((l) => l.msg === 'veneur started' && l.interval_ms === 2000));
    } finally {
      assert.equal(await v.stop(), 0);
    }
  });

  it('-h prints usage and unknown flags fail with exit 2', async () => {
    const h = await runVeneur(['-h']);
    assert.equal(h.code, 0);
    assert.match(h.stderr, /-validate-config-strict/);
    const bad = await runVeneur(['-nosuchflag']);
    assert.equal(bad.code, 2);
  });
});
