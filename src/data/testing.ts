/**
 * Helpers for the data tests: generated inputs, never real images. Not exported from the
 * package index.
 */

/** The generated test pattern of scripts/make-fixtures-inter-area.py (same integer hash). */
export function testPattern(w: number, h: number, seed: number): Uint8Array {
  const out = new Uint8Array(w * h);
  const s = Math.imul(seed, 0xc2b2ae3d);
  for (let y = 0; y < h; y++) {
    const ys = Math.imul(y, 0x85ebca77);
    for (let x = 0; x < w; x++) {
      let n = (Math.imul(x, 0x9e3779b1) + ys + s) >>> 0;
      n ^= n >>> 16;
      n = Math.imul(n, 0x7feb352d) >>> 0;
      n ^= n >>> 15;
      n = Math.imul(n, 0x846ca68b) >>> 0;
      n ^= n >>> 16;
      const v = Math.floor((x * 255) / w) + Math.floor((y * 128) / h) + (n & 63);
      out[y * w + x] = (Math.floor(x / 17) + Math.floor(y / 23)) % 5 === 0 ? 255 - (v % 256) : v % 256;
    }
  }
  return out;
}
