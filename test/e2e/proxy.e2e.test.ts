/**
 * The built `veneur-proxy` (dist/main/veneur-proxy.js) as a real process: flags,
 * config errors, Consul discovery against a strict fake agent, routing to fake
 * globals, discovery changes, healthcheck, self-metrics over statsd, SIGTERM, and a
 * real local `veneur` forwarding through it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ForwardClient } from '../../src/forward/client.js';
import { decodeMetric, encodeMetric, type MetricMessage } from '../../src/protocol/forward/metricpb.js';
import { FakeGlobal, silentLogger, waitFor } from '../../src/proxy/testing.js';
import { PROXY_BIN, type ProxyProcess, startProxy } from '../helpers/proxy-process.js';
import { sendUdpLines, startVeneur, writeTempConfig } from '../helpers/veneur-process.js';

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PROXY_BIN, ...args], { env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** A strict fake Consul agent: only GET /v1/health/service/veneur-global?passing=1 without a token. */
async function fakeConsul(): Promise<{ server: Server; port: number; ports: number[]; problems: string[] }> {
  const state = {
    server: undefined as unknown as Server,
    port: 0,
    ports: [] as number[],
    problems: [] as string[],
  };
  state.server = createServer((req, res) => {
    const url = new URL(req.url ?? '', 'http://x');
    const problem =
      req.method !== 'GET'
        ? `method ${req.method}`
        : url.pathname !== '/v1/health/service/veneur-global'
          ? `path ${url.pathname}`
          : url.search !== '?passing=1'
            ? `query ${url.search}`
            : req.headers['x-consul-token'] !== undefined
              ? 'unexpected token'
              : null;
    if (problem) {
      state.problems.push(problem);
      res.statusCode = 400;
      res.end(problem);
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify(
        state.ports.map((p, i) => ({
          Node: { Node: `node${i}`, Address: '127.0.0.1' },
          Service: { Service: 'veneur-global', Port: p, Address: '' },
          Checks: [],
        })),
      ),
    );
  });
  await new Promise<void>((r) => state.server.listen(0, '127.0.0.1', r));
  state.port = (state.server.address() as AddressInfo).port;
  return state;
}

const metric = (i: number): MetricMessage => ({
  name: `e2e.series.${i % 30}`,
  tags: ['env:e2e'],
  type: 0,
  scope: 2,
  value: { kind: 'counter', value: i },
});

describe('veneur-proxy CLI', () => {
  it('-h prints usage and exits 0; no -f exits 2; bad config exits 1 naming the key', async () => {
    const help = await run(['-h']);
    assert.equal(help.code, 0);
    assert.match(help.stderr, /Usage of veneur-proxy:[\s\S]*-f string[\s\S]*-print-secrets[\s\S]*-strict/);
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /-f <config file> is required/);
    const bad = await run(['-f', writeTempConfig('grpc_address: 127.0.0.1:0\nforward_addresses: [nope]\n')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /forward_addresses\[0\]: expected host:port/);
    const unknown = writeTempConfig(
      'grpc_address: 127.0.0.1:0\nforward_addresses: ["127.0.0.1:1"]\nbogus: 1\n',
    );
    const strict = await run(['-f', unknown, '-strict']);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /bogus: unknown key/);
  });
});

