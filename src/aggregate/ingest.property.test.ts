/**
 * Property test of the ingest path: random and mutated datagrams never throw, and
 * every line is accounted for exactly (samples accepted and errors counted match
 * an independent, slow, string-based oracle of the grammar in reference §1.2).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PacketType, ParseError } from '../protocol/dogstatsd/errors.js';
import { parseEvent, parseServiceCheck } from '../protocol/dogstatsd/event.js';
import { Aggregator } from './aggregator.js';

const NUMBER =
  /^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+)$/;

/** Number() does not read hex floats: evaluate them for the finiteness check. */
function numberOf(text: string): number {
  const m = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)$/.exec(text);
  if (!m) return Number(text);
  const mant = Number.parseInt(`${m[2]}${m[3]}` || '0', 16);
  const v = mant * 2 ** (Number(m[4]) - 4 * m[3].length);
  return m[1] === '-' ? -v : v;
}

/** Expected (samples, errors) for one non-empty line. */
function oracle(line: string): { samples: number; errors: number } {
  if (line.startsWith('_e{')) {
    const buf = Buffer.from(line);
    return parseEvent(buf, 0, buf.length, 0, []) === null
      ? { samples: 0, errors: 1 }
      : { samples: 0, errors: 0 };
  }
  if (line.startsWith('_sc')) {
    const buf = Buffer.from(line);
    return parseServiceCheck(buf, 0, buf.length, [], new Set()) === null
      ? { samples: 0, errors: 1 }
      : { samples: 1, errors: 0 };
  }
  const bad = { samples: 0, errors: 1 };
  const p = line.indexOf('|');
  if (p < 0) return bad;
  const c = line.slice(0, p).indexOf(':');
  if (c <= 0) return bad;
  const sections = line.slice(p + 1).split('|');
  const type = sections[0];
  if (type === '' || !'cghdms'.includes(type[0])) return bad;
  let rate = false;
  let tags = false;
  for (const s of sections.slice(1)) {
    if (s === '') return bad;
    if (s[0] === '@') {
      if (rate) return bad;
      rate = true;
      const r = s.slice(1);
      if (!NUMBER.test(r)) return bad;
      const v = Math.fround(numberOf(r));
      if (!(v > 0 && v <= 1)) return bad;
    } else if (s[0] === '#') {
      if (tags) return bad;
      tags = true;
    } else if (s.startsWith('c:') || s.startsWith('e:')) {
      // accepted DogStatsD 1.2/1.4 fields
    } else if (s[0] === 'T') {
      if (!/^T\d+$/.test(s)) return bad;
    } else return bad;
  }
  const values = line.slice(c + 1, p);
  if (values === '') return { samples: 0, errors: 0 };
  let samples = 0;
  for (const piece of values.split(':')) {
    if (piece === '') return { samples, errors: 1 };
    if (type[0] !== 's' && !(NUMBER.test(piece) && Number.isFinite(numberOf(piece))))
      return { samples, errors: 1 };
    samples++;
  }
  return { samples, errors: 0 };
}

const nameArb = fc.stringMatching(/^[a-z][a-z0-9_.]{0,20}$/);
const tagArb = fc.stringMatching(/^[a-z0-9_]{0,8}(:[a-z0-9_/]{0,8})?$/);
const valueArb = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.integer().map(String),
  fc.constantFrom('nan', 'inf', '-Inf', '1e3', '.5', '5.', '', 'x', '1_0', '0x1p3'),
);
const validLine = fc
  .record({
    name: nameArb,
    values: fc.array(valueArb, { minLength: 1, maxLength: 4 }),
    type: fc.constantFrom('c', 'g', 'h', 'ms', 'd', 's', 'x', ''),
    rate: fc.option(fc.constantFrom('0.5', '1', '0.1', '2', '-1', '0', 'abc'), { nil: undefined }),
    tags: fc.option(fc.array(tagArb, { maxLength: 5 }), { nil: undefined }),
    extra: fc.option(fc.constantFrom('c:abc', 'T1700000000', 'Tx', 'e:x', 'zzz', ''), { nil: undefined }),
  })
  .map(({ name, values, type, rate, tags, extra }) => {
    let l = `${name}:${values.join(':')}|${type}`;
    if (rate !== undefined) l += `|@${rate}`;
    if (tags !== undefined) l += `|#${tags.join(',')}`;
    if (extra !== undefined) l += `|${extra}`;
    return l;
  });
const specialLine = fc.constantFrom(
  '_e{3,3}:foo|bar|k:foos|s:test|t:success|p:low|#foo:bar,baz:qux|d:1136239445|h:example.com',
  '_e{3,4}:foo|bar',
  '_sc|foo.bar|0|#foo:bar|m:msg',
  '_sc|foo.bar|9',
);
/** Mutations: delete, duplicate or replace a character with a grammar-significant one. */
const mutated = fc
  .tuple(validLine, fc.nat(), fc.constantFrom('|', ':', '#', '@', ',', '', 'é', '\r', '\u0000'))
  .map(([l, pos, ch]) => {
    const i = pos % (l.length + 1);
    return l.slice(0, i) + ch + l.slice(i + 1);
  });
const randomLine = fc.string({ maxLength: 60, unit: 'binary' }).map((s) => s.replaceAll('\n', ''));
const lineArb = fc.oneof(validLine, mutated, randomLine, specialLine);

describe('ingest property', () => {
  it('never throws and accounts for every line exactly', () => {
    fc.assert(
      fc.property(fc.array(lineArb, { minLength: 1, maxLength: 20 }), (lines) => {
        const a = new Aggregator({ extendTags: [], metricMaxLength: 1 << 20 });
        const packet = Buffer.from(lines.join('\n'));
        a.ingestPacket(packet);
        let samples = 0;
        let errors = 0;
        for (const l of lines) {
          if (l === '') continue;
          const o = oracle(l);
          samples += o.samples;
          errors += o.errors;
        }
        assert.equal(a.errorTotal, errors, `errors for ${JSON.stringify(lines)}`);
        assert.equal(a.processed, samples, `samples for ${JSON.stringify(lines)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('survives arbitrary bytes, including over-long datagrams', () => {
    const a = new Aggregator({ extendTags: [], metricMaxLength: 512 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1024 }), (bytes) => {
        const before = a.errorCount(PacketType.Unknown, ParseError.TooLong);
        a.ingestPacket(Buffer.from(bytes));
        if (bytes.length > 512)
          assert.equal(a.errorCount(PacketType.Unknown, ParseError.TooLong), before + 1);
      }),
      { numRuns: 3000 },
    );
    a.swap();
  });
});
