import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { check, counter, gauge, testSinkContext } from '../../../test/helpers/sink-context.js';
import type { SectionContext } from '../../config/section.js';
import type { SinkContext } from '../types.js';
import {
  type AppendHandle,
  LocalfileMetricSink,
  localfileSinkDefinition,
  type OpenForAppend,
} from './sink.js';

const TS = 1_700_000_000; // 2023-11-14 22:13:20 UTC
const section: SectionContext = { path: 'metric_sinks[0].config', envPrefix: '', env: {}, strict: true };
const run = promisify(execFile);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'veneur-localfile-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let seq = 0;
function freshPath(name = 'flush'): string {
  seq++;
  return join(dir, `${name}-${seq}.tsv.gz`);
}

function makeSink(
  raw: Record<string, unknown>,
  over: Partial<Omit<SinkContext, 'telemetry' | 'logger'>> = {},
  openForAppend?: OpenForAppend,
): LocalfileMetricSink {
  const config = localfileSinkDefinition.parseConfig(raw, section);
  const ctx = testSinkContext({ name: 'archive', ...over });
  return openForAppend
    ? new LocalfileMetricSink(config, ctx, { openForAppend })
    : (localfileSinkDefinition.create(config, ctx) as LocalfileMetricSink);
}

const signal = new AbortController().signal;

async function gunzipFile(path: string): Promise<string> {
  return gunzipSync(await readFile(path)).toString('utf8');
}

/** Offsets of gzip member headers (1f 8b 08) in a file of gzip members. */
function memberCount(buf: Buffer): number {
  let n = 0;
  for (let i = 0; i + 2 < buf.length; i++) {
    if (buf[i] === 0x1f && buf[i + 1] === 0x8b && buf[i + 2] === 0x08) n++;
  }
  return n;
}

