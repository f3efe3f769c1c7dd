/**
 * What a flush emits for each series (reference §2.3 and §2.4): the local/global
 * policy and the histogram aggregate/percentile expansion with Veneur's names.
 */
import type { AggregateName } from '../config/types.js';
import { ConfigError } from '../util/errors.js';

export interface FlushPolicy {
  /** true when forward_address is set: mergeable state goes to the global tier. */
  readonly isLocal: boolean;
  readonly percentiles: readonly number[];
  /** `<int(p*100)>percentile` suffixes, precomputed. */
  readonly percentileSuffixes: readonly string[];
  readonly aggregates: AggregateFlags;
}

export interface AggregateFlags {
  readonly min: boolean;
  readonly max: boolean;
  readonly median: boolean;
  readonly avg: boolean;
  readonly count: boolean;
  readonly sum: boolean;
  readonly hmean: boolean;
}

/**
 * Veneur names a percentile `int(p*100)` + "percentile" (0.5 -> 50percentile).
 * Two fixes (docs/compatibility.md): float noise is rounded away (Go names 0.29
 * "28percentile"), and a fractional percentage keeps its digits without the dot
 * (0.999 -> 999percentile) instead of colliding with 0.99's "99percentile".
 */
export function percentileSuffix(p: number): string {
  const pct = p * 100;
  const rounded = Math.round(pct);
  if (Math.abs(pct - rounded) < 1e-9) return `${rounded}percentile`;
  return `${String(+pct.toPrecision(12)).replace('.', '')}percentile`;
}

export function makePolicy(opts: {
  isLocal: boolean;
  percentiles: readonly number[];
  aggregates: readonly AggregateName[];
}): FlushPolicy {
  const set = new Set(opts.aggregates);
  const suffixes = opts.percentiles.map(percentileSuffix);
  suffixes.forEach((name, i) => {
    const first = suffixes.indexOf(name);
    if (first !== i) {
      throw new ConfigError(
        `percentiles[${i}]`,
        `${opts.percentiles[i]} and ${opts.percentiles[first]} would both be flushed as "${name}"`,
      );
    }
  });
  return {
    isLocal: opts.isLocal,
    percentiles: [...opts.percentiles],
    percentileSuffixes: suffixes,
    aggregates: {
      min: set.has('min'),
      max: set.has('max'),
      median: set.has('median'),
      avg: set.has('avg'),
      count: set.has('count'),
      sum: set.has('sum'),
      hmean: set.has('hmean'),
    },
  };
}
