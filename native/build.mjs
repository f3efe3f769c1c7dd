#!/usr/bin/env node
/**
 * Builds the unixgram Node-API addon with the node-gyp that npm bundles and
 * installs it as build/Release/unixgram.node at the package root.
 *
 *   node native/build.mjs             build; exit 1 on failure  (npm run build:native)
 *   node native/build.mjs --optional  build; on failure warn and exit 0  (npm ci's install step)
 *
 * No network: node-gyp uses the headers of the running Node (npm's `nodedir`,
 * or <prefix>/include/node next to process.execPath) instead of downloading
 * them. Needs python3, make and a C compiler.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(nativeDir);
const optional = process.argv.includes('--optional');
const started = process.hrtime.bigint();

function fail(message) {
  if (optional) {
    console.warn(`warning: unixgram native addon not built: ${message}`);
    console.warn('warning: unixgram:// listeners will not work; run `npm run build:native` to see why');
    process.exit(0);
  }
  console.error(`error: unixgram native addon: ${message}`);
  process.exit(1);
}

/** node-gyp's CLI: npm's env when run as an npm script, else npm's bundled copy. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    candidates.push(path.join(path.dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'));
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const npm = path.join(dir, 'npm');
    if (!existsSync(npm)) continue;
    try {
      const cli = realpathSync(npm); // .../npm/bin/npm-cli.js
      candidates.push(path.join(path.dirname(cli), '../node_modules/node-gyp/bin/node-gyp.js'));
    } catch {}
  }
  candidates.push(path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Headers of this Node, so node-gyp does not try to download them. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (existsSync(path.join(prefix, 'include/node/node_api.h'))) return [`--nodedir=${prefix}`];
  return [];
}

const gyp = findNodeGyp();
if (gyp === null) fail('node-gyp not found (it ships with npm)');

const args = [gyp, 'rebuild', `--directory=${nativeDir}`, ...nodedirArgs()];
if (!process.argv.includes('--verbose')) args.push('--loglevel=warn');
const res = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (res.error) fail(res.error.message);
if (res.status !== 0) fail(`node-gyp exited with ${res.status ?? res.signal}`);

const built = path.join(nativeDir, 'build/Release/unixgram.node');
if (!existsSync(built)) fail(`${built} missing after node-gyp`);
const outDir = path.join(root, 'build/Release');
mkdirSync(outDir, { recursive: true });
// copy + rename: a running process keeps the old file mapped intact
const tmp = path.join(outDir, `.unixgram.node.${process.pid}`);
copyFileSync(built, tmp);
renameSync(tmp, path.join(outDir, 'unixgram.node'));

const ms = Number(process.hrtime.bigint() - started) / 1e6;
console.log(`unixgram native addon built in ${(ms / 1000).toFixed(2)} s: build/Release/unixgram.node`);
