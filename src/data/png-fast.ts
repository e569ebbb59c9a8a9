/**
 * Fast path for the common PNG: 8-bit, not interlaced, gray / gray+alpha / RGB / RGBA, no EXIF
 * (colour profiles are ignored by both paths, as OpenCV and PIL do). The compressed data go through Node's zlib (the same inflate libvips uses);
 * only the chunk walk and PNG's row filters are done here, fused with the gray conversion.
 *
 * Why: sharp (libvips) costs about 1.5 ms of pipeline overhead per 480×480 image on top of the
 * inflate, which made decoding 3× slower than PIL on cxr-mini. sharp stays the reference: anything
 * this path does not handle, or any anomaly (bad CRC, short or extra data, zlib error), returns
 * `undefined` and the caller decodes with sharp, which also produces the error messages. A test
 * checks that both paths give identical pixels.
 */
import zlib from 'node:zlib';
import { MAX_PIXELS } from './limits.js';
import { imageOps } from './native-ops.js';

// Node ≥ 20.15 has zlib.crc32; without it the fast path is off (sharp checks CRCs itself)
const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

/** Chunks that do not change the pixels sharp returns (no gamma, no ICC with ignoreIcc; we drop alpha). */
const HARMLESS = new Set(['iCCP', 'tEXt', 'zTXt', 'iTXt', 'pHYs', 'tIME', 'gAMA', 'cHRM', 'sRGB', 'bKGD', 'sBIT']);

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

function chunkType(b: Uint8Array, p: number): string {
  return String.fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
}

/** 8-bit gray of a simple PNG, or undefined when sharp must decode it. */
export function decodePngFast(buf: Uint8Array): { width: number; height: number; data: Uint8Array } | undefined {
  if (crc32 === undefined || buf.length < 8 + 25) return undefined;
  let p = 8;
  let w = 0;
  let h = 0;
  let ch = 0;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (p + 12 <= buf.length) {
    const len = u32(buf, p);
    const type = chunkType(buf, p + 4);
    const end = p + 12 + len;
    if (len > 0x7fffffff || end > buf.length) return undefined;
    if (crc32(buf.subarray(p + 4, p + 8 + len)) !== u32(buf, p + 8 + len)) return undefined;
    const d = p + 8;
    if (p === 8) {
      // IHDR first: width, height, bit depth, colour type, compression, filter, interlace
      if (type !== 'IHDR' || len !== 13) return undefined;
      w = u32(buf, d);
      h = u32(buf, d + 4);
      ch = CHANNELS[buf[d + 9]!] ?? 0;
      if (buf[d + 8] !== 8 || ch === 0 || buf[d + 10] !== 0 || buf[d + 11] !== 0 || buf[d + 12] !== 0) return undefined;
      if (w === 0 || h === 0 || w * h > MAX_PIXELS) return undefined;
    } else if (type === 'IDAT') {
      idat.push(buf.subarray(d, d + len));
    } else if (type === 'IEND') {
      ended = true;
      break;
    } else if (!HARMLESS.has(type)) {
      return undefined;
    } else if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      // text chunks: libvips may read EXIF (orientation) or XMP from some keywords
      const key = Buffer.from(buf.buffer, buf.byteOffset + d, Math.min(len, 80)).toString('latin1').split('\0')[0]!.toLowerCase();
      if (key.includes('exif') || key.includes('xmp')) return undefined;
    }
    p = end;
  }
  if (!ended || w === 0 || idat.length === 0) return undefined;
  const stride = w * ch;
  let raw: Buffer;
  try {
    // one output chunk of the expected size: the default 16 KiB chunks cost a third more
    const size = h * (stride + 1);
    raw = zlib.inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), { chunkSize: Math.max(64, size + 1), maxOutputLength: size + 1 });
  } catch {
    return undefined;
  }
  if (raw.length !== h * (stride + 1)) return undefined;
  return unfilterToGray(raw, w, h, ch);
}

/** |v| without a branch. */
function iabs(v: number): number {
  const m = v >> 31;
  return (v ^ m) - m;
}