describe('localfile sink', () => {
  it('appends one gzip member per flush, readable whole', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file });
    assert.equal(sink.kind, 'localfile');
    assert.equal(sink.name, 'archive');
    assert.equal(sink.flushFile, file);
    await sink.start();

    const first = await sink.flush(
      [counter('req', 30, ['env:prod', 'az:b'], TS), gauge('mem', 0.25, [], TS)],
      signal,
    );
    assert.deepEqual(first, { flushed: 2, skipped: 0, dropped: 0 });
    const afterFirst = await readFile(file);
    assert.equal(gunzipSync(afterFirst).toString('utf8').split('\n').length, 3);

    const second = await sink.flush([gauge('mem', 0.5, ['x:"y"'], TS + 10)], signal);
    assert.deepEqual(second, { flushed: 1, skipped: 0, dropped: 0 });

    const raw = await readFile(file);
    assert.ok(raw.subarray(0, afterFirst.length).equals(afterFirst), 'appended, not rewritten');
    assert.equal(memberCount(raw), 2);
    assert.equal(
      gunzipSync(raw).toString('utf8'),
      'req\t{env:prod,az:b}\trate\ttesthost\t10\t2023-11-14 22:13:20\t3\t20231114\n' +
        'mem\t{}\tgauge\ttesthost\t10\t2023-11-14 22:13:20\t0.25\t20231114\n' +
        'mem\t"{x:""y""}"\tgauge\ttesthost\t10\t2023-11-14 22:13:30\t0.5\t20231114\n',
    );
    // Each member is a complete gzip stream of its own flush.
    assert.equal(
      gunzipSync(raw.subarray(afterFirst.length)).toString('utf8'),
      'mem\t"{x:""y""}"\tgauge\ttesthost\t10\t2023-11-14 22:13:30\t0.5\t20231114\n',
    );
    await sink.stop(Date.now() + 1000);
    await sink.stop(Date.now() + 1000);
  });

  it('is read whole by the zcat CLI', {
    skip: !existsSync('/usr/bin/zcat') && 'zcat not installed',
  }, async () => {
    const file = freshPath('zcat');
    const sink = makeSink({ flush_file: file, delimiter: ',' }, { hostname: 'h1', intervalSeconds: 5 });
    await sink.flush([counter('a', 10, ['t:1', 't:2'], TS)], signal);
    await sink.flush([gauge('b', -1.5, [], TS)], signal);
    await sink.flush([gauge('c', 1e21, [' lead'], TS)], signal);
    const { stdout } = await run('zcat', [file]);
    assert.equal(
      stdout,
      'a,"{t:1,t:2}",rate,h1,5,2023-11-14 22:13:20,2,20231114\n' +
        'b,{},gauge,h1,5,2023-11-14 22:13:20,-1.5,20231114\n' +
        'c,{ lead},gauge,h1,5,2023-11-14 22:13:20,1000000000000000000000,20231114\n',
    );
    assert.equal(stdout, await gunzipFile(file));
    await run('gzip', ['-t', file]);
  });

  it('skips status checks and counts them as skipped', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file });
    const result = await sink.flush(
      [check('svc.up', 0, { timestamp: TS }), gauge('g', 1, [], TS), check('svc.down', 2, { timestamp: TS })],
      signal,
    );
    assert.deepEqual(result, { flushed: 1, skipped: 2, dropped: 0 });
    assert.equal(await gunzipFile(file), 'g\t{}\tgauge\ttesthost\t10\t2023-11-14 22:13:20\t1\t20231114\n');
  });

  it('writes nothing for a flush with no rows', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file });
    assert.deepEqual(await sink.flush([], signal), { flushed: 0, skipped: 0, dropped: 0 });
    assert.deepEqual(await sink.flush([check('c', 1, { timestamp: TS })], signal), {
      flushed: 0,
      skipped: 1,
      dropped: 0,
    });
    assert.equal(existsSync(file), false);
  });

  it('divides counters by the interval and writes a 24-hour timestamp', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file, delimiter: ',' }, { intervalSeconds: 20 });
    const afternoon = Date.UTC(2006, 0, 2, 15, 4, 5) / 1000;
    await sink.flush([counter('c', 7, [], afternoon), gauge('g', 7, [], afternoon)], signal);
    assert.equal(
      await gunzipFile(file),
      'c,{},rate,testhost,20,2006-01-02 15:04:05,0.35,20060102\n' +
        'g,{},gauge,testhost,20,2006-01-02 15:04:05,7,20060102\n',
    );
  });

  it('appends to an existing gzip file', async () => {
    const file = freshPath();
    const { gzipSync } = await import('node:zlib');
    await writeFile(file, gzipSync('earlier\n'));
    const sink = makeSink({ flush_file: file });
    await sink.flush([gauge('g', 2, [], TS)], signal);
    assert.equal(
      await gunzipFile(file),
      'earlier\ng\t{}\tgauge\ttesthost\t10\t2023-11-14 22:13:20\t2\t20231114\n',
    );
  });

  it('creates the file without execute bits', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file });
    await sink.flush([gauge('g', 2, [], TS)], signal);
    assert.equal((await stat(file)).mode & 0o111, 0);
  });

  it('rejects a write error, then recovers when the directory appears', async () => {
    const sub = join(dir, `later-${++seq}`);
    const file = join(sub, 'flush.gz');
    const sink = makeSink({ flush_file: file });
    await assert.rejects(sink.flush([gauge('lost', 1, [], TS)], signal), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /^localfile: couldn't open .*flush\.gz for appending: .*ENOENT/);
      return true;
    });
    await mkdir(sub);
    assert.deepEqual(await sink.flush([gauge('kept', 1, [], TS)], signal), {
      flushed: 1,
      skipped: 0,
      dropped: 0,
    });
    assert.equal(await gunzipFile(file), 'kept\t{}\tgauge\ttesthost\t10\t2023-11-14 22:13:20\t1\t20231114\n');
  });

  it('rejects when the path is a directory', async () => {
    const sink = makeSink({ flush_file: dir });
    await assert.rejects(sink.flush([gauge('g', 1, [], TS)], signal), /localfile: couldn't open .*EISDIR/);
  });

  it('removes a partial write so the file stays readable', async () => {
    const file = freshPath();
    let failNext = false;
    const opener: OpenForAppend = async (path) => {
      const fh = await open(path, 'a', 0o666);
      const handle: AppendHandle = {
        stat: () => fh.stat(),
        truncate: (len) => fh.truncate(len),
        close: () => fh.close(),
        writeFile: async (data) => {
          if (!failNext) return fh.writeFile(data);
          failNext = false;
          await fh.write(data.subarray(0, Math.floor(data.length / 2)));
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        },
      };
      return handle;
    };
    const sink = makeSink({ flush_file: file }, {}, opener);
    await sink.flush([gauge('one', 1, [], TS)], signal);
    const good = await readFile(file);

    failNext = true;
    await assert.rejects(
      sink.flush([gauge('two', 2, ['t'.repeat(5000)], TS)], signal),
      /^Error: localfile: couldn't append to .*: ENOSPC/,
    );
    assert.ok((await readFile(file)).equals(good), 'partial member truncated away');

    await sink.flush([gauge('three', 3, [], TS)], signal);
    assert.equal(
      await gunzipFile(file),
      'one\t{}\tgauge\ttesthost\t10\t2023-11-14 22:13:20\t1\t20231114\n' +
        'three\t{}\tgauge\ttesthost\t10\t2023-11-14 22:13:20\t3\t20231114\n',
    );
  });

  it('serialises overlapping flushes into whole members', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file });
    const batches = [0, 1, 2, 3].map((b) =>
      Array.from({ length: 50 }, (_, i) => gauge(`b${b}.m${i}`, i, [`batch:${b}`], TS)),
    );
    const results = await Promise.all(batches.map((batch) => sink.flush(batch, signal)));
    for (const r of results) assert.deepEqual(r, { flushed: 50, skipped: 0, dropped: 0 });
    const lines = (await gunzipFile(file)).split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 200);
    // each member's rows are contiguous
    for (let m = 0; m < 4; m++) {
      const block = lines.slice(m * 50, (m + 1) * 50).map((l) => l.split('\t')[1]);
      assert.equal(new Set(block).size, 1, `member ${m} not interleaved`);
    }
    assert.equal(memberCount(await readFile(file)) >= 4, true);
  });

  it('handles a large batch in slices', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file });
    const batch = Array.from({ length: 10_000 }, (_, i) =>
      i % 3 === 0 ? counter(`c${i}`, i, ['k:v'], TS) : gauge(`g${i}`, i, [], TS),
    );
    const result = await sink.flush(batch, signal);
    assert.deepEqual(result, { flushed: 10_000, skipped: 0, dropped: 0 });
    const lines = (await gunzipFile(file)).split('\n');
    assert.equal(lines.length, 10_001);
    assert.equal(lines[3], 'c3\t{k:v}\trate\ttesthost\t10\t2023-11-14 22:13:20\t0.3\t20231114');
    assert.equal(lines[9999], 'c9999\t{k:v}\trate\ttesthost\t10\t2023-11-14 22:13:20\t999.9\t20231114');
  });

  it('does not write once the flush is aborted', async () => {
    const file = freshPath();
    const sink = makeSink({ flush_file: file });
    const ac = new AbortController();
    ac.abort(new Error('flush deadline'));
    await assert.rejects(sink.flush([gauge('g', 1, [], TS)], ac.signal), /flush deadline/);
    assert.equal(existsSync(file), false);
  });
});
