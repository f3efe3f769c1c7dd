/**
 * Split a batch into request bodies the way Go Veneur's Datadog sink does (reference
 * §5.1): `workers = ceil(n / max)` bodies of `ceil(n / workers)` items each (the last
 * one shorter), so bodies come out nearly equal instead of "full, full, remainder".
 *
 * Go divides by `flush_max_per_body` unchecked (0 -> panic, §14.11); here
 * `maxPerBody <= 0` (or NaN) means "no limit": a single body. An empty batch gives no
 * bodies at all (Go would post one empty body).
 */
export function chunkEvenly<T>(items: readonly T[], maxPerBody: number): T[][] {
  const n = items.length;
  if (n === 0) return [];
  if (!(maxPerBody > 0) || maxPerBody >= n) return [items.slice()];
  const max = Math.floor(maxPerBody) || 1;
  const workers = Math.ceil(n / max);
  const size = Math.ceil(n / workers);
  const chunks: T[][] = [];
  for (let i = 0; i < n; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
