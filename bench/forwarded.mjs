/**
 * What a local forwards to the global tier, for the global-tier benches (import.mjs,
 * proxy.mjs): N series (50% global counters, 25% timer digests of 5 samples, 15%
 * global gauges, 10% sets of 3 members) aggregated as a local would, then encoded as
 * the metricpb messages of a SendMetricsV2 stream. `npm run build` first.
 */
import { Aggregator } from '../dist/aggregate/aggregator.js';
import { generate } from '../dist/flush/generate.js';
import { makePolicy } from '../dist/flush/policy.js';
import { encodeSeriesSliced } from '../dist/forward/convert.js';

/** The encoded messages of `n` forwarded series named `<prefix>.<c|t|g|s>.<i>`. */
export async function forwardedMessages(n, prefix) {
  const agg = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
  const lines = [];
  for (let i = 0; i < n; i++) {
    const k = i % 20;
    if (k < 10) lines.push(`${prefix}.c.${i}:1|c|#veneurglobalonly`);
    else if (k < 15) for (let v = 0; v < 5; v++) lines.push(`${prefix}.t.${i}:${v * 7 + (i % 13)}|ms`);
    else if (k < 18) lines.push(`${prefix}.g.${i}:${i}|g|#veneurglobalonly`);
    else for (let m = 0; m < 3; m++) lines.push(`${prefix}.s.${i}:u${m}|s`);
    if (lines.length > 2000) agg.ingestPacket(Buffer.from(lines.splice(0).join('\n')));
  }
  agg.ingestPacket(Buffer.from(lines.join('\n')));
  const gen = await generate(
    agg.swap().series.values(),
    makePolicy({ isLocal: true, percentiles: [0.5], aggregates: ['min', 'max', 'count'] }),
    0,
  );
  return encodeSeriesSliced(gen.forward);
}
