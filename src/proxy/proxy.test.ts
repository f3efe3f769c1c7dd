/**
 * The proxy end to end inside one process: real gRPC ingest server, real
 * ForwardClients, fake globals (grpc-js servers on 127.0.0.1) and a fake discoverer.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ForwardClient } from '../forward/client.js';
import { decodeMetric, encodeMetric, type MetricMessage } from '../protocol/forward/metricpb.js';
import { RecordingTelemetry } from '../telemetry/types.js';
import { buildProxy, type ProxyApp } from './build.js';
import { parseProxyConfig } from './config.js';
import { keyHash } from './ring.js';
import { FakeDiscoverer, FakeGlobal, silentLogger, waitFor } from './testing.js';

/** Message i: one of 40 series (name+tags), value i so every message is unique. */
function message(i: number): MetricMessage {
  return {
    name: `series.${i % 40}`,
    tags: ['env:test', `shard:${i % 3}`],
    type: 0,
    scope: 2,
    value: { kind: 'counter', value: i },
  };
}

const counterValue = (b: Uint8Array): number => {
  const m = decodeMetric(b);
  return m.value?.kind === 'counter' ? m.value.value : Number.NaN;
};
const seriesOf = (b: Uint8Array): string => {
  const m = decodeMetric(b);
  return `${m.name}|${m.tags.join(',')}`;
};

interface Harness {
  app: ProxyApp;
  globals: FakeGlobal[];
  discoverer: FakeDiscoverer;
  telemetry: RecordingTelemetry;
  client: ForwardClient;
  send(from: number, to: number): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
});

async function harness(nGlobals: number, extraYaml = ''): Promise<Harness> {
  const globals = await Promise.all(Array.from({ length: nGlobals }, () => new FakeGlobal().start()));
  const discoverer = new FakeDiscoverer(globals.map((g) => g.address));
  const telemetry = new RecordingTelemetry();
  const config = parseProxyConfig(
    {
      grpc_address: '127.0.0.1:0',
      forward_service: 'veneur-global',
      dial_timeout: '1s',
      discovery_interval: '1h',
      resend_window: '1h',
      ...(extraYaml === '' ? {} : (JSON.parse(extraYaml) as object)),
    },
    { env: {} },
  );
  const app = buildProxy(config, {
    logger: silentLogger,
    env: {},
    telemetry,
    discoverers: [discoverer],
    retryMinMs: 50,
  });
  await app.start();
  const client = new ForwardClient({ address: `127.0.0.1:${app.servers[0]!.port}`, logger: silentLogger });
  cleanups.push(async () => {
    await client.close(Date.now() + 500);
    await app.shutdown(Date.now() + 2000);
    for (const g of globals) g.kill();
  });
  return {
    app,
    globals,
    discoverer,
    telemetry,
    client,
    async send(from, to) {
      const msgs: Uint8Array[] = [];
      for (let i = from; i < to; i++) msgs.push(encodeMetric(message(i)));
      await client.sendMetricsV2(msgs, AbortSignal.timeout(5000));
    },
  };
}

const total = (gs: FakeGlobal[]): number => gs.reduce((n, g) => n + g.received.length, 0);

function assertNoDuplicates(g: FakeGlobal, what: string): void {
  const values = g.received.map(counterValue);
  assert.equal(new Set(values).size, values.length, `${what}: a message arrived twice`);
}

