import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { generateSync } from '../flush/generate.js';
import { makePolicy } from '../flush/policy.js';
import { Aggregator } from './aggregator.js';
import { exportStateBatch, parseSeriesKey } from './state-batch.js';

const policy = makePolicy({
  isLocal: false,
  percentiles: [0.5, 0.9, 0.99],
  aggregates: ['min', 'max', 'count', 'sum', 'avg', 'hmean', 'median'],
});

function metrics(a: Aggregator): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of generateSync(a.swap().series.values(), policy, 0).metrics) {
    if (!m.name.startsWith('veneur.')) out.set(`${m.name}|${m.tags.join(',')}`, m.value);
  }
  return out;
}

describe('mergeable series state', () => {
  it('N aggregators merged equal one aggregator fed everything', () => {
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) {
      lines.push(`c.${i % 7}:${(i % 5) + 0.5}|c|@0.5|#k:${i % 3}`);
      lines.push(`t.${i % 4}:${(i * 7919) % 1000}|ms|#k:${i % 2}`);
      lines.push(`s.${i % 3}:member${i % 1500}|s`);
    }
    const one = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
    const parts = [0, 1, 2].map(() => new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 }));
    lines.forEach((l, i) => {
      one.ingestPacket(Buffer.from(l));
      parts[i % 3].ingestPacket(Buffer.from(l));
    });
    const merged = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
    for (const p of parts) {
      const snap = p.swap();
      // as over the cluster IPC channel (serialization 'advanced')
      merged.importStateBatch(
        deserialize(serialize(exportStateBatch(snap.series.values(), snap.series.size))),
      );
    }
    const want = metrics(one);
    const got = metrics(merged);
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [k, v] of want) {
      const g = got.get(k) as number;
      if (/percentile|median/.test(k)) {
        // t-digests merge approximately: within a small fraction of the value range (0..999)
        assert.ok(Math.abs(g - v) < 15, `${k}: ${g} vs ${v}`);
      } else if (/\.(sum|avg|hmean)\|/.test(k)) {
        assert.ok(Math.abs(g - v) <= 1e-9 * Math.abs(v), `${k}: ${g} vs ${v}`);
      } else {
        assert.equal(g, v, k);
      }
    }
  });

  it('keeps the latest gauge and check by write time', () => {
    const a = new Aggregator({ extendTags: [], metricMaxLength: 4096 });
    a.importStates([
      { k: '10|g|', t: 1, s: 0, n: 'g', g: [], v: 5, u: 2000, d: null, l: null, h: null, m: '', o: '' },
      { k: '10|g|', t: 1, s: 0, n: 'g', g: [], v: 9, u: 1000, d: null, l: null, h: null, m: '', o: '' },
    ]);
    assert.equal(metrics(a).get('g|'), 5);
  });

  it('a canonical key gives back type, scope, name and tags', () => {
    const a = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
    a.ingestPacket(Buffer.from('a.b:1|ms|#z:1,veneurglobalonly,a:2'));
    const s = [...a.swap().series.values()].find((x) => x.name === 'a.b');
    assert.ok(s);
    const id = parseSeriesKey(s.key);
    assert.deepEqual([id.type, id.scope, id.name, id.joinedTags], [s.type, s.scope, 'a.b', 'a:2,z:1']);
  });
});
