#!/usr/bin/env node
/**
 * The longest event-loop blocks of a .cpuprofile: stretches of samples with no
 * `(idle)` sample between them (the thread never went back to waiting), and for
 * each the outermost JS entry points and the top self-time functions inside it.
 *
 *   node bench/profile-blocks.mjs file.cpuprofile [min ms=50] [max blocks=10]
 */
import { readFileSync } from 'node:fs';

const [file, minMs = '50', maxBlocks = '10'] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const cf = n.callFrame;
  return `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
};
/** The first JS frame under the root (what the event loop called into). */
const entryOf = (id) => {
  const chain = [];
  for (let x = id; x !== undefined; x = parent.get(x)) chain.push(byId.get(x));
  chain.reverse(); // root first
  const js = chain.slice(1).find((n) => n.callFrame.url !== '' || n.callFrame.functionName.startsWith('('));
  return js ? label(js) : '(root)';
};

const blocks = [];
let cur = null;
let t = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i] ?? 0;
  const node = byId.get(prof.samples[i]);
  const idle = node.callFrame.functionName === '(idle)';
  if (idle) {
    if (cur !== null) blocks.push(cur);
    cur = null;
    continue;
  }
  if (cur === null) cur = { start: t, end: t, samples: [] };
  cur.end = t;
  cur.samples.push([prof.samples[i], prof.timeDeltas[i + 1] ?? 0]);
}
if (cur !== null) blocks.push(cur);

const min = Number(minMs) * 1000;
const long = blocks.filter((b) => b.end - b.start >= min).sort((a, b) => b.end - b.start - (a.end - a.start));
console.log(
  `${blocks.length} busy stretches; ${long.length} of ${minMs} ms or more; profile ${((t - prof.startTime) / 1e6).toFixed(1)} s`,
);
for (const b of long.slice(0, Number(maxBlocks))) {
  const self = new Map();
  const entries = new Map();
  for (const [id, dt] of b.samples) {
    const k = label(byId.get(id));
    self.set(k, (self.get(k) ?? 0) + dt);
    const e = entryOf(id);
    entries.set(e, (entries.get(e) ?? 0) + dt);
  }
  const top = (m, n) =>
    [...m]
      .sort((x, y) => y[1] - x[1])
      .slice(0, n)
      .map(([k, v]) => `    ${(v / 1000).toFixed(0).padStart(5)} ms  ${k}`)
      .join('\n');
  console.log(
    `\nblock of ${((b.end - b.start) / 1000).toFixed(0)} ms at +${((b.start - prof.startTime) / 1e6).toFixed(2)} s\n  entered from:\n${top(entries, 5)}\n  self time:\n${top(self, 8)}`,
  );
}

// Tasks: runs of samples under one entry frame (GC samples count toward the task
// they interrupt); (idle) and (program) end a task.
const rootChild = (id) => {
  let x = id;
  let prev = id;
  while (parent.get(x) !== undefined) {
    prev = x;
    x = parent.get(x);
  }
  return byId.get(prev);
};
const tasks = [];
let task = null;
t = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i] ?? 0;
  const rc = rootChild(prof.samples[i]);
  const fn = rc.callFrame.functionName;
  if (fn === '(idle)' || fn === '(program)') {
    if (task !== null) tasks.push(task);
    task = null;
    continue;
  }
  if (fn === '(garbage collector)') {
    if (task !== null) task.end = t;
    continue;
  }
  if (task !== null && task.entry !== rc.id) {
    tasks.push(task);
    task = null;
  }
  if (task === null) task = { entry: rc.id, start: t, end: t, samples: [] };
  task.end = t;
  task.samples.push([prof.samples[i], prof.timeDeltas[i + 1] ?? 0]);
}
if (task !== null) tasks.push(task);
tasks.sort((a, b) => b.end - b.start - (a.end - a.start));
console.log('\nlongest tasks (one entry frame, GC inside counted):');
for (const k of tasks.slice(0, Number(maxBlocks))) {
  const self = new Map();
  for (const [id] of k.samples) {
    const l = label(byId.get(id));
    self.set(l, (self.get(l) ?? 0) + 1);
  }
  const top = [...self]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 4)
    .map(([l, c]) => `${l} ×${c}`)
    .join('; ');
  console.log(
    `  ${((k.end - k.start) / 1000).toFixed(0).padStart(5)} ms at +${((k.start - prof.startTime) / 1e6).toFixed(2)} s  ${label(byId.get(k.entry))}: ${top}`,
  );
}
