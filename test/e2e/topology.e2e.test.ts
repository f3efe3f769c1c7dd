/**
 * The global tier as real processes on 127.0.0.1: 3 locals -> 2 proxies -> 2 globals.
 * Each local gets a slice of a known latency distribution, a slice of a set, and
 * global-only counters. The globals' percentiles must match the exact percentiles
 * of the union (t-digest tolerance), set cardinalities HLL tolerance, counters
 * exactly, and every series must be flushed by exactly one global. Then one
 * global is killed mid-run: nothing may be lost and nothing counted twice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DdSeries, type FakeDatadog, startFakeDatadog } from '../helpers/fake-datadog.js';
import { type ProxyProcess, startProxy } from '../helpers/proxy-process.js';
import { sendUdpLines, startVeneur, type VeneurProcess } from '../helpers/veneur-process.js';

const sink = (f: FakeDatadog) => `metric_sinks:
  - kind: datadog
    name: datadog
    config: {api_key: "${f.apiKey}", api_hostname: "${f.url}"}
`;

function exactQuantile(sorted: number[], q: number): number {
  // the "nearest rank" of the union; t-digest interpolates, so we compare with a tolerance
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function tier(opts: { globalInterval: string; sync: boolean; resendWindow: string }) {
  const fake = await startFakeDatadog({ apiKey: 'g' });
  const globals: VeneurProcess[] = [];
  for (let i = 0; i < 2; i++) {
    globals.push(
      await startVeneur(
        `grpc_address: 127.0.0.1:0\ninterval: ${opts.globalInterval}\nsynchronize_with_interval: ${opts.sync}\nhostname: global${i}\npercentiles: [0.5, 0.99]\naggregates: [min, max, count]\n${sink(fake)}`,
      ),
    );
  }
  const dests = globals.map((g) => `127.0.0.1:${g.grpcPort}`);
  const proxies: ProxyProcess[] = [];
  for (let i = 0; i < 2; i++) {
    proxies.push(
      await startProxy(
        `grpc_address: 127.0.0.1:0\nhttp_address: 127.0.0.1:0\nforward_addresses: [${dests.join(', ')}]\nresend_window: ${opts.resendWindow}\ndial_timeout: 2s\n`,
      ),
    );
  }
  const localFake = await startFakeDatadog({ apiKey: 'l' });
  const locals: VeneurProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const proxy = proxies[i % 2];
    locals.push(
      await startVeneur(
        `statsd_listen_addresses: [udp://127.0.0.1:0]\nforward_address: 127.0.0.1:${proxy.grpcPort}\ninterval: 1s\nhostname: local${i}\npercentiles: [0.5, 0.99]\naggregates: [min, max, count]\n${sink(localFake)}`,
      ),
    );
  }
  return {
    fake,
    localFake,
    globals,
    proxies,
    locals,
    async stop() {
      for (const l of locals) await l.stop();
      await new Promise((r) => setTimeout(r, 300));
      for (const p of proxies) await p.stop();
      for (const g of globals) await g.stop();
      await fake.close();
      await localFake.close();
    },
  };
}

/** All flushes of one metric name+tags at the globals. */
function globalSeries(fake: FakeDatadog, metric: string): DdSeries[] {
  return fake.series.filter((s) => s.metric === metric);
}

