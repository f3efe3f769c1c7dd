import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metroHash64 } from './metrohash.js';

const MASK = (1n << 64n) - 1n;
const k0 = 0xd6d018f5n;
const k1 = 0xa2aa033bn;
const k2 = 0x62992fc1n;
const k3 = 0x30bc5b29n;

const rotr = (v: bigint, k: bigint): bigint => ((v >> k) | (v << (64n - k))) & MASK;
const mul = (a: bigint, b: bigint): bigint => (a * b) & MASK;
const add = (a: bigint, b: bigint): bigint => (a + b) & MASK;

function readLE(b: Uint8Array, p: number, n: number): bigint {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]);
  return v;
}

/** Slow, obviously-correct MetroHash64 on BigInt, straight from the algorithm description. */
function referenceMetro64(b: Uint8Array, seed: bigint): bigint {
  let p = 0;
  const end = b.length;
  let h = mul(add(seed, k2), k0);
  if (end - p >= 32) {
    const v = [h, h, h, h];
    do {
      v[0] = add(rotr(add(v[0], mul(readLE(b, p, 8), k0)), 29n), v[2]);
      v[1] = add(rotr(add(v[1], mul(readLE(b, p + 8, 8), k1)), 29n), v[3]);
      v[2] = add(rotr(add(v[2], mul(readLE(b, p + 16, 8), k2)), 29n), v[0]);
      v[3] = add(rotr(add(v[3], mul(readLE(b, p + 24, 8), k3)), 29n), v[1]);
      p += 32;
    } while (end - p >= 32);
    v[2] ^= mul(rotr(add(mul(add(v[0], v[3]), k0), v[1]), 37n), k1);
    v[3] ^= mul(rotr(add(mul(add(v[1], v[2]), k1), v[0]), 37n), k0);
    v[0] ^= mul(rotr(add(mul(add(v[0], v[2]), k0), v[3]), 37n), k1);
    v[1] ^= mul(rotr(add(mul(add(v[1], v[3]), k1), v[2]), 37n), k0);
    h = add(h, v[0] ^ v[1]);
  }
  if (end - p >= 16) {
    let v0 = mul(rotr(add(h, mul(readLE(b, p, 8), k2)), 29n), k3);
    let v1 = mul(rotr(add(h, mul(readLE(b, p + 8, 8), k2)), 29n), k3);
    v0 ^= add(rotr(mul(v0, k0), 21n), v1);
    v1 ^= add(rotr(mul(v1, k3), 21n), v0);
    h = add(h, v1);
    p += 16;
  }
  if (end - p >= 8) {
    h = add(h, mul(readLE(b, p, 8), k3));
    h ^= mul(rotr(h, 55n), k1);
    p += 8;
  }
  if (end - p >= 4) {
    h = add(h, mul(readLE(b, p, 4), k3));
    h ^= mul(rotr(h, 26n), k1);
    p += 4;
  }
  if (end - p >= 2) {
    h = add(h, mul(readLE(b, p, 2), k3));
    h ^= mul(rotr(h, 48n), k1);
    p += 2;
  }
  if (end - p >= 1) {
    h = add(h, mul(BigInt(b[p]), k3));
    h ^= mul(rotr(h, 37n), k1);
  }
  h ^= rotr(h, 28n);
  h = mul(h, k0);
  h ^= rotr(h, 29n);
  return h;
}

const out = new Uint32Array(2);
function fast(b: Uint8Array, seed: bigint, start = 0, end = b.length): bigint {
  metroHash64(b, start, end, Number(seed & 0xffffffffn), out, Number(seed >> 32n));
  return (BigInt(out[1]) << 32n) | BigInt(out[0]);
}

const KEY63 = new TextEncoder().encode('012345678901234567890123456789012345678901234567890123456789012');

describe('metroHash64', () => {
  it('matches the published MetroHash64 vectors', () => {
    // The algorithm's reference output bytes (little-endian) for the 63-byte key.
    assert.equal(
      fast(KEY63, 0n),
      readLE(new Uint8Array([0x6b, 0x75, 0x3d, 0xae, 0x06, 0x70, 0x4b, 0xad]), 0, 8),
    );
    assert.equal(
      fast(KEY63, 1n),
      readLE(new Uint8Array([0x3b, 0x0d, 0x48, 0x1c, 0xf4, 0xb9, 0xb8, 0xdf]), 0, 8),
    );
  });

  it('matches go-metro Hash64 on short inputs of every tail length', () => {
    // (seed, bytes, expected) from the go-metro test suite.
    const cases: [number, number[], bigint][] = [
      [0, [], 0x705fb008071e967dn],
      [1, [0x57], 0x994b888860087081n],
      [2, [0xfc, 0x43], 0x6f3e3ba283525385n],
      [3, [0x66, 0xe0, 0xf5], 0xb7786378513641bn],
      [4, [0x5a, 0xc7, 0xbb, 0x55], 0xb041ec8e8c9e31b9n],
      [5, [0x1a, 0xf5, 0x20, 0xbf, 0x94], 0x22ce6627005cfab0n],
      [6, [0x7a, 0x94, 0x90, 0x3c, 0x1a, 0x96], 0x4b62e5d8e45fbd6an],
      [7, [0xd0, 0x8f, 0x53, 0xe0, 0xb8, 0x21, 0xbf], 0x2f7b0705fa884c2fn],
      [8, [0xf, 0x38, 0x2, 0x7a, 0xc0, 0x54, 0x23, 0x7b], 0xddc11ce069d8e011n],
      [9, [0x11, 0x4a, 0x0, 0xfc, 0xb7, 0x3, 0xf3, 0xcd, 0x5e], 0x75d08d7724e01f59n],
      [
        16,
        [0x9a, 0xd4, 0xe4, 0x9d, 0x31, 0xdc, 0xf6, 0xde, 0x7a, 0x50, 0xa8, 0x5d, 0x72, 0x1e, 0xe4, 0x2d],
        0x428548e9d23de9f9n,
      ],
    ];
    for (const [seed, bytes, want] of cases) {
      assert.equal(fast(new Uint8Array(bytes), BigInt(seed)), want, `len ${bytes.length}`);
    }
  });

  it('agrees with a BigInt reference on random inputs and seeds', () => {
    let s = 0x12345678;
    const rnd = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return s >>> 0;
    };
    for (let len = 0; len <= 200; len++) {
      const b = new Uint8Array(len);
      for (let i = 0; i < len; i++) b[i] = rnd() & 0xff;
      const seed = len % 3 === 0 ? 1337n : (BigInt(rnd()) << 32n) | BigInt(rnd());
      assert.equal(fast(b, seed), referenceMetro64(b, seed), `len ${len}`);
    }
    assert.equal(fast(KEY63, 0n), referenceMetro64(KEY63, 0n));
  });

  it('hashes a sub-range in place', () => {
    const b = new TextEncoder().encode('xxxhello world, this is a longer member name!yyy');
    const inner = b.slice(3, b.length - 3);
    assert.equal(fast(b, 1337n, 3, b.length - 3), fast(inner, 1337n));
    assert.equal(fast(inner, 1337n), referenceMetro64(inner, 1337n));
  });
});
