/**
 * A FIFO of encoded messages with their key hashes, in two parallel arrays with a
 * moving head (shift is O(1); the arrays are compacted when half is dead).
 */
export class MessageFifo {
  #msgs: Uint8Array[] = [];
  #hashes: number[] = [];
  #head = 0;
  #bytes = 0;

  get length(): number {
    return this.#msgs.length - this.#head;
  }

  /** Sum of the message sizes. */
  get bytes(): number {
    return this.#bytes;
  }

  push(msg: Uint8Array, hash: number): void {
    this.#msgs.push(msg);
    this.#hashes.push(hash);
    this.#bytes += msg.byteLength;
  }

  /** Oldest message; call only when length > 0. Its hash is `lastHash` afterwards. */
  shift(): Uint8Array {
    const i = this.#head;
    const m = this.#msgs[i]!;
    this.lastHash = this.#hashes[i]!;
    this.#msgs[i] = EMPTY;
    this.#head = i + 1;
    this.#bytes -= m.byteLength;
    if (this.#head === this.#msgs.length) {
      this.#msgs = [];
      this.#hashes = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#msgs.length) {
      this.#msgs = this.#msgs.slice(this.#head);
      this.#hashes = this.#hashes.slice(this.#head);
      this.#head = 0;
    }
    return m;
  }

  /** Hash of the message last returned by shift(). */
  lastHash = 0;

  /** Remove and return everything, oldest first. */
  drain(): { msgs: Uint8Array[]; hashes: number[] } {
    const msgs = this.#msgs.slice(this.#head);
    const hashes = this.#hashes.slice(this.#head);
    this.clear();
    return { msgs, hashes };
  }

  clear(): void {
    this.#msgs = [];
    this.#hashes = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}

const EMPTY = new Uint8Array(0);
