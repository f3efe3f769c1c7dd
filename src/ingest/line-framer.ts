/**
 * Newline framing for stream transports (TCP, TLS, unix stream), on Buffers:
 * no string conversion, no per-line allocation. One framer per connection.
 *
 * Semantics (reference §1.5, Go's bufio.Scanner with ScanLines):
 * - a line ends at `\n`; one trailing `\r` is stripped; empty lines are ignored;
 * - a line split across chunks is kept in a per-connection carry-over buffer,
 *   so only lines that straddle a chunk boundary are copied (once);
 * - a line longer than `maxLineLength` bytes (not counting its `\n`) is dropped and
 *   reported through `onTooLong` once; framing resyncs at the next `\n` and the
 *   connection stays open (Go's scanner would fail and close the connection);
 * - `end()` delivers a final line that has no `\n` (the peer closed the stream:
 *   many clients omit the last newline, and Go Veneur counts such a line, §15).
 */

/**
 * Receives one line without its newline. `buf` is only valid during the call:
 * it may be the framer's reused carry-over buffer, so copy what you keep.
 */
export type LineHandler = (buf: Buffer, start: number, end: number) => void;

const EMPTY = Buffer.alloc(0);
const NL = 0x0a;
const CR = 0x0d;
/** First carry-over allocation; doubled as needed up to maxLineLength. */
const MIN_CARRY = 256;
/** A carry-over buffer grown past this is released once empty, so idle connections stay small. */
const KEEP_CARRY = 16 * 1024;

export class LineFramer {
  readonly #onLine: LineHandler;
  readonly #onTooLong: () => void;
  readonly #max: number;
  #carry: Buffer = EMPTY;
  #carryLen = 0;
  /** Inside an over-long line: skip bytes up to the next `\n`. */
  #skipping = false;

  constructor(onLine: LineHandler, onTooLong: () => void, maxLineLength: number) {
    if (!Number.isInteger(maxLineLength) || maxLineLength < 1) {
      throw new RangeError(`maxLineLength must be a positive integer, got ${maxLineLength}`);
    }
    this.#onLine = onLine;
    this.#onTooLong = onTooLong;
    this.#max = maxLineLength;
  }

  /** Bytes of an unfinished line held back (0 when none, or when skipping an over-long line). */
  get pending(): number {
    return this.#carryLen;
  }

  /** Feed one chunk; every line it completes is delivered before this returns. */
  push(chunk: Buffer): void {
    const len = chunk.length;
    let pos = 0;
    let nl = chunk.indexOf(NL);
    if (this.#skipping) {
      if (nl < 0) return;
      this.#skipping = false;
      pos = nl + 1;
      nl = chunk.indexOf(NL, pos);
    } else if (this.#carryLen > 0) {
      if (nl < 0) {
        this.#append(chunk, 0, len);
        return;
      }
      if (this.#carryLen + nl > this.#max) {
        this.#onTooLong();
      } else {
        this.#append(chunk, 0, nl);
        this.#emit(this.#carry, 0, this.#carryLen);
      }
      this.#resetCarry();
      pos = nl + 1;
      nl = chunk.indexOf(NL, pos);
    }
    while (nl >= 0) {
      if (nl - pos > this.#max) this.#onTooLong();
      else this.#emit(chunk, pos, nl);
      pos = nl + 1;
      nl = chunk.indexOf(NL, pos);
    }
    if (pos < len) this.#append(chunk, pos, len);
  }

  /** The stream ended cleanly: deliver a final line that had no `\n`. */
  end(): void {
    if (this.#carryLen > 0) this.#emit(this.#carry, 0, this.#carryLen);
    this.#resetCarry();
    this.#skipping = false;
  }

  /** Forget an unfinished line (stream aborted: it may be truncated). Returns its byte count. */
  discard(): number {
    const n = this.#carryLen;
    this.#resetCarry();
    this.#skipping = false;
    return n;
  }

  #emit(buf: Buffer, start: number, end: number): void {
    if (end > start && buf[end - 1] === CR) end--;
    if (end > start) this.#onLine(buf, start, end);
  }

  #append(chunk: Buffer, start: number, end: number): void {
    const need = this.#carryLen + (end - start);
    if (need > this.#max) {
      // over-long and still no newline: count it now, skip the rest of it
      this.#onTooLong();
      this.#resetCarry();
      this.#skipping = true;
      return;
    }
    if (need > this.#carry.length) {
      let cap = Math.max(MIN_CARRY, this.#carry.length * 2);
      while (cap < need) cap *= 2;
      const grown = Buffer.allocUnsafe(Math.min(cap, this.#max));
      this.#carry.copy(grown, 0, 0, this.#carryLen);
      this.#carry = grown;
    }
    chunk.copy(this.#carry, this.#carryLen, start, end);
    this.#carryLen = need;
  }

  #resetCarry(): void {
    this.#carryLen = 0;
    if (this.#carry.length > KEEP_CARRY) this.#carry = EMPTY;
  }
}