describe('proxy routing', () => {
  it('sends each metric to exactly one global, the ring owner of its key; same key -> same global', async () => {
    const h = await harness(3);
    assert.equal(h.app.destinations.size, 3);
    await h.send(0, 600);
    await waitFor(() => total(h.globals) === 600, 'all 600 messages');
    const seen = new Map<number, number>();
    const ownerOfSeries = new Map<string, number>();
    h.globals.forEach((g, gi) => {
      assertNoDuplicates(g, `global ${gi}`);
      for (const b of g.received) {
        const v = counterValue(b);
        assert.equal(seen.has(v), false, `message ${v} reached two globals`);
        seen.set(v, gi);
        const s = seriesOf(b);
        const prev = ownerOfSeries.get(s);
        if (prev !== undefined) assert.equal(prev, gi, `series ${s} split across globals`);
        ownerOfSeries.set(s, gi);
        // the owner is the ring's
        assert.equal(h.app.destinations.ring.ownerOfHash(keyHash(decodeMetric(b))), g.address);
      }
    });
    assert.equal(seen.size, 600);
    // 120 series over 3 globals: every global got some
    for (const g of h.globals) assert.ok(g.received.length > 0);
    // forwarded bytes are what the local sent, untouched
    const m = h.globals.flatMap((g) => g.received).find((b) => counterValue(b) === 7)!;
    assert.deepEqual(new Uint8Array(m), encodeMetric(message(7)));
    h.app.proxy.reportStats();
    assert.equal(
      h.telemetry.total('veneur_proxy.ingest.metrics_count', ['error:false', 'protocol:grpc-stream']),
      600,
    );
    assert.equal(h.telemetry.total('veneur_proxy.forward.metrics_count', ['error:false']), 600);
  });

  it('ignore_tags: tags matching are left out of the key only', async () => {
    const h = await harness(3, JSON.stringify({ ignore_tags: [{ kind: 'prefix', value: 'shard:' }] }));
    await h.send(0, 300);
    await waitFor(() => total(h.globals) === 300, 'all messages');
    const ownerOfName = new Map<string, number>();
    h.globals.forEach((g, gi) => {
      for (const b of g.received) {
        const name = decodeMetric(b).name;
        const prev = ownerOfName.get(name);
        if (prev !== undefined) assert.equal(prev, gi, `${name}: shards must hash together`);
        ownerOfName.set(name, gi);
        // tags are forwarded in full
        assert.equal(decodeMetric(b).tags.length, 2);
      }
    });
  });

  it('unary SendMetrics (MetricList) is routed too', async () => {
    const h = await harness(2);
    const { Client, credentials } = await import('@grpc/grpc-js');
    const { rawForwardService } = await import('./server.js');
    const { encodeMetricList } = await import('../forward/service.js');
    const c = new Client(`127.0.0.1:${h.app.servers[0]!.port}`, credentials.createInsecure());
    try {
      const list = encodeMetricList(Array.from({ length: 50 }, (_, i) => message(i)));
      await new Promise<void>((resolve, reject) =>
        c.makeUnaryRequest(
          rawForwardService.SendMetrics.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          list,
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    } finally {
      c.close();
    }
    await waitFor(() => total(h.globals) === 50, '50 messages');
  });
});

describe('proxy: destination failure and re-routing', () => {
  it('a global that dies leaves the ring; its window is re-sent to the survivor once', async () => {
    const h = await harness(2);
    const [a, b] = h.globals as [FakeGlobal, FakeGlobal];
    await h.send(0, 400);
    await waitFor(() => total(h.globals) === 400, 'first batch');
    const fromA = new Set(a.received.map(counterValue));
    const fromB = new Set(b.received.map(counterValue));
    assert.ok(fromA.size > 0 && fromB.size > 0);
    assert.equal(h.app.destinations.keptCount(a.address), fromA.size);

    a.kill();
    await waitFor(() => !h.app.destinations.has(a.address), 'A removed');
    await waitFor(() => b.received.length === 400, "B received A's window");
    assertNoDuplicates(b, 'survivor');
    assert.deepEqual(new Set(b.received.map(counterValue)), new Set([...fromA, ...fromB]));
    assert.equal(h.telemetry.total('veneur_proxy.forward.rerouted_count', ['reason:stream']), fromA.size);
    assert.equal(h.telemetry.total('veneur_proxy.forward.disconnect', ['error:true']), 1);

    // new traffic: all to B
    await h.send(400, 500);
    await waitFor(() => b.received.length === 500, 'second batch at B');
    assertNoDuplicates(b, 'survivor after more traffic');
  });

  it('a global killed under continuous traffic: nothing is lost, nothing twice at the survivor', async () => {
    const h = await harness(2);
    const [a, b] = h.globals as [FakeGlobal, FakeGlobal];
    const N = 3000;
    for (let i = 0; i < N; i += 50) {
      if (i === 1000) a.kill();
      await h.send(i, i + 50);
    }
    await waitFor(() => !h.app.destinations.has(a.address), 'A removed');
    const want = (): boolean => {
      const got = new Set([...a.received, ...b.received].map(counterValue));
      return got.size === N;
    };
    await waitFor(want, 'every message at A (before it died) or B');
    assertNoDuplicates(b, 'survivor');
  });

  it('a failed static destination is re-added once reachable again', async () => {
    const h = await harness(2);
    const [a, b] = h.globals as [FakeGlobal, FakeGlobal];
    const port = a.port;
    a.kill();
    await waitFor(() => !h.app.destinations.has(a.address), 'A removed');
    assert.equal(h.app.proxy.healthy, true);
    const again = await new FakeGlobal().start(port);
    cleanups.push(async () => again.kill());
    await waitFor(() => h.app.destinations.has(`127.0.0.1:${port}`), 'A re-added by the retry');
    await h.send(0, 200);
    await waitFor(() => again.received.length + b.received.length === 200, 'messages');
    assert.ok(again.received.length > 0, 'the re-added global owns its keys again');
  });

  it('a destination dropped by discovery leaves the ring and its window is re-routed', async () => {
    const h = await harness(3);
    const [a, b, c] = h.globals as [FakeGlobal, FakeGlobal, FakeGlobal];
    await h.send(0, 600);
    await waitFor(() => total(h.globals) === 600, 'first batch');
    const fromC = c.received.map(counterValue);
    assert.ok(fromC.length > 0);
    h.discoverer.list = [a.address, b.address];
    await h.app.proxy.refresh();
    assert.equal(h.app.destinations.has(c.address), false);
    assert.deepEqual(h.app.destinations.ring.members().sort(), [a.address, b.address].sort());
    await waitFor(() => a.received.length + b.received.length === 600, "C's window re-routed");
    for (const g of [a, b]) assertNoDuplicates(g, g.address);
    const atAB = new Set([...a.received, ...b.received].map(counterValue));
    for (const v of fromC) assert.ok(atAB.has(v), `message ${v} of C was not re-routed`);
    assert.equal(h.telemetry.total('veneur_proxy.destinations.removed', ['reason:discovery']), 1);
    // it does not come back while discovery leaves it out
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(h.app.destinations.has(c.address), false);
  });

  it('a discovery error keeps the last good list', async () => {
    const h = await harness(2);
    h.discoverer.fail = new Error('consul down');
    await h.app.proxy.refresh();
    assert.equal(h.app.destinations.size, 2);
    assert.equal(h.telemetry.total('veneur_proxy.discovery.count', ['status:fail']), 1);
    h.discoverer.fail = null;
    await h.app.proxy.refresh();
    assert.equal(h.telemetry.total('veneur_proxy.discovery.count', ['status:success']), 2);
  });

  it('messages written before the window started are not re-sent', async () => {
    const h = await harness(2);
    const [a, b] = h.globals as [FakeGlobal, FakeGlobal];
    await h.send(0, 200);
    await waitFor(() => total(h.globals) === 200, 'first batch');
    const bBefore = b.received.length;
    h.app.destinations.rotateWindow();
    assert.equal(h.app.destinations.keptCount(a.address), 0);
    a.kill();
    await waitFor(() => !h.app.destinations.has(a.address), 'A removed');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(b.received.length, bBefore);
  });

  it('shutdown writes out queues and ends every stream', async () => {
    const h = await harness(2);
    await h.send(0, 300);
    await h.app.shutdown(Date.now() + 3000);
    await waitFor(() => total(h.globals) === 300, 'all messages');
    await waitFor(() => h.globals.every((g) => g.ended === 1), 'streams ended by the proxy');
    assert.equal(h.app.proxy.healthy, false);
  });
});
