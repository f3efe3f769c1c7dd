/**
 * Preload for the server (`BENCH_SERVER_FLAGS="--import /abs/path/bench/heap-sample.mjs"`):
 * samples, with V8's sampling heap profiler, every allocation that survives a
 * scavenge (collected by a major GC or still alive) from HEAP_SAMPLE_START_S
 * (default 25) for HEAP_SAMPLE_SECONDS (default 30), and writes the top allocation
 * stacks to HEAP_SAMPLE_OUT (default /tmp/heap-sample.txt). This is what found
 * the pretenured flush records (BENCHMARKS.md, "Flush under load").
 * HEAP_SAMPLE_MODE=live: only what is still alive at the end of the window (what
 * the window added to the retained heap; a full GC runs before the profile is read).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const startS = Number(process.env.HEAP_SAMPLE_START_S ?? 25);
const seconds = Number(process.env.HEAP_SAMPLE_SECONDS ?? 30);
const out = process.env.HEAP_SAMPLE_OUT ?? '/tmp/heap-sample.txt';
const live = process.env.HEAP_SAMPLE_MODE === 'live';
const session = new Session();
session.connect();
setTimeout(async () => {
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: !live,
    includeObjectsCollectedByMinorGC: false,
  });
  setTimeout(async () => {
    // live: a full GC first, so promoted garbage that no major GC has reached yet is not counted
    if (live) await session.post('HeapProfiler.collectGarbage');
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const bytes = new Map();
    let total = 0;
    const walk = (node, stack) => {
      const cf = node.callFrame;
      const frame = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
      const path = [frame, ...stack];
      if (node.selfSize > 0) {
        const key = path.slice(0, 4).join(' < ');
        bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
        total += node.selfSize;
      }
      for (const c of node.children) walk(c, path);
    };
    walk(profile.head, []);
    const what = live ? 'allocated and still alive' : 'survived a scavenge';
    const lines = [`${what} over ${seconds} s: ${(total / 1e6).toFixed(0)} MB`];
    for (const [k, v] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, 25))
      lines.push(`${(v / 1e6).toFixed(1).padStart(8)} MB  ${k}`);
    writeFileSync(out, `${lines.join('\n')}\n`);
  }, seconds * 1000).unref();
}, startS * 1000).unref();
