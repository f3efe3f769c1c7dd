/**
 * MetroHash64 (J. Andrew Rogers' algorithm, the variant `dgryski/go-metro`
 * implements as `Hash64(buffer, seed uint64)`), which Veneur's HyperLogLog
 * uses with seed 1337 to hash set members.
 *
 * JS has no fast 64-bit integers (BigInt allocates), so every 64-bit value is
 * kept as two int32 halves in local variables and the arithmetic is spelled
 * out on them: addition with carry, rotation, and multiplication by the four
 * 32-bit constants (a 64×32-bit product needs Math.imul for the low words plus
 * the high half of one 32×32 product, computed from 16-bit limbs). Every
 * multiplication in MetroHash64 is by one of those constants, so no general
 * 64×64 multiply is needed. The operations are written out inline (rather
 * than as helpers returning pairs) so that nothing is allocated and V8 keeps
 * everything in registers.
 *
 * The result is written into a caller-provided Uint32Array as [lo, hi].
 */

// The constants k0..k3 (all below 2^32).
const K0 = 0xd6d018f5;
const K1 = 0xa2aa033b;
const K2 = 0x62992fc1;
const K3 = 0x30bc5b29;

/** High 32 bits of the 64-bit product of a (int32 bits, read as uint32) and the uint32 constant k. */
function mulHi(a: number, k: number): number {
  a >>>= 0;
  const al = a & 0xffff;
  const ah = a >>> 16;
  const kl = k & 0xffff;
  const kh = k >>> 16;
  const lh = al * kh;
  const hl = ah * kl;
  // Carry out of the low word: top of the low product plus the low halves of the cross products.
  const mid = ((al * kl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * kh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) | 0;
}

function readU32(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
}

/**
 * MetroHash64 of buf[start, end) with a 64-bit seed given as two uint32
 * halves (seedHi defaults to 0). Writes the hash to out[0] (low 32 bits) and
 * out[1] (high 32 bits).
 */
export function metroHash64(
  buf: Uint8Array,
  start: number,
  end: number,
  seedLo: number,
  out: Uint32Array,
  seedHi = 0,
): void {
  let p = start;
  // Scratch for one 64-bit temporary (x) and for reads (dl/dh).
  let xl = 0;
  let xh = 0;
  let tl = 0;
  let th = 0;
  let dl = 0;
  let dh = 0;

  // h = (seed + k2) * k0
  xl = (seedLo + K2) | 0;
  xh = (seedHi + (xl >>> 0 < K2 ? 1 : 0)) | 0;
  let hl = Math.imul(xl, K0);
  let hh = (Math.imul(xh, K0) + mulHi(xl, K0)) | 0;

  if (end - p >= 32) {
    let v0l = hl;
    let v0h = hh;
    let v1l = hl;
    let v1h = hh;
    let v2l = hl;
    let v2h = hh;
    let v3l = hl;
    let v3h = hh;
    do {
      // v0 = rotr(v0 + read(p) * k0, 29) + v2
      dl = readU32(buf, p);
      dh = readU32(buf, p + 4);
      tl = Math.imul(dl, K0);
      th = (Math.imul(dh, K0) + mulHi(dl, K0)) | 0;
      xl = (v0l + tl) | 0;
      xh = (v0h + th + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      tl = (xl >>> 29) | (xh << 3);
      th = (xh >>> 29) | (xl << 3);
      v0l = (tl + v2l) | 0;
      v0h = (th + v2h + (v0l >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      // v1 = rotr(v1 + read(p+8) * k1, 29) + v3
      dl = readU32(buf, p + 8);
      dh = readU32(buf, p + 12);
      tl = Math.imul(dl, K1);
      th = (Math.imul(dh, K1) + mulHi(dl, K1)) | 0;
      xl = (v1l + tl) | 0;
      xh = (v1h + th + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      tl = (xl >>> 29) | (xh << 3);
      th = (xh >>> 29) | (xl << 3);
      v1l = (tl + v3l) | 0;
      v1h = (th + v3h + (v1l >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      // v2 = rotr(v2 + read(p+16) * k2, 29) + v0
      dl = readU32(buf, p + 16);
      dh = readU32(buf, p + 20);
      tl = Math.imul(dl, K2);
      th = (Math.imul(dh, K2) + mulHi(dl, K2)) | 0;
      xl = (v2l + tl) | 0;
      xh = (v2h + th + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      tl = (xl >>> 29) | (xh << 3);
      th = (xh >>> 29) | (xl << 3);
      v2l = (tl + v0l) | 0;
      v2h = (th + v0h + (v2l >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      // v3 = rotr(v3 + read(p+24) * k3, 29) + v1
      dl = readU32(buf, p + 24);
      dh = readU32(buf, p + 28);
      tl = Math.imul(dl, K3);
      th = (Math.imul(dh, K3) + mulHi(dl, K3)) | 0;
      xl = (v3l + tl) | 0;
      xh = (v3h + th + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      tl = (xl >>> 29) | (xh << 3);
      th = (xh >>> 29) | (xl << 3);
      v3l = (tl + v1l) | 0;
      v3h = (th + v1h + (v3l >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
      p += 32;
    } while (end - p >= 32);

    // v2 ^= rotr((v0 + v3) * k0 + v1, 37) * k1
    xl = (v0l + v3l) | 0;
    xh = (v0h + v3h + (xl >>> 0 < v3l >>> 0 ? 1 : 0)) | 0;
    tl = Math.imul(xl, K0);
    th = (Math.imul(xh, K0) + mulHi(xl, K0)) | 0;
    xl = (tl + v1l) | 0;
    xh = (th + v1h + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (xh >>> 5) | (xl << 27); // rotr 37 = swap halves, rotr 5
    th = (xl >>> 5) | (xh << 27);
    v2l ^= Math.imul(tl, K1);
    v2h ^= (Math.imul(th, K1) + mulHi(tl, K1)) | 0;
    // v3 ^= rotr((v1 + v2) * k1 + v0, 37) * k0
    xl = (v1l + v2l) | 0;
    xh = (v1h + v2h + (xl >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
    tl = Math.imul(xl, K1);
    th = (Math.imul(xh, K1) + mulHi(xl, K1)) | 0;
    xl = (tl + v0l) | 0;
    xh = (th + v0h + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (xh >>> 5) | (xl << 27);
    th = (xl >>> 5) | (xh << 27);
    v3l ^= Math.imul(tl, K0);
    v3h ^= (Math.imul(th, K0) + mulHi(tl, K0)) | 0;
    // v0 ^= rotr((v0 + v2) * k0 + v3, 37) * k1
    xl = (v0l + v2l) | 0;
    xh = (v0h + v2h + (xl >>> 0 < v2l >>> 0 ? 1 : 0)) | 0;
    tl = Math.imul(xl, K0);
    th = (Math.imul(xh, K0) + mulHi(xl, K0)) | 0;
    xl = (tl + v3l) | 0;
    xh = (th + v3h + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (xh >>> 5) | (xl << 27);
    th = (xl >>> 5) | (xh << 27);
    v0l ^= Math.imul(tl, K1);
    v0h ^= (Math.imul(th, K1) + mulHi(tl, K1)) | 0;
    // v1 ^= rotr((v1 + v3) * k1 + v2, 37) * k0
    xl = (v1l + v3l) | 0;
    xh = (v1h + v3h + (xl >>> 0 < v3l >>> 0 ? 1 : 0)) | 0;
    tl = Math.imul(xl, K1);
    th = (Math.imul(xh, K1) + mulHi(xl, K1)) | 0;
    xl = (tl + v2l) | 0;
    xh = (th + v2h + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (xh >>> 5) | (xl << 27);
    th = (xl >>> 5) | (xh << 27);
    v1l ^= Math.imul(tl, K0);
    v1h ^= (Math.imul(th, K0) + mulHi(tl, K0)) | 0;
    // h += v0 ^ v1
    tl = v0l ^ v1l;
    th = v0h ^ v1h;
    hl = (hl + tl) | 0;
    hh = (hh + th + (hl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
  }

  if (end - p >= 16) {
    // v0 = rotr(h + read(p) * k2, 29) * k3
    dl = readU32(buf, p);
    dh = readU32(buf, p + 4);
    tl = Math.imul(dl, K2);
    th = (Math.imul(dh, K2) + mulHi(dl, K2)) | 0;
    xl = (hl + tl) | 0;
    xh = (hh + th + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (xl >>> 29) | (xh << 3);
    th = (xh >>> 29) | (xl << 3);
    let v0l = Math.imul(tl, K3);
    let v0h = (Math.imul(th, K3) + mulHi(tl, K3)) | 0;
    // v1 = rotr(h + read(p+8) * k2, 29) * k3
    dl = readU32(buf, p + 8);
    dh = readU32(buf, p + 12);
    tl = Math.imul(dl, K2);
    th = (Math.imul(dh, K2) + mulHi(dl, K2)) | 0;
    xl = (hl + tl) | 0;
    xh = (hh + th + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (xl >>> 29) | (xh << 3);
    th = (xh >>> 29) | (xl << 3);
    let v1l = Math.imul(tl, K3);
    let v1h = (Math.imul(th, K3) + mulHi(tl, K3)) | 0;
    // v0 ^= rotr(v0 * k0, 21) + v1
    xl = Math.imul(v0l, K0);
    xh = (Math.imul(v0h, K0) + mulHi(v0l, K0)) | 0;
    tl = (xl >>> 21) | (xh << 11);
    th = (xh >>> 21) | (xl << 11);
    xl = (tl + v1l) | 0;
    xh = (th + v1h + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    v0l ^= xl;
    v0h ^= xh;
    // v1 ^= rotr(v1 * k3, 21) + v0
    xl = Math.imul(v1l, K3);
    xh = (Math.imul(v1h, K3) + mulHi(v1l, K3)) | 0;
    tl = (xl >>> 21) | (xh << 11);
    th = (xh >>> 21) | (xl << 11);
    xl = (tl + v0l) | 0;
    xh = (th + v0h + (xl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    v1l ^= xl;
    v1h ^= xh;
    // h += v1
    hl = (hl + v1l) | 0;
    hh = (hh + v1h + (hl >>> 0 < v1l >>> 0 ? 1 : 0)) | 0;
    p += 16;
  }

  if (end - p >= 8) {
    // h += read64 * k3; h ^= rotr(h, 55) * k1
    dl = readU32(buf, p);
    dh = readU32(buf, p + 4);
    tl = Math.imul(dl, K3);
    th = (Math.imul(dh, K3) + mulHi(dl, K3)) | 0;
    hl = (hl + tl) | 0;
    hh = (hh + th + (hl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (hh >>> 23) | (hl << 9); // rotr 55 = swap halves, rotr 23
    th = (hl >>> 23) | (hh << 9);
    hl ^= Math.imul(tl, K1);
    hh ^= (Math.imul(th, K1) + mulHi(tl, K1)) | 0;
    p += 8;
  }

  if (end - p >= 4) {
    // h += read32 * k3; h ^= rotr(h, 26) * k1
    dl = readU32(buf, p);
    tl = Math.imul(dl, K3);
    th = mulHi(dl, K3);
    hl = (hl + tl) | 0;
    hh = (hh + th + (hl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (hl >>> 26) | (hh << 6);
    th = (hh >>> 26) | (hl << 6);
    hl ^= Math.imul(tl, K1);
    hh ^= (Math.imul(th, K1) + mulHi(tl, K1)) | 0;
    p += 4;
  }

  if (end - p >= 2) {
    // h += read16 * k3; h ^= rotr(h, 48) * k1
    dl = buf[p] | (buf[p + 1] << 8);
    tl = Math.imul(dl, K3);
    th = mulHi(dl, K3);
    hl = (hl + tl) | 0;
    hh = (hh + th + (hl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (hh >>> 16) | (hl << 16); // rotr 48 = swap halves, rotr 16
    th = (hl >>> 16) | (hh << 16);
    hl ^= Math.imul(tl, K1);
    hh ^= (Math.imul(th, K1) + mulHi(tl, K1)) | 0;
    p += 2;
  }

  if (end - p >= 1) {
    // h += read8 * k3; h ^= rotr(h, 37) * k1
    dl = buf[p];
    tl = Math.imul(dl, K3);
    th = mulHi(dl, K3);
    hl = (hl + tl) | 0;
    hh = (hh + th + (hl >>> 0 < tl >>> 0 ? 1 : 0)) | 0;
    tl = (hh >>> 5) | (hl << 27); // rotr 37 = swap halves, rotr 5
    th = (hl >>> 5) | (hh << 27);
    hl ^= Math.imul(tl, K1);
    hh ^= (Math.imul(th, K1) + mulHi(tl, K1)) | 0;
  }

  // h ^= rotr(h, 28); h *= k0; h ^= rotr(h, 29)
  tl = (hl >>> 28) | (hh << 4);
  th = (hh >>> 28) | (hl << 4);
  hl ^= tl;
  hh ^= th;
  xl = Math.imul(hl, K0);
  xh = (Math.imul(hh, K0) + mulHi(hl, K0)) | 0;
  tl = (xl >>> 29) | (xh << 3);
  th = (xh >>> 29) | (xl << 3);
  out[0] = xl ^ tl;
  out[1] = xh ^ th;
}
