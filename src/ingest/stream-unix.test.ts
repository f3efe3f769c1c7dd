import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { recordingListener, waitFor } from '../../test/helpers/stream-listener.js';
import { RecordingTelemetry } from '../telemetry/types.js';
import type { StreamListener, UnixStreamListener } from './stream.js';

function send(path: string, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect(path, () => c.end(data));
    c.once('error', reject);
    c.once('close', () => resolve());
  });
}

/** Leave a socket file behind the way a SIGKILLed listener does. */
function staleSocket(path: string): Promise<void> {
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

describe('unix stream listener', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'veneur-unix-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const toStop: StreamListener[] = [];
  afterEach(async () => {
    for (const l of toStop.splice(0)) await l.stop(Date.now() + 1000);
  });

  function listen(text: string) {
    const telemetry = new RecordingTelemetry();
    const { listener, lines } = recordingListener(text, telemetry);
    toStop.push(listener);
    return { listener: listener as UnixStreamListener, lines, telemetry };
  }

  it('delivers lines over a path socket, world-writable, removed at stop', async () => {
    const path = join(dir, 'statsd.sock');
    const { listener, lines } = listen(`unix://${path}`);
    await listener.start();
    assert.equal(listener.kind, 'unix');
    assert.deepEqual(listener.address(), { path });
    const st = lstatSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o666);
    await send(path, 'u:1|c\r\nv:2|g\nlast:3|c');
    await waitFor(() => lines.length === 3, '3 lines');
    assert.deepEqual(lines, ['u:1|c', 'v:2|g', 'last:3|c']);
    await listener.stop(Date.now() + 1000);
    assert.equal(existsSync(path), false);
  });

  it('replaces a stale socket file left by a killed listener', async () => {
    const path = join(dir, 'stale.sock');
    await staleSocket(path);
    assert.ok(lstatSync(path).isSocket(), 'the killed process left its socket file');
    const { listener, lines } = listen(`unix://${path}`);
    await listener.start();
    await send(path, 'fresh:1|c\n');
    await waitFor(() => lines.length === 1, '1 line');
  });

  it('refuses to take over a socket another listener is serving', async () => {
    const path = join(dir, 'busy.sock');
    const first = listen(`unix://${path}`);
    await first.listener.start();
    const second = listen(`unix://${path}`);
    await assert.rejects(second.listener.start(), /unix socket .*busy\.sock is in use by another process/);
    await send(path, 'still-first:1|c\n');
    await waitFor(() => first.lines.length === 1, 'first listener still serves');
  });

  it('fails start() with a clear error when the path is a regular file, and keeps the file', async () => {
    const path = join(dir, 'not-a-socket');
    writeFileSync(path, 'precious');
    const { listener } = listen(`unix://${path}`);
    await assert.rejects(listener.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_LISTEN');
      assert.match(err.message, /not-a-socket exists and is not a socket; refusing to replace it/);
      return true;
    });
    assert.ok(lstatSync(path).isFile());
    await listener.stop(Date.now());
  });

  it('stop() without start() is fine; address() before start() throws', async () => {
    const { listener } = listen(`unix://${join(dir, 'never.sock')}`);
    await listener.stop(Date.now());
    assert.throws(() => listener.address(), /not started/);
  });

  for (const form of ['unix:@', 'unix://@']) {
    it(`listens on an abstract socket (${form}name)`, { skip: process.platform !== 'linux' }, async () => {
      const name = `veneur-test-${process.pid}-${form.length}`;
      const { listener, lines } = listen(`${form}${name}`);
      await listener.start();
      assert.deepEqual(listener.address(), { path: `@${name}` });
      assert.equal(existsSync(`@${name}`), false, 'no file named @name in the cwd');
      // Node 20 clients reach Node 20's (NUL-padded) abstract address; see UnixStreamListener
      await send(`\0${name}`, 'abstract:1|c\n');
      await waitFor(() => lines.length === 1, '1 line');
      assert.deepEqual(lines, ['abstract:1|c']);
      await listener.stop(Date.now() + 1000);
      await assert.rejects(send(`\0${name}`, 'late:1|c\n'));
    });
  }
});