describe('veneur-proxy with Consul discovery', () => {
  let consul: Awaited<ReturnType<typeof fakeConsul>>;
  let globals: FakeGlobal[];
  let proxy: ProxyProcess;
  let statsd: dgram.Socket;
  const statsdLines: string[] = [];

  before(async () => {
    consul = await fakeConsul();
    globals = await Promise.all([new FakeGlobal().start(), new FakeGlobal().start()]);
    consul.ports = globals.map((g) => g.port);
    statsd = dgram.createSocket('udp4');
    statsd.on('message', (b) => statsdLines.push(...b.toString().split('\n')));
    await new Promise<void>((r) => statsd.bind(0, '127.0.0.1', r));
    proxy = await startProxy(
      [
        'grpc_address: 127.0.0.1:0',
        'http_address: 127.0.0.1:0',
        'forward_service: veneur-global',
        'discovery_interval: 300ms',
        'dial_timeout: 2s',
        // the window copy is cleared at each wall-clock boundary of resend_window: with the
        // default 10 s, a boundary between the first batch and B's removal (~1 s apart)
        // legitimately forgot B's copy and the test failed now and then
        'resend_window: 1h',
        'statsd:',
        `  address: 127.0.0.1:${(statsd.address() as AddressInfo).port}`,
        '  aggregation_interval: 200ms',
      ].join('\n'),
      { CONSUL_HTTP_ADDR: `127.0.0.1:${consul.port}` },
    );
  });
  after(async () => {
    await proxy?.stop();
    for (const g of globals ?? []) g.kill();
    consul?.server.close();
    statsd?.close();
  });

  it('routes every metric to one global, follows discovery, is healthy, reports metrics, stops on SIGTERM', async () => {
    const health = await fetch(`http://127.0.0.1:${proxy.httpPort}/healthcheck`);
    assert.equal(health.status, 204);

    const client = new ForwardClient({ address: `127.0.0.1:${proxy.grpcPort}`, logger: silentLogger });
    try {
      const batch = (from: number, to: number): Uint8Array[] =>
        Array.from({ length: to - from }, (_, k) => encodeMetric(metric(from + k)));
      await client.sendMetricsV2(batch(0, 300), AbortSignal.timeout(5000));
      const [a, b] = globals as [FakeGlobal, FakeGlobal];
      await waitFor(() => a.received.length + b.received.length === 300, 'first batch at the globals');
      const seriesAt = (g: FakeGlobal): Set<string> => new Set(g.received.map((m) => decodeMetric(m).name));
      const inter = [...seriesAt(a)].filter((s) => seriesAt(b).has(s));
      assert.deepEqual(inter, [], 'no series at both globals');
      assert.ok(a.received.length > 0 && b.received.length > 0);

      // Consul drops B: the proxy removes it at the next discovery round and re-routes its window to A
      consul.ports = [a.port];
      await waitFor(
        () => proxy.logs.some((l) => l.msg === 'destination removed' && l.reason === 'discovery'),
        'B removed after discovery',
      );
      await waitFor(() => a.received.length === 300, "B's window re-sent to A");
      await client.sendMetricsV2(batch(300, 400), AbortSignal.timeout(5000));
      await waitFor(() => a.received.length === 400, 'new traffic all at A');
      const values = a.received.map((m) => {
        const v = decodeMetric(m).value;
        return v?.kind === 'counter' ? v.value : -1;
      });
      assert.equal(new Set(values).size, 400, 'no duplicates at A');
    } finally {
      await client.close(Date.now() + 1000);
    }

    await waitFor(
      () =>
        statsdLines.some(
          (l) => l.startsWith('veneur_proxy.ingest.metrics_count:') && l.includes('protocol:grpc-stream'),
        ),
      'self-metrics over statsd',
    );
    assert.ok(statsdLines.some((l) => /^veneur_proxy\.discovery\.count:\d+\|c\|#status:success/.test(l)));
    assert.deepEqual(consul.problems, []);

    assert.equal(await proxy.stop(), 0);
    await waitFor(() => globals[0]!.ended >= 1, 'stream to A ended by the proxy');
  });
});

describe('veneur -> veneur-proxy -> global', () => {
  it("a local veneur's forwarded metrics reach the globals through the proxy", async () => {
    const globals = await Promise.all([new FakeGlobal().start(), new FakeGlobal().start()]);
    const proxy = await startProxy(
      [
        'grpc_address: 127.0.0.1:0',
        `forward_addresses: [${globals.map((g) => `"${g.address}"`).join(', ')}]`,
      ].join('\n'),
    );
    const local = await startVeneur(
      [
        'statsd_listen_addresses: ["udp://127.0.0.1:0"]',
        'interval: 1s',
        `forward_address: 127.0.0.1:${proxy.grpcPort}`,
        'metric_sinks:',
        '  - kind: blackhole',
        '    name: bh',
      ].join('\n'),
    );
    try {
      const lines: string[] = [];
      for (let i = 0; i < 20; i++)
        lines.push(`e2e.timer.${i}:${i}|ms|#env:e2e`, `e2e.count.${i}:3|c|#veneurglobalonly`);
      await sendUdpLines(local.statsd[0]!.port, lines);
      const names = (): Set<string> =>
        new Set(globals.flatMap((g) => g.received.map((m) => decodeMetric(m).name)));
      await waitFor(() => names().size >= 40, 'all 40 series forwarded through the proxy', 10_000);
      const count = globals
        .flatMap((g) => g.received.map(decodeMetric))
        .find((m) => m.name === 'e2e.count.7')!;
      assert.deepEqual(count.value, { kind: 'counter', value: 3 });
      for (const g of globals) {
        const here = new Set(g.received.map((m) => decodeMetric(m).name));
        const other = globals.find((o) => o !== g)!;
        for (const m of other.received) assert.equal(here.has(decodeMetric(m).name), false);
      }
    } finally {
      await local.stop();
      assert.equal(await proxy.stop(), 0);
      for (const g of globals) g.kill();
    }
  });
});
