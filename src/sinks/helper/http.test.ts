import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { RecordingTelemetry } from '../../telemetry/types.js';
import { deflateZlib, HttpClient, HttpError, HttpTransportError } from './http.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  socketId: number;
}

describe('HttpClient', () => {
  let server: Server;
  let base: string;
  let seen: Seen[] = [];
  let script: ((res: ServerResponse) => void)[] = [];
  let connections = 0;
  const sockets = new WeakMap<object, number>();

  before(async () => {
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let id = sockets.get(req.socket);
      if (id === undefined) {
        id = ++connections;
        sockets.set(req.socket, id);
      }
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        socketId: id,
      });
      const step = script.shift();
      if (step) step(res);
      else res.writeHead(200).end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    seen = [];
    script = [];
  });

  const client = (telemetry = new RecordingTelemetry()) =>
    new HttpClient({ telemetry, baseDelayMs: 5, maxDelayMs: 10 });

  it('sends and resolves on 2xx, reusing the keep-alive connection', async () => {
    const http = client();
    const r1 = await http.send({
      method: 'POST',
      url: `${base}/a?x=1`,
      body: 'hi',
      headers: { 'x-test': 'y' },
    });
    // undici frees the socket just after the body is consumed; flushes are seconds apart.
    await new Promise((r) => setTimeout(r, 20));
    const r2 = await http.send({ method: 'POST', url: `${base}/b`, body: 'there' });
    assert.deepEqual(r1, { status: 200, body: 'ok' });
    assert.equal(r2.status, 200);
    assert.equal(seen[0]!.url, '/a?x=1');
    assert.equal(seen[0]!.headers['x-test'], 'y');
    assert.equal(seen[0]!.body.toString(), 'hi');
    assert.equal(seen[0]!.socketId, seen[1]!.socketId, 'second request must reuse the socket');
    await http.close();
  });

  it('retries 5xx and 429, then succeeds; counts each failed attempt by cause', async () => {
    const tel = new RecordingTelemetry();
    const http = client(tel);
    script = [(res) => res.writeHead(503).end('busy'), (res) => res.writeHead(429).end('slow down')];
    const r = await http.send({ method: 'POST', url: `${base}/x`, body: 'b', action: 'flush' });
    assert.equal(r.status, 200);
    assert.equal(seen.length, 3);
    assert.equal(tel.total('flush.error_total', ['cause:503']), 1);
    assert.equal(tel.total('flush.error_total', ['cause:429']), 1);
    assert.ok(
      tel.calls.some(
        (c) => c.kind === 'timing' && c.name === 'flush.duration_ns' && c.tags.includes('part:post'),
      ),
    );
    await http.close();
  });

  it('gives up after 3 attempts with the last HttpError', async () => {
    const http = client();
    script = [0, 1, 2].map(() => (res: ServerResponse) => res.writeHead(500).end('x'.repeat(1000)));
    const err = await http
      .send({ method: 'POST', url: `${base}/y?api_key=SECRET`, body: 'b' })
      .catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 500);
    assert.equal(seen.length, 3);
    assert.ok(err.bodyExcerpt.length <= 201, 'body excerpt is short');
    assert.ok(!err.message.includes('SECRET'), 'the query string (API key) is never in messages');
    await http.close();
  });

  it('does not retry a 400', async () => {
    const tel = new RecordingTelemetry();
    const http = client(tel);
    script = [(res) => res.writeHead(400).end('{"errors":["bad"]}')];
    const err = await http
      .send({ method: 'POST', url: `${base}/z`, body: 'b', action: 'flush' })
      .catch((e: unknown) => e);
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 400);
    assert.match(err.message, /HTTP 400: \{"errors":\["bad"\]\}/);
    assert.equal(seen.length, 1);
    assert.equal(tel.total('flush.error_total', ['cause:400']), 1);
    await http.close();
  });

  it('retries connection errors and reports them as transport errors (cause io)', async () => {
    const tel = new RecordingTelemetry();
    const http = client(tel);
    const dead = createServer();
    dead.listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const err = await http
      .send({ method: 'POST', url: `http://127.0.0.1:${port}/`, body: 'b', action: 'flush' })
      .catch((e: unknown) => e);
    assert.ok(err instanceof HttpTransportError);
    assert.equal(err.aborted, false);
    assert.equal(tel.total('flush.error_total', ['cause:io']), 3);
    await http.close();
  });

  it('stops at once when the signal aborts (cause timeout), without retrying', async () => {
    const tel = new RecordingTelemetry();
    const http = client(tel);
    script = [() => {}]; // never answer
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 50);
    const err = await http
      .send({ method: 'POST', url: `${base}/hang`, body: 'b', action: 'flush', signal: ac.signal })
      .catch((e: unknown) => e);
    assert.ok(err instanceof HttpTransportError);
    assert.equal(err.aborted, true);
    assert.ok(Date.now() - started < 1_000);
    assert.equal(seen.length, 1);
    assert.equal(tel.total('flush.error_total', ['cause:timeout']), 1);
    await http.close(Date.now() + 100);
  });

  it('postJson compresses as a zlib stream with the Go PostHelper headers and telemetry', async () => {
    const tel = new RecordingTelemetry();
    const http = client(tel);
    const json = '{"series":[]}\n';
    await http.postJson({ url: `${base}/api`, action: 'flush', compress: true, render: () => json });
    const req = seen[0]!;
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['content-encoding'], 'deflate');
    assert.equal(req.body[0], 0x78, 'zlib header (RFC 1950), not raw deflate');
    assert.equal(inflateSync(req.body).toString(), json);
    const len = tel.calls.find((c) => c.name === 'flush.content_length_bytes');
    assert.equal(len?.value, req.body.length);
    assert.ok(tel.calls.some((c) => c.name === 'flush.duration_ns' && c.tags.includes('part:json')));

    await http.postJson({
      url: `${base}/api`,
      action: 'flush_checks',
      compress: false,
      render: () => '[]\n',
    });
    assert.equal(seen[1]!.headers['content-encoding'], undefined);
    assert.equal(seen[1]!.body.toString(), '[]\n');
    await http.close();
  });

  it('deflateZlib round-trips', async () => {
    assert.equal(inflateSync(await deflateZlib('hello')).toString(), 'hello');
  });
});
