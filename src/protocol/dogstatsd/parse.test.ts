import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricType } from '../../model/metric.js';
import { ParseError } from './errors.js';
import { parseEvent, parseServiceCheck } from './event.js';
import { canonicalizeTags, compareBytewise, ParsedSuffix, parseSuffix } from './metric.js';
import { parseNumber } from './number.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function num(s: string): number {
  const buf = b(s);
  return parseNumber(buf, 0, buf.length);
}

function suffix(line: string): { err: ParseError; out: ParsedSuffix } {
  const buf = b(line);
  const out = new ParsedSuffix();
  const pipe = buf.indexOf(124);
  return { err: parseSuffix(buf, pipe, buf.length, out), out };
}

describe('numbers (Go ParseFloat grammar)', () => {
  it('parses decimals exactly like Number for the fast path', () => {
    for (const s of [
      '0',
      '1',
      '-1',
      '1.234',
      '0.17',
      '10.918',
      '123456789012345',
      '-0.5',
      '.5',
      '5.',
      '+3',
    ]) {
      assert.equal(num(s), Number(s), s);
    }
  });
  it('parses exponents and hex floats', () => {
    assert.equal(num('1e3'), 1000);
    assert.equal(num('1.5E-2'), 0.015);
    assert.equal(num('0x1p-2'), 0.25);
    assert.equal(num('-0X1.8p1'), -3);
    assert.equal(num('12345678901234567890'), Number('12345678901234567890'));
  });
  it('rejects what Go rejects, and non-finite values', () => {
    for (const s of [
      '',
      '-',
      '.',
      'nan',
      'NaN',
      'inf',
      '+inf',
      '-Inf',
      'Infinity',
      '1_000',
      ' 1',
      '1 ',
      '0x1F',
      '1e',
      'fart',
      '1e400',
      '--1',
    ]) {
      assert.ok(Number.isNaN(num(s)), s);
    }
  });
});

describe('metric suffix', () => {
  it('detects the type from the first byte', () => {
    const cases: [string, MetricType][] = [
      ['a:1|c', MetricType.Counter],
      ['a:1|count', MetricType.Counter],
      ['a:1|g', MetricType.Gauge],
      ['a:1|h', MetricType.Histogram],
      ['a:1|d', MetricType.Histogram],
      ['a:1|ms', MetricType.Timer],
      ['a:1|msXYZ', MetricType.Timer],
      ['a:x|s', MetricType.Set],
    ];
    for (const [line, type] of cases) {
      const { err, out } = suffix(line);
      assert.equal(err, ParseError.None, line);
      assert.equal(out.type, type, line);
    }
  });
  it('reads sample rate and tags in any order', () => {
    const { err, out } = suffix('a.b.c:1|c|#foo:bar,baz:gorch|@0.1');
    assert.equal(err, ParseError.None);
    assert.equal(out.rate, 0.1);
    assert.equal(
      b('a.b.c:1|c|#foo:bar,baz:gorch|@0.1').toString('utf8', out.tagsStart, out.tagsEnd),
      'foo:bar,baz:gorch',
    );
  });
  it('accepts DogStatsD 1.2/1.3/1.4 fields', () => {
    assert.equal(suffix('x:1|c|c:abc123').err, ParseError.None);
    const t = suffix('x:1|c|#a:b|T1700000000');
    assert.equal(t.err, ParseError.None);
    assert.equal(t.out.timestamp, 1700000000);
    assert.equal(suffix('x:1|c|e:it-false,cn-nginx').err, ParseError.None);
    assert.equal(suffix('x:1|c|Tabc').err, ParseError.BadContainerOrTimestamp);
  });
  it('rejects the upstream invalid-packet corpus', () => {
    const cases: [string, ParseError][] = [
      ['foo:1||', ParseError.EmptyType],
      ['foo:1|foo|', ParseError.UnknownType],
      ['foo:1|c||', ParseError.EmptySection],
      ['foo:1|c|', ParseError.EmptySection],
      ['foo:1|c|foo', ParseError.UnknownSection],
      ['foo:1|c|@-0.1', ParseError.BadSampleRate],
      ['foo:1|c|@1.1', ParseError.BadSampleRate],
      ['foo:1|c|@0', ParseError.BadSampleRate],
      ['foo:1|c|@0.5|@0.2', ParseError.MultipleSampleRates],
      ['foo:1|c|#foo|#bar', ParseError.MultipleTagSections],
      ['foo:1|c||@0.1', ParseError.EmptySection],
    ];
    for (const [line, err] of cases) assert.equal(suffix(line).err, err, line);
  });
});

