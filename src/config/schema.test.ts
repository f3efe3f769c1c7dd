import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHostPort } from '../util/address.js';
import { compileGoRegex } from './regex.js';
import { checkHttpAddress, checkListenUrl } from './schema.js';

describe('checkListenUrl', () => {
  it('accepts the forms Veneur documents', () => {
    for (const ok of [
      'udp://127.0.0.1:8126',
      'udp://localhost:8126',
      'udp4://:8126',
      'udp6://[::1]:8126',
      'tcp://0.0.0.0:0',
      'tcp4://127.0.0.1:8126/',
      'tcp6://[::]:8126',
      'unixgram:///tmp/veneur.sock',
      'unixgram:@veneur-abstract',
      'unix:///var/run/veneur-ssf.sock',
      'unix:@ssf',
      'UDP://127.0.0.1:8126',
    ]) {
      assert.equal(checkListenUrl(ok), null, ok);
    }
  });

  it('rejects anything else with an example', () => {
    for (const bad of [
      '127.0.0.1:8126',
      'udp:127.0.0.1:8126',
      'udp://127.0.0.1',
      'udp://127.0.0.1:99999',
      'udp://::1:8126',
      'udp://host:80/path',
      'http://127.0.0.1:80',
      'unixgram://',
      'unix:@',
      'unixgram:relative.sock',
      '',
    ]) {
      const msg = checkListenUrl(bad);
      assert.ok(msg !== null, bad);
      assert.match(msg, /^expected a URL like (udp:\/\/127\.0\.0\.1:8126|unix)/, bad);
      assert.ok(msg.endsWith(`got ${JSON.stringify(bad)}`), msg);
    }
  });
});

describe('host:port checks', () => {
  it('parseHostPort', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8127'), { host: '127.0.0.1', port: 8127 });
    assert.deepEqual(parseHostPort(':0'), { host: '', port: 0 });
    assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
    assert.equal(parseHostPort('localhost'), null);
    assert.equal(parseHostPort('::1:80'), null);
    assert.equal(parseHostPort('a:b'), null);
  });

  it('http_address also takes einhorn@N and fd@N', () => {
    for (const ok of ['', 'localhost:8127', ':8127', 'einhorn@0', 'fd@3'])
      assert.equal(checkHttpAddress(ok), null, ok);
    for (const bad of ['8127', 'einhorn@', 'http://x:1']) assert.notEqual(checkHttpAddress(bad), null, bad);
  });
});

describe('compileGoRegex', () => {
  it('compiles RE2 syntax used in configs, unanchored', () => {
    assert.ok(compileGoRegex('^foo\\.').test('foo.bar'));
    assert.ok(compileGoRegex('bar').test('foo.bar'));
    assert.ok(compileGoRegex('(?i)^FOO').test('foo'));
    assert.ok(compileGoRegex('\\Afoo\\z').test('foo'));
    assert.ok(!compileGoRegex('(?m)\\Afoo\\z').test('x\nfoo'));
    assert.throws(() => compileGoRegex('(['), SyntaxError);
  });
});