describe('global tier topology: 3 locals -> 2 proxies -> 2 globals', { timeout: 120_000 }, () => {
  it('global percentiles, cardinalities and counters are right, each series flushed once', async () => {
    const t = await tier({ globalInterval: '60s', sync: false, resendWindow: '0s' });
    const series = 12;
    const union: number[][] = Array.from({ length: series }, () => []);
    const members = 3000;
    try {
      // each local gets every third sample of each latency series: a slice of the distribution
      for (let li = 0; li < 3; li++) {
        const lines: string[] = [];
        for (let s = 0; s < series; s++) {
          for (let k = li; k < 3000; k += 3) {
            const v = ((k * 7919) % 3000) + 1 + s * 10; // a permutation of 1..3000, shifted per series
            union[s].push(v);
            lines.push(`topo.lat.${s}:${v}|ms`);
          }
          lines.push(`topo.count.${s}:${li + 1}|c|#veneurglobalonly`);
        }
        // overlapping set slices: members [li*500, li*500 + 2000)
        for (let m = li * 500; m < li * 500 + 2000; m++) lines.push(`topo.users:u${m % members}|s`);
        await sendUdpLines(t.locals[li].statsd[0].port, lines);
      }
      await new Promise((r) => setTimeout(r, 2500)); // locals flush (1 s) and forward
    } finally {
      await t.stop();
    }
    assert.deepEqual(t.fake.violations, []);
    let worst50 = 0;
    let worst99 = 0;
    for (let s = 0; s < series; s++) {
      const sorted = union[s].sort((a, b) => a - b);
      const p50 = globalSeries(t.fake, `topo.lat.${s}.50percentile`);
      const p99 = globalSeries(t.fake, `topo.lat.${s}.99percentile`);
      assert.equal(p50.length, 1, `topo.lat.${s}.50percentile flushed by exactly one global`);
      assert.equal(p99.length, 1);
      const e50 = Math.abs(p50[0].points[0][1] - exactQuantile(sorted, 0.5)) / 3000;
      const e99 = Math.abs(p99[0].points[0][1] - exactQuantile(sorted, 0.99)) / 3000;
      worst50 = Math.max(worst50, e50);
      worst99 = Math.max(worst99, e99);
      // count/min/max stay at the locals: never at a global (no double counting)
      assert.equal(globalSeries(t.fake, `topo.lat.${s}.count`).length, 0);
      const c = globalSeries(t.fake, `topo.count.${s}`);
      assert.equal(c.length, 1);
      assert.equal(c[0].points[0][1] * (c[0].interval ?? 1), 1 + 2 + 3);
    }
    // relative to the value range: t-digest (compression 100) is far better than this near the tails
    assert.ok(worst50 < 0.01, `p50 error ${worst50}`);
    assert.ok(worst99 < 0.005, `p99 error ${worst99}`);
    const users = globalSeries(t.fake, 'topo.users');
    assert.equal(users.length, 1);
    const truth = 3000; // union of [0,2000) [500,2500) [1000,3000)
    assert.ok(
      Math.abs(users[0].points[0][1] - truth) / truth < 0.02,
      `set estimate ${users[0].points[0][1]}`,
    );
    // the locals flushed their local parts and the two globals both took part
    assert.ok(t.localFake.series.some((s) => s.metric === 'topo.lat.0.count'));
    const hosts = new Set(t.fake.series.filter((s) => s.metric.startsWith('topo.')).map((s) => s.host));
    assert.deepEqual([...hosts].sort(), ['global0', 'global1']);
    process.stdout.write(
      `# topology: worst p50 error ${(worst50 * 100).toFixed(3)}%, worst p99 error ${(worst99 * 100).toFixed(3)}% of range\n`,
    );
  });

  for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
    it(`a global stopped mid-run by ${signal}: nothing lost or counted twice`, async () => {
      // globals flush on 60 s wall-clock boundaries and the proxies keep a copy of the same window
      const t = await tier({ globalInterval: '60s', sync: true, resendWindow: '60s' });
      const series = 40;
      const sent = new Array<number>(series).fill(0);
      let killedAt = -1;
      try {
        for (let round = 0; round < 8; round++) {
          for (let li = 0; li < 3; li++) {
            const lines: string[] = [];
            for (let s = 0; s < series; s++) {
              lines.push(`kill.count.${s}:1|c|#veneurglobalonly`);
              sent[s]++;
            }
            await sendUdpLines(t.locals[li].statsd[0].port, lines);
          }
          await new Promise((r) => setTimeout(r, 500));
          if (round === 3) {
            killedAt = Date.now();
            process.kill(t.globals[1].pid, signal);
          }
        }
        await new Promise((r) => setTimeout(r, 1500));
        // a graceful stop finishes on its own (a second signal would cut it short)
        const exitStart = Date.now();
        const code = await Promise.race([
          t.globals[1].exited,
          new Promise((r) => setTimeout(() => r('timeout'), 20_000)),
        ]);
        if (signal === 'SIGTERM') {
          assert.equal(code, 0, 'graceful stop exits 0');
          process.stdout.write(
            `# SIGTERM: the stopped global exited ${Date.now() - exitStart} ms after the traffic ended\n`,
          );
        }
      } finally {
        await t.stop();
      }
      assert.ok(killedAt > 0);
      const got = new Array<number>(series).fill(0);
      for (const s of t.fake.series) {
        const m = /^kill\.count\.(\d+)$/.exec(s.metric);
        if (m) got[Number(m[1])] += s.points[0][1] * (s.interval ?? 1);
      }
      const lost = sent.reduce((n, v, i) => n + Math.max(0, v - got[i]), 0);
      const doubled = sent.reduce((n, v, i) => n + Math.max(0, got[i] - v), 0);
      process.stdout.write(
        `# ${signal} test: sent ${sent.reduce((a, b) => a + b, 0)}, lost ${lost}, counted twice ${doubled}\n`,
      );
      assert.equal(doubled, 0, 'no series counted twice');
      assert.equal(lost, 0, 'nothing lost');
    });
  }
});
