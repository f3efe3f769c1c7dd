import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import YAML from 'yaml';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../util/errors.js';
import { HttpServer, parseHttpAddress } from './http.js';

const logger = pino({ level: 'silent' });

const SECRET_DSN = 'https://secret-key@sentry.example/42';

function server(yaml: string, extra: { printSecrets?: boolean; onQuit?: () => void } = {}): HttpServer {
  const config = loadConfig({ text: `http_address: 127.0.0.1:0\n${yaml}`, env: {} });
  return new HttpServer({
    config,
    version: 'v1.2.3-abc',
    buildDate: '2024-01-02T03:04:05Z',
    printSecrets: extra.printSecrets ?? false,
    logger,
    onQuit: extra.onQuit ?? (() => {}),
  });
}

const started: HttpServer[] = [];
async function start(s: HttpServer): Promise<string> {
  await s.start();
  started.push(s);
  const { host, port } = s.address();
  assert.equal(host, '127.0.0.1');
  assert.ok(port > 0);
  return `http://127.0.0.1:${port}`;
}

after(async () => {
  await Promise.all(started.map((s) => s.stop(Date.now() + 1000)));
});

describe('HttpServer routes', () => {
  it('serves healthchecks, version and build date', async () => {
    const base = await start(server(''));
    for (const path of ['/healthcheck', '/healthcheck/tracing']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      assert.equal(await res.text(), 'ok\n');
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    }
    const v = await fetch(`${base}/version`);
    assert.equal(v.status, 200);
    assert.equal(await v.text(), 'v1.2.3-abc');
    const b = await fetch(`${base}/builddate`);
    assert.equal(await b.text(), '2024-01-02T03:04:05Z');
    // query strings do not matter; HEAD works like GET without a body
    assert.equal((await fetch(`${base}/healthcheck?x=1`)).status, 200);
    const head = await fetch(`${base}/healthcheck`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });

  it('404 for unknown paths, 405 for a wrong method', async () => {
    const base = await start(server('http_quit: true'));
    for (const path of ['/', '/nope', '/healthcheck/', '/debug/pprof/', '/import']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
    const post = await fetch(`${base}/healthcheck`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.arrayBuffer();
    const get = await fetch(`${base}/quitquitquit`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    await get.arrayBuffer();
  });

  it('/config/json and /config/yaml are 404 unless http.config is true', async () => {
    const base = await start(server(`sentry_dsn: ${SECRET_DSN}`));
    for (const path of ['/config/json', '/config/yaml']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 404, path);
      await res.arrayBuffer();
    }
  });

  it('/config/json and /config/yaml redact secrets', async () => {
    const base = await start(server(`http: {config: true}\nsentry_dsn: ${SECRET_DSN}\ninterval: 10s\n`));
    const json = await fetch(`${base}/config/json`);
    assert.equal(json.status, 200);
    assert.equal(json.headers.get('content-type'), 'application/json');
    const jsonText = await json.text();
    assert.ok(!jsonText.includes('secret-key'));
    const obj = JSON.parse(jsonText) as Record<string, unknown>;
    assert.equal(obj.SentryDsn, 'REDACTED');
    assert.equal(obj.Interval, 10_000_000_000);
    assert.equal(obj.HTTPAddress, '127.0.0.1:0');

    const yaml = await fetch(`${base}/config/yaml`);
    assert.equal(yaml.status, 200);
    assert.equal(yaml.headers.get('content-type'), 'application/x-yaml');
    const yamlText = await yaml.text();
    assert.ok(!yamlText.includes('secret-key'));
    const doc = YAML.parse(yamlText) as Record<string, unknown>;
    assert.equal(doc.sentry_dsn, 'REDACTED');
    assert.equal(doc.interval, '10s');
  });

  it('-print-secrets shows them', async () => {
    const base = await start(
      server(`http: {config: true}\nsentry_dsn: ${SECRET_DSN}\n`, { printSecrets: true }),
    );
    const obj = (await (await fetch(`${base}/config/json`)).json()) as Record<string, unknown>;
    assert.equal(obj.SentryDsn, SECRET_DSN);
  });

  it('POST /quitquitquit is 404 unless http_quit is true', async () => {
    let quits = 0;
    const base = await start(server('', { onQuit: () => quits++ }));
    const res = await fetch(`${base}/quitquitquit`, { method: 'POST' });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    assert.equal(quits, 0);
  });

  it('POST /quitquitquit answers, then calls onQuit once', async () => {
    let quits = 0;
    let resolveQuit: () => void = () => {};
    const quitted = new Promise<void>((r) => {
      resolveQuit = r;
    });
    const base = await start(
      server('http_quit: true', {
        onQuit: () => {
          quits++;
          resolveQuit();
        },
      }),
    );
    const res = await fetch(`${base}/quitquitquit`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Beginning graceful shutdown....\n');
    await quitted;
    const again = await fetch(`${base}/quitquitquit`, { method: 'POST' });
    assert.equal(again.status, 200);
    await again.arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(quits, 1);
  });
});

describe('HttpServer lifecycle', () => {
  it('stop is safe without start and idempotent; address() needs start', async () => {
    const s = server('');
    assert.equal(s.kind, 'http');
    await s.stop(Date.now() + 100);
    assert.throws(() => s.address());
    await s.start();
    const { port } = s.address();
    const res = await fetch(`http://127.0.0.1:${port}/healthcheck`);
    assert.equal(res.status, 200);
    await res.text();
    await Promise.all([s.stop(Date.now() + 1000), s.stop(Date.now() + 1000)]);
    await s.stop(Date.now() + 1000);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthcheck`));
  });

  it('stop cuts open keep-alive connections by the deadline', async () => {
    const s = server('');
    await s.start();
    const { port } = s.address();
    const res = await fetch(`http://127.0.0.1:${port}/healthcheck`, {
      headers: { connection: 'keep-alive' },
    });
    await res.text();
    const t0 = Date.now();
    await s.stop(Date.now() + 2000);
    assert.ok(Date.now() - t0 < 1500, 'idle keep-alive connections are closed at once');
  });

  it('start fails when the port is taken', async () => {
    const a = server('');
    const base = await start(a);
    const port = Number(new URL(base).port);
    const config = loadConfig({ text: `http_address: 127.0.0.1:${port}`, env: {} });
    const b = new HttpServer({
      config,
      version: '',
      buildDate: '',
      printSecrets: false,
      logger,
      onQuit: () => {},
    });
    await assert.rejects(b.start(), /EADDRINUSE/);
    await b.stop(Date.now());
  });
});

describe('parseHttpAddress', () => {
  it('host:port, :port (all interfaces), [v6]:port, fd@N, einhorn@N', () => {
    assert.deepEqual(parseHttpAddress('127.0.0.1:8127'), { host: '127.0.0.1', port: 8127 });
    assert.deepEqual(parseHttpAddress(':0'), { host: undefined, port: 0 });
    assert.deepEqual(parseHttpAddress('[::1]:8127'), { host: '::1', port: 8127 });
    assert.deepEqual(parseHttpAddress('fd@3'), { fd: 3 });
    assert.deepEqual(parseHttpAddress('einhorn@0', { EINHORN_FD_0: '5' }), { fd: 5 });
    assert.throws(() => parseHttpAddress('einhorn@1', {}), ConfigError);
    assert.throws(() => parseHttpAddress(''), ConfigError);
  });

  it('listens on all interfaces for :port', async () => {
    const config = loadConfig({ text: 'http_address: ":0"', env: {} });
    const s = new HttpServer({
      config,
      version: '',
      buildDate: '',
      printSecrets: false,
      logger,
      onQuit: () => {},
    });
    await s.start();
    try {
      const { host, port } = s.address();
      assert.ok(host === '::' || host === '0.0.0.0', host);
      const res = await fetch(`http://127.0.0.1:${port}/healthcheck`);
      assert.equal(res.status, 200);
      await res.text();
    } finally {
      await s.stop(Date.now() + 1000);
    }
  });
});
