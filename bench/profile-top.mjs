#!/usr/bin/env node
/** Print the top self-time functions of a .cpuprofile: node bench/profile-top.mjs file [n] */
import { readFileSync } from 'node:fs';

const [file, n = '15'] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const self = new Map();
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const dt = prof.timeDeltas;
const counts = new Map();
for (let i = 0; i < prof.samples.length; i++)
  counts.set(prof.samples[i], (counts.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
let total = 0;
for (const [id, t] of counts) {
  const node = byId.get(id);
  const cf = node.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + t);
  total += t;
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(n));
for (const [k, t] of rows)
  console.log(
    `${((t / total) * 100).toFixed(1).padStart(5)}%  ${(t / 1000).toFixed(0).padStart(6)} ms  ${k}`,
  );