/**
 * PNG's Paeth filter for one row (with a row above), branch-free: the predictor choice is close to
 * random on X-ray noise, and mispredicted branches made this loop 2.5× slower.
 */
function paethRow(raw: Uint8Array, r: number, u: number, stride: number, ch: number): void {
  // first pixel: a = c = 0, so the predictor is b
  for (let i = 0; i < ch; i++) raw[r + i] = raw[r + i]! + raw[u + i]!;
  if (ch === 1) {
    // left (a) and upper-left (c) carried in locals
    let a = raw[r]!;
    let c = raw[u]!;
    for (let i = 1; i < stride; i++) {
      const b = raw[u + i]!;
      const pa = iabs(b - c);
      const pb = iabs(a - c);
      const pc = iabs(a + b - 2 * c);
      const ma = ~((pb - pa) >> 31) & ~((pc - pa) >> 31);
      const mb = ~((pc - pb) >> 31) & ~ma;
      const v = (raw[r + i]! + ((a & ma) | (b & mb) | (c & ~(ma | mb)))) & 255;
      raw[r + i] = v;
      a = v;
      c = b;
    }
    return;
  }
  for (let i = ch; i < stride; i++) {
    const a = raw[r + i - ch]!;
    const b = raw[u + i]!;
    const c = raw[u + i - ch]!;
    const pa = iabs(b - c);
    const pb = iabs(a - c);
    const pc = iabs(a + b - 2 * c);
    const ma = ~((pb - pa) >> 31) & ~((pc - pa) >> 31);
    const mb = ~((pc - pb) >> 31) & ~ma;
    raw[r + i] = raw[r + i]! + ((a & ma) | (b & mb) | (c & ~(ma | mb)));
  }
}

/** Undo PNG's per-row filters (in place, row by row) and convert each row to gray. */
function unfilterToGray(buf: Buffer, w: number, h: number, ch: number): { width: number; height: number; data: Uint8Array } | undefined {
  const stride = w * ch;
  // a plain Uint8Array view keeps the loops monomorphic (Buffer is a subclass)
  const raw = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const out = new Uint8Array(w * h);
  const native = imageOps();
  if (native) return native.pngUnfilterGray(raw, w, h, ch, out) ? { width: w, height: h, data: out } : undefined;
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)]!;
    const r = y * (stride + 1) + 1;
    const u = r - stride - 1; // the previous row's pixels (y > 0)
    switch (f) {
      case 0:
        break;
      case 1:
        for (let i = ch; i < stride; i++) raw[r + i] = raw[r + i]! + raw[r + i - ch]!;
        break;
      case 2:
        if (y > 0) for (let i = 0; i < stride; i++) raw[r + i] = raw[r + i]! + raw[u + i]!;
        break;
      case 3:
        if (y > 0) {
          for (let i = 0; i < ch; i++) raw[r + i] = raw[r + i]! + (raw[u + i]! >> 1);
          for (let i = ch; i < stride; i++) raw[r + i] = raw[r + i]! + ((raw[r + i - ch]! + raw[u + i]!) >> 1);
        } else {
          for (let i = ch; i < stride; i++) raw[r + i] = raw[r + i]! + (raw[r + i - ch]! >> 1);
        }
        break;
      case 4:
        if (y > 0) paethRow(raw, r, u, stride, ch);
        // no row above: Paeth predicts the left neighbour
        else for (let i = ch; i < stride; i++) raw[r + i] = raw[r + i]! + raw[r + i - ch]!;
        break;
      default:
        return undefined;
    }
    const o = y * w;
    if (ch === 1) {
      out.set(raw.subarray(r, r + w), o);
    } else if (ch === 2) {
      for (let x = 0, j = r; x < w; x++, j += 2) out[o + x] = raw[j]!;
    } else {
      // same weights and rounding as decode.ts's rgbToGray8 (alpha dropped, not flattened)
      for (let x = 0, j = r; x < w; x++, j += ch) out[o + x] = 0.299 * raw[j]! + 0.587 * raw[j + 1]! + 0.114 * raw[j + 2]! + 0.5;
    }
  }
  return { width: w, height: h, data: out };
}
