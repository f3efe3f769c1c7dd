/**
 * CRC-32 (IEEE 802.3, the one Go's `hash/crc32.ChecksumIEEE` computes): reflected
 * polynomial 0xEDB88320, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF.
 * Table-driven, one byte per step; the ring hashes short keys (a metric name plus
 * its tags) once per metric, so the 1 KiB table is all the speed needed.
 *
 * The running form (`crc32Update` on the *un-finalised* state) lets the proxy hash
 * a key made of several byte ranges (name, type, tags) without concatenating them.
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Start state for crc32Update. */
export const CRC32_INIT = 0xffffffff;

/** Feed bytes [start, end) of `buf` into a running state (from CRC32_INIT). */
export function crc32Update(state: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = state;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** Feed one byte. */
export function crc32UpdateByte(state: number, byte: number): number {
  return TABLE[(state ^ byte) & 0xff]! ^ (state >>> 8);
}

/**
 * Feed the UTF-8 encoding of a JS string (what Go hashes for a Go string built from
 * the same text). Lone surrogates are encoded as U+FFFD, as TextEncoder does.
 */
export function crc32UpdateString(state: number, s: string): number {
  let c = state;
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp < 0x80) {
      c = TABLE[(c ^ cp) & 0xff]! ^ (c >>> 8);
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      cp = 0xfffd;
    }
    if (cp < 0x800) {
      c = crc32UpdateByte(c, 0xc0 | (cp >> 6));
      c = crc32UpdateByte(c, 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      c = crc32UpdateByte(c, 0xe0 | (cp >> 12));
      c = crc32UpdateByte(c, 0x80 | ((cp >> 6) & 0x3f));
      c = crc32UpdateByte(c, 0x80 | (cp & 0x3f));
    } else {
      c = crc32UpdateByte(c, 0xf0 | (cp >> 18));
      c = crc32UpdateByte(c, 0x80 | ((cp >> 12) & 0x3f));
      c = crc32UpdateByte(c, 0x80 | ((cp >> 6) & 0x3f));
      c = crc32UpdateByte(c, 0x80 | (cp & 0x3f));
    }
  }
  return c;
}

/** Finish a running state: the checksum as an unsigned 32-bit number. */
export function crc32Final(state: number): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** CRC-32 IEEE of a string's UTF-8 bytes. */
export function crc32String(s: string): number {
  return crc32Final(crc32UpdateString(CRC32_INIT, s));
}

/** CRC-32 IEEE of bytes. */
export function crc32Bytes(buf: Uint8Array): number {
  return crc32Final(crc32Update(CRC32_INIT, buf));
}
