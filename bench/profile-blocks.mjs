#!/usr/bin/env node
/**
 * The longest tasks of a .cpuprofile, i.e. what blocked the event loop: runs of
 * samples under one entry frame (the function the event loop called into), with
 * garbage-collector samples counted toward the task they interrupt; `(idle)` and
 * `(program)` end a task. For each: its length, entry frame and top self-time
 * functions (sample counts).
 *
 *   node bench/profile-blocks.mjs file.cpuprofile [tasks=15] [from seconds=0] [skip=entry substring]
 * e.g. `... 20 40 udp.js`: the 20 longest tasks after +40 s that are not the UDP reader.
 */
import { readFileSync } from 'node:fs';

const [file, maxTasks = '15', fromSec = '0', skip = ''] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => {
  const cf = n.callFrame;
  return `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
};
/** The frame right below the root: what the event loop called into. */
const entryOf = (id) => {
  let x = id;
  while (parent.has(x) && parent.has(parent.get(x))) x = parent.get(x);
  return byId.get(x);
};

const tasks = [];
let task = null;
let t = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  t += prof.timeDeltas[i] ?? 0;
  const entry = entryOf(prof.samples[i]);
  const fn = entry.callFrame.functionName;
  if (fn === '(idle)' || fn === '(program)') {
    if (task !== null) tasks.push(task);
    task = null;
    continue;
  }
  if (fn === '(garbage collector)') {
    if (task !== null) task.end = t;
    continue;
  }
  if (task !== null && task.entry !== entry) {
    tasks.push(task);
    task = null;
  }
  if (task === null) task = { entry, start: t, end: t, samples: [] };
  task.end = t;
  task.samples.push(prof.samples[i]);
}
if (task !== null) tasks.push(task);
const shown = tasks.filter(
  (k) =>
    (k.start - prof.startTime) / 1e6 >= Number(fromSec) && (skip === '' || !label(k.entry).includes(skip)),
);
shown.sort((a, b) => b.end - b.start - (a.end - a.start));

console.log(`${tasks.length} tasks in ${((t - prof.startTime) / 1e6).toFixed(1)} s; the longest:`);
for (const k of shown.slice(0, Number(maxTasks))) {
  const self = new Map();
  for (const id of k.samples) {
    const l = label(byId.get(id));
    self.set(l, (self.get(l) ?? 0) + 1);
  }
  const top = [...self]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 4)
    .map(([l, c]) => `${l} ×${c}`)
    .join('; ');
  console.log(
    `  ${((k.end - k.start) / 1000).toFixed(0).padStart(5)} ms at +${((k.start - prof.startTime) / 1e6).toFixed(2)} s  ${label(k.entry)}: ${top}`,
  );
}
