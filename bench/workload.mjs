/**
 * The benchmark workload (issue 2): 1,000 series, 50% counters, 15% gauges,
 * 25% timers, 10% sets, `linesPerDatagram` lines per datagram, optional extra tags.
 */
export function seriesLines({ series = 1000, tags = 3, seed = 1 } = {}) {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const nCounters = Math.round(series * 0.5);
  const nGauges = Math.round(series * 0.15);
  const nTimers = Math.round(series * 0.25);
  const kinds = [];
  for (let i = 0; i < series; i++) {
    if (i < nCounters) kinds.push('c');
    else if (i < nCounters + nGauges) kinds.push('g');
    else if (i < nCounters + nGauges + nTimers) kinds.push('ms');
    else kinds.push('s');
  }
  const tagText = (i) => {
    const t = ['env:prod', `service:svc${i % 17}`, `host:host-${i % 50}`];
    for (let k = 3; k < tags; k++) t.push(`tag${k}:value-${(i * 7 + k) % 100}`);
    return t.slice(0, tags).join(',');
  };
  // one line generator per series; values vary per call
  return kinds.map((kind, i) => {
    const name = `bench.${kind === 'c' ? 'counter' : kind === 'g' ? 'gauge' : kind === 'ms' ? 'timer' : 'set'}.${i}`;
    const tt = tagText(i);
    return () => {
      switch (kind) {
        case 'c':
          return `${name}:1|c|#${tt}`;
        case 'g':
          return `${name}:${(rnd() * 100).toFixed(2)}|g|#${tt}`;
        case 'ms':
          return `${name}:${(rnd() * 500).toFixed(3)}|ms|#${tt}`;
        default:
          return `${name}:user${Math.floor(rnd() * 1000)}|s|#${tt}`;
      }
    };
  });
}

/** `count` datagrams of `linesPerDatagram` lines, series picked at random. */
export function datagrams({ count = 5000, linesPerDatagram = 10, series = 1000, tags = 3, seed = 7 } = {}) {
  const gens = seriesLines({ series, tags, seed });
  let s = seed >>> 0;
  const pick = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return gens[s % gens.length];
  };
  const out = [];
  for (let d = 0; d < count; d++) {
    const lines = [];
    for (let l = 0; l < linesPerDatagram; l++) lines.push(pick()());
    out.push(lines.join('\n'));
  }
  return out;
}

/** Every series exactly once (for memory figures). */
export function everySeriesOnce({ series, tags = 3, linesPerDatagram = 10 }) {
  const gens = seriesLines({ series, tags });
  const out = [];
  for (let i = 0; i < gens.length; i += linesPerDatagram) {
    out.push(
      gens
        .slice(i, i + linesPerDatagram)
        .map((g) => g())
        .join('\n'),
    );
  }
  return out;
}
