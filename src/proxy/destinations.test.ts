import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordingTelemetry } from '../telemetry/types.js';
import { Destinations, type ForwardClientLike, type ForwardStream, probeHttp2 } from './destinations.js';
import { FakeGlobal, silentLogger, waitFor } from './testing.js';

/** A stream that takes `capacity` messages before asking for a drain; the test releases it. */
class FakeStream implements ForwardStream {
  readonly written: Uint8Array[] = [];
  readonly closed: Promise<Error | null>;
  #resolveClosed!: (e: Error | null) => void;
  #buffered = 0;
  #waiters: (() => void)[] = [];
  done = false;
  endCalled = false;
  constructor(readonly capacity: number) {
    this.closed = new Promise((r) => {
      this.#resolveClosed = r;
    });
  }
  write(msg: Uint8Array): boolean {
    if (this.done) return false;
    this.written.push(msg);
    this.#buffered++;
    return this.#buffered < this.capacity;
  }
  drained(): Promise<void> {
    if (this.done || this.#buffered < this.capacity) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }
  /** The network took everything buffered. */
  release(): void {
    this.#buffered = 0;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
  end(): Promise<void> {
    this.endCalled = true;
    this.finish(null);
    return Promise.resolve();
  }
  destroy(err?: Error): void {
    this.finish(err ?? new Error('destroyed'));
  }
  finish(err: Error | null): void {
    if (this.done) return;
    this.done = true;
    this.release();
    this.#resolveClosed(err);
  }
}

class FakeClient implements ForwardClientLike {
  readonly streams: FakeStream[] = [];
  closed = false;
  constructor(readonly capacity: number) {}
  openStream(): FakeStream {
    const s = new FakeStream(this.capacity);
    this.streams.push(s);
    return s;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function setup(
  opts: {
    capacity?: number;
    sendBufferSize?: number;
    resendMaxBytes?: number;
    keepCopies?: boolean;
    stallTimeoutMs?: number;
  } = {},
) {
  const clients = new Map<string, FakeClient>();
  const telemetry = new RecordingTelemetry();
  const removed: string[] = [];
  const d = new Destinations({
    connect: (a) => {
      const c = new FakeClient(opts.capacity ?? 1000);
      clients.set(a, c);
      return c;
    },
    probe: async () => {},
    dialTimeoutMs: 100,
    sendBufferSize: opts.sendBufferSize ?? 8,
    keepCopies: opts.keepCopies ?? true,
    resendMaxBytes: opts.resendMaxBytes ?? 1 << 20,
    stallTimeoutMs: opts.stallTimeoutMs ?? 0,
    telemetry,
    logger: silentLogger,
    onRemoved: (a, r) => removed.push(`${a}:${r}`),
  });
  const stream = (a: string): FakeStream => clients.get(a)!.streams.at(-1)!;
  return { d, clients, telemetry, removed, stream };
}

const msg = (i: number): Uint8Array => new Uint8Array([i & 0xff, i >> 8]);
const ids = (ms: Uint8Array[]): number[] => ms.map((m) => m[0]! | (m[1]! << 8));

/** A hash owned by `address` in `d`'s ring. */
function hashOwnedBy(d: Destinations, address: string, skip = 0): number {
  let n = 0;
  for (let h = 0; h < 2 ** 32; h += 9_999_991) {
    if (d.ring.ownerOfHash(h) === address && n++ >= skip) return h;
  }
  throw new Error('no hash found');
}

describe('Destinations', () => {
  it('writes straight to the owner; queues under back-pressure; reports full at send_buffer_size', async () => {
    const { d, stream, telemetry } = setup({ capacity: 2, sendBufferSize: 3 });
    assert.equal(await d.add('a:1'), true);
    const h = hashOwnedBy(d, 'a:1');
    assert.equal(d.send(msg(0), h), true); // written
    assert.equal(d.send(msg(1), h), true); // written, stream now asks for drain
    assert.equal(d.send(msg(2), h), true); // queued (1)
    assert.equal(d.send(msg(3), h), true); // queued (2)
    assert.equal(d.send(msg(4), h), false); // queued (3) = bound
    assert.equal(d.queued('a:1'), 3);
    assert.equal(telemetry.total('veneur_proxy.handle.enqueue', ['destination:a:1']), 1);
    let writable = false;
    void d.writable().then(() => {
      writable = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(writable, false);
    stream('a:1').release();
    await waitFor(() => writable, 'writable after drain');
    await waitFor(() => d.queued('a:1') === 1, 'queue pumped until the stream is full again');
    stream('a:1').release();
    await waitFor(() => d.queued('a:1') === 0, 'queue empty');
    assert.deepEqual(ids(stream('a:1').written), [0, 1, 2, 3, 4]);
  });

  it('holds messages while there is no destination, releases them to the first one', async () => {
    const { d, stream, telemetry } = setup({ sendBufferSize: 4 });
    for (let i = 0; i < 6; i++) assert.equal(d.send(msg(i), i * 1000), true);
    assert.equal(d.held, 4);
    await d.add('a:1');
    assert.equal(d.held, 0);
    assert.deepEqual(ids(stream('a:1').written), [0, 1, 2, 3]);
    d.reportStats();
    assert.equal(telemetry.total('veneur_proxy.forward.metrics_count', ['error:dropped']), 2);
  });

  it('on a broken stream: window copy then queue go to the new owners, in order, once', async () => {
    const { d, stream, removed } = setup({ capacity: 3, sendBufferSize: 100 });
    await d.add('a:1');
    await d.add('b:2');
    const ha = hashOwnedBy(d, 'a:1');
    for (let i = 0; i < 6; i++) d.send(msg(i), ha); // 0..2 written, 3..5 queued
    assert.equal(d.keptCount('a:1'), 3);
    assert.equal(d.queued('a:1'), 3);
    stream('a:1').finish(new Error('connection reset'));
    await waitFor(() => !d.has('a:1'), 'a removed');
    assert.deepEqual(removed, ['a:1:stream']);
    assert.deepEqual(ids(stream('b:2').written), [0, 1, 2]);
    stream('b:2').release();
    await waitFor(() => stream('b:2').written.length === 6, 'rest pumped');
    assert.deepEqual(ids(stream('b:2').written), [0, 1, 2, 3, 4, 5]);
    assert.equal(d.keptCount('b:2'), 6, 're-sent messages join the new owner window');
  });

  it('a second failure in the same window re-sends again, to a third destination', async () => {
    const { d, stream } = setup();
    await d.add('a:1');
    await d.add('b:2');
    await d.add('c:3');
    const ha = hashOwnedBy(d, 'a:1');
    d.send(msg(1), ha);
    d.remove('a:1', 'discovery');
    const owner2 = d.ring.ownerOfHash(ha)!;
    assert.deepEqual(ids(stream(owner2).written), [1]);
    d.remove(owner2, 'discovery');
    const owner3 = d.ring.ownerOfHash(ha)!;
    assert.notEqual(owner3, owner2);
    assert.deepEqual(ids(stream(owner3).written), [1]);
  });

  it('keeps copies only up to resend_max_bytes; none with keepCopies off', async () => {
    const capped = setup({ resendMaxBytes: 6 });
    await capped.d.add('a:1');
    const h = hashOwnedBy(capped.d, 'a:1');
    for (let i = 0; i < 5; i++) capped.d.send(msg(i), h);
    assert.equal(capped.d.keptCount('a:1'), 3);
    capped.d.reportStats();
    assert.equal(capped.telemetry.total('veneur_proxy.forward.resend_overflow'), 2);

    const off = setup({ keepCopies: false });
    await off.d.add('a:1');
    off.d.send(msg(0), 0);
    assert.equal(off.d.keptCount('a:1'), 0);
  });

  it('a destination whose full queue does not move for stall_timeout is removed and re-routed', async () => {
    const { d, stream, removed, telemetry } = setup({ capacity: 1, sendBufferSize: 2, stallTimeoutMs: 80 });
    await d.add('a:1');
    await d.add('b:2');
    const ha = hashOwnedBy(d, 'a:1');
    d.send(msg(0), ha); // written; stream full
    d.send(msg(1), ha); // queued
    assert.equal(d.send(msg(2), ha), false); // queue full
    let writable = false;
    void d.writable().then(() => {
      writable = true;
    });
    await waitFor(() => !d.has('a:1'), 'stalled destination removed', 2000);
    assert.deepEqual(removed, ['a:1:stalled']);
    assert.equal(telemetry.total('veneur_proxy.forward.disconnect', ['error:stalled']), 1);
    // b (capacity 1 too) got message 0 written and 1, 2 queued, in order
    assert.deepEqual(ids(stream('b:2').written), [0]);
    assert.equal(d.queued('b:2'), 2);
    for (let i = 0; i < 2; i++) {
      stream('b:2').release();
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(ids(stream('b:2').written), [0, 1, 2]);
    await waitFor(() => writable, 'ingest may go on');
  });

  it('a queue that drains in time is not a stall', async () => {
    const { d, stream } = setup({ capacity: 1, sendBufferSize: 2, stallTimeoutMs: 80 });
    await d.add('a:1');
    const h = hashOwnedBy(d, 'a:1');
    for (let i = 0; i < 3; i++) d.send(msg(i), h);
    setTimeout(() => stream('a:1').release(), 20);
    setTimeout(() => stream('a:1').release(), 40);
    setTimeout(() => stream('a:1').release(), 60);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(d.has('a:1'), true);
  });

  it('rotateWindow forgets the copies', async () => {
    const { d } = setup();
    await d.add('a:1');
    d.send(msg(0), 0);
    assert.equal(d.keptCount('a:1'), 1);
    d.rotateWindow();
    assert.equal(d.keptCount('a:1'), 0);
  });

  it('removal during a pending connection abandons it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const telemetry = new RecordingTelemetry();
    const d = new Destinations({
      connect: () => new FakeClient(10),
      probe: () => gate,
      dialTimeoutMs: 100,
      sendBufferSize: 8,
      keepCopies: true,
      resendMaxBytes: 1000,
      telemetry,
      logger: silentLogger,
    });
    const added = d.add('a:1');
    assert.equal(d.isPending('a:1'), true);
    d.remove('a:1', 'discovery');
    release();
    assert.equal(await added, false);
    assert.equal(d.size, 0);
  });

  it('a failed dial is counted and not added', async () => {
    const telemetry = new RecordingTelemetry();
    const d = new Destinations({
      connect: () => new FakeClient(10),
      dialTimeoutMs: 300,
      sendBufferSize: 8,
      keepCopies: true,
      resendMaxBytes: 1000,
      telemetry,
      logger: silentLogger,
    });
    assert.equal(await d.add('127.0.0.1:1'), false);
    assert.equal(telemetry.total('veneur_proxy.forward.connect', ['status:failed_dial']), 1);
  });

  it('close writes out the queue, ends the streams and closes the clients', async () => {
    const { d, stream, clients } = setup({ capacity: 2, sendBufferSize: 100 });
    await d.add('a:1');
    const h = hashOwnedBy(d, 'a:1');
    for (let i = 0; i < 5; i++) d.send(msg(i), h);
    const s = stream('a:1');
    const closing = d.close(Date.now() + 2000);
    setTimeout(() => s.release(), 20);
    setTimeout(() => s.release(), 40);
    await closing;
    assert.deepEqual(ids(s.written), [0, 1, 2, 3, 4]);
    assert.equal(s.endCalled, true);
    assert.equal(clients.get('a:1')!.closed, true);
    assert.equal(d.size, 0);
    assert.equal(await d.add('b:2'), false, 'no new destinations after close');
  });
});

describe('probeHttp2', () => {
  it('resolves against an HTTP/2 server, rejects on refused and on timeout', async () => {
    const g = await new FakeGlobal().start();
    try {
      await probeHttp2(g.address, 1000);
    } finally {
      g.kill();
    }
    await assert.rejects(probeHttp2('127.0.0.1:1', 1000));
    // a TCP server that never speaks HTTP/2
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as import('node:net').AddressInfo).port;
      await assert.rejects(probeHttp2(`127.0.0.1:${port}`, 200), /timed out/);
    } finally {
      silent.close();
    }
  });
});