describe('tag canonicalisation', () => {
  it('sorts, keeps empty tags and consumes the first magic tag by prefix', () => {
    assert.deepEqual(canonicalizeTags('foo:bar,baz:gorch', [], new Set()).tags, ['baz:gorch', 'foo:bar']);
    assert.deepEqual(canonicalizeTags('', [], new Set()).tags, ['']);
    const m = canonicalizeTags('a:1,veneurlocalonly:true,veneurglobalonly', [], new Set());
    assert.equal(m.magic, 1);
    assert.deepEqual(m.tags, ['a:1', 'veneurglobalonly']);
    assert.equal(canonicalizeTags('veneurglobalonly', [], new Set()).magic, 2);
    assert.equal(canonicalizeTags('veneurglobalonlyx', [], new Set(), true).magic, 0);
  });
  it('extend_tags override packet tags with the same key', () => {
    const ext = ['implicit', 'env:prod'];
    const keys = new Set(['implicit', 'env']);
    assert.deepEqual(canonicalizeTags('env:dev,foo:1,implicit:quux', ext, keys).tags, [
      'env:prod',
      'foo:1',
      'implicit',
    ]);
    assert.deepEqual(canonicalizeTags(null, ext, keys).tags, ['env:prod', 'implicit']);
  });
  it('sorts by UTF-8 bytes like Go', () => {
    const tags = ['\u{1F600}', '\uFFFD', 'a', 'Z'];
    assert.deepEqual([...tags].sort(compareBytewise), ['Z', 'a', '\uFFFD', '\u{1F600}']);
  });
});

describe('events', () => {
  const ev = (s: string) => parseEvent(b(s), 0, b(s).length, 1000, []);
  it('parses the full upstream event', () => {
    const e = ev('_e{3,3}:foo|bar|k:foos|s:test|t:success|p:low|#foo:bar,baz:qux|d:1136239445|h:example.com');
    assert.ok(e);
    assert.equal(e.title, 'foo');
    assert.equal(e.text, 'bar');
    assert.equal(e.aggregationKey, 'foos');
    assert.equal(e.sourceType, 'test');
    assert.equal(e.alertType, 'success');
    assert.equal(e.priority, 'low');
    assert.equal(e.timestamp, 1136239445);
    assert.equal(e.hostname, 'example.com');
    assert.deepEqual(
      [...e.tags],
      [
        ['foo', 'bar'],
        ['baz', 'qux'],
      ],
    );
  });
  it('unescapes newlines and defaults the timestamp to now', () => {
    const e = ev('_e{3,15}:foo|foo\\nbar\\nbaz\\n');
    assert.equal(e?.text, 'foo\nbar\nbaz\n');
    assert.equal(e?.timestamp, 1000);
  });
  it('rejects the upstream error corpus', () => {
    for (const s of [
      '_e{4,3}:foo|bar',
      '_e{3,4}:foo|bar',
      '_e{3,3}:foo|bar|d:abc',
      '_e{3,3}:foo|bar|p:baz',
      '_e{3,3}:foo|bar|t:baz',
      '_e{3,3}:foo|bar|t:info|t:info',
      '_e{3,3}:foo|bar||',
      '_e{3,0}:foo||',
      '_e{3,3}:foo',
      '_e{3,3}',
      '_e{x,3}:foo|bar',
    ]) {
      assert.equal(ev(s), null, s);
    }
  });
});

describe('service checks', () => {
  const sc = (s: string) => parseServiceCheck(b(s), 0, b(s).length, [], new Set());
  it('parses the upstream check', () => {
    const c = sc('_sc|foo.bar|0|#foo:bar,qux:dor|d:1136239445|h:example.com');
    assert.ok(c);
    assert.equal(c.name, 'foo.bar');
    assert.equal(c.status, 0);
    assert.equal(c.hostname, 'example.com');
    assert.deepEqual(c.tags, ['foo:bar', 'qux:dor']);
    assert.deepEqual(sc('_sc|foo|1|m:foo'), {
      name: 'foo',
      status: 1,
      message: 'foo',
      hostname: '',
      tags: [],
      magic: 0,
    });
  });
  it('uses exact magic tags and unescapes the message', () => {
    const c = sc('_sc|x|2|#veneurlocalonly,a|m:line1\\nline2');
    assert.equal(c?.magic, 1);
    assert.deepEqual(c?.tags, ['a']);
    assert.equal(c?.message, 'line1\nline2');
  });
  it('rejects the upstream error corpus', () => {
    for (const s of [
      '_sc|foo.bar',
      '_sc|foo.bar|5',
      '_sc|foo.bar|0||',
      '_sc|foo.bar|0|d:abc',
      '_sc||0',
      '_sc|a|0|m:x|h:y',
    ]) {
      assert.equal(sc(s), null, s);
    }
  });
});
