import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineFramer } from './line-framer.js';

function framer(max = 1024): { f: LineFramer; lines: string[]; tooLong: () => number } {
  const lines: string[] = [];
  let n = 0;
  const f = new LineFramer(
    (buf, start, end) => lines.push(buf.toString('latin1', start, end)),
    () => {
      n++;
    },
    max,
  );
  return { f, lines, tooLong: () => n };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('LineFramer', () => {
  it('delivers every line of one chunk', () => {
    const { f, lines } = framer();
    f.push(b('a:1|c\nb:2|g\nc:3|ms\n'));
    assert.deepEqual(lines, ['a:1|c', 'b:2|g', 'c:3|ms']);
    assert.equal(f.pending, 0);
  });

  it('reassembles a text split at every byte position, and into single bytes', () => {
    const text = 'first:1|c\r\nsecond:2|g|#a:b\n\nthird:3|h\n';
    const want = ['first:1|c', 'second:2|g|#a:b', 'third:3|h'];
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        const { f, lines } = framer();
        f.push(b(text.slice(0, i)));
        f.push(b(text.slice(i, j)));
        f.push(b(text.slice(j)));
        f.end();
        assert.deepEqual(lines, want, `split at ${i},${j}`);
      }
    }
    const { f, lines } = framer();
    for (const ch of text) f.push(b(ch));
    assert.deepEqual(lines, want);
  });

  it('strips one trailing \\r only, ignores empty lines', () => {
    const { f, lines } = framer();
    f.push(b('a\r\n\r\n\n\nb\r\r\nc'));
    f.end();
    assert.deepEqual(lines, ['a', 'b\r', 'c']);
  });

  it('delivers a final line without newline at end(), only once', () => {
    const { f, lines } = framer();
    f.push(b('a\nlast:1|c'));
    assert.deepEqual(lines, ['a']);
    assert.equal(f.pending, 8);
    f.end();
    f.end();
    assert.deepEqual(lines, ['a', 'last:1|c']);
  });

  it('discard() forgets an unfinished line', () => {
    const { f, lines } = framer();
    f.push(b('a\npartial:1'));
    assert.equal(f.discard(), 9);
    f.end();
    assert.deepEqual(lines, ['a']);
  });

  it('drops an over-long line within one chunk and keeps going', () => {
    const { f, lines, tooLong } = framer(10);
    f.push(b(`ok\n${'x'.repeat(11)}\n${'y'.repeat(10)}\nnext\n`));
    assert.deepEqual(lines, ['ok', 'y'.repeat(10), 'next']);
    assert.equal(tooLong(), 1);
  });

  it('drops an over-long line spread over many chunks, counts it once, resyncs at the newline', () => {
    const { f, lines, tooLong } = framer(10);
    f.push(b('ok\nxxxxxx'));
    f.push(b('xxxxxx'));
    f.push(b('xxxxxxxxxxxxxxxxxxxxxxxx'));
    f.push(b('xx\nafter:1|c\n'));
    assert.deepEqual(lines, ['ok', 'after:1|c']);
    assert.equal(tooLong(), 1);
    // over the cap only once the newline arrives
    f.push(b('123456'));
    f.push(b('78901\nz\n'));
    assert.deepEqual(lines, ['ok', 'after:1|c', 'z']);
    assert.equal(tooLong(), 2);
  });

  it('an over-long unterminated line at end() is not delivered', () => {
    const { f, lines, tooLong } = framer(4);
    f.push(b('abcdefgh'));
    f.end();
    assert.deepEqual(lines, []);
    assert.equal(tooLong(), 1);
    f.push(b('ok\n'));
    assert.deepEqual(lines, ['ok']);
  });

  it('accepts a line of exactly maxLineLength bytes, in one chunk or carried', () => {
    const { f, lines, tooLong } = framer(8);
    f.push(b('12345678\n1234'));
    f.push(b('5678\n'));
    assert.deepEqual(lines, ['12345678', '12345678']);
    assert.equal(tooLong(), 0);
  });

  it('grows the carry-over buffer for long split lines and copies nothing wrong', () => {
    const { f, lines } = framer(65536);
    const long = 'm'.repeat(40000);
    f.push(b(`${long.slice(0, 100)}`));
    f.push(b(long.slice(100, 30000)));
    f.push(b(`${long.slice(30000)}:1|c\nshort:1|c\n`));
    assert.deepEqual(lines, [`${long}:1|c`, 'short:1|c']);
  });

  it('rejects a bad maxLineLength', () => {
    assert.throws(
      () =>
        new LineFramer(
          () => {},
          () => {},
          0,
        ),
      RangeError,
    );
  });
});
