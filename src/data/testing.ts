/**
 * Helpers for the data tests: generated inputs, never real images. Not exported from the
 * package index.
 */
import { deflateRawSync, deflateSync } from 'node:zlib';

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

/** Options of the tiny DICOM writer used by the tests (explicit VR little endian data set). */
export interface DicomSpec {
  width: number;
  height: number;
  bitsAllocated?: 8 | 16;
  bitsStored?: number;
  highBit?: number;
  signed?: boolean;
  photometric?: string;
  /** Strings are written as they are (for invalid values such as "abc"). */
  slope?: number | string;
  intercept?: number | string;
  window?: { center: number | string; width: number | string };
  /** PixelRepresentation as written (default from `signed`). */
  pixelRepresentation?: number;
  /** Stored values (already masked/shifted as they should appear), one per pixel. */
  values?: ArrayLike<number>;
  /** JPEG bytes to encapsulate instead (transfer syntax JPEG baseline). */
  jpeg?: Uint8Array;
  samplesPerPixel?: number;
  /** Deflated explicit VR little endian (the data set after the meta header raw-deflated). */
  deflate?: boolean;
  /** Explicit VR big endian. */
  bigEndian?: boolean;
}

function el(group: number, element: number, vr: string, value: Uint8Array, be = false): Buffer {
  const long = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  if (be) {
    head.writeUInt16BE(group, 0);
    head.writeUInt16BE(element, 2);
  } else {
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(element, 2);
  }
  head.write(vr, 4, 'latin1');
  if (long) be ? head.writeUInt32BE(value.length, 8) : head.writeUInt32LE(value.length, 8);
  else be ? head.writeUInt16BE(value.length, 6) : head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}

function str(s: string, pad = ' '): Uint8Array {
  return Buffer.from(s.length % 2 ? s + pad : s, 'latin1');
}

function us(v: number, be = false): Uint8Array {
  const b = Buffer.alloc(2);
  if (be) b.writeUInt16BE(v, 0);
  else b.writeUInt16LE(v, 0);
  return b;
}

/** A minimal but valid DICOM Part 10 file for the decoder tests (generated, not a real image). */
export function makeDicom(spec: DicomSpec): Buffer {
  const ba = spec.bitsAllocated ?? 8;
  const bs = spec.bitsStored ?? ba;
  const ts = spec.jpeg ? '1.2.840.10008.1.2.4.50' : spec.deflate ? '1.2.840.10008.1.2.1.99' : spec.bigEndian ? '1.2.840.10008.1.2.2' : '1.2.840.10008.1.2.1';
  const be = !!spec.bigEndian;
  const metaEls = Buffer.concat([
    el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    el(0x0002, 0x0002, 'UI', str('1.2.840.10008.5.1.4.1.1.1.1', '\0')),
    el(0x0002, 0x0003, 'UI', str('1.2.3.4.5.6.7', '\0')),
    el(0x0002, 0x0010, 'UI', str(ts, '\0')),
  ]);
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(metaEls.length, 0);
  const meta = Buffer.concat([el(0x0002, 0x0000, 'UL', gl), metaEls]);
  const els: Buffer[] = [
    el(0x0008, 0x0060, 'CS', str('DX'), be),
    el(0x0028, 0x0002, 'US', us(spec.samplesPerPixel ?? 1, be), be),
    el(0x0028, 0x0004, 'CS', str(spec.photometric ?? 'MONOCHROME2'), be),
    el(0x0028, 0x0010, 'US', us(spec.height, be), be),
    el(0x0028, 0x0011, 'US', us(spec.width, be), be),
    el(0x0028, 0x0100, 'US', us(ba, be), be),
    el(0x0028, 0x0101, 'US', us(bs, be), be),
    el(0x0028, 0x0102, 'US', us(spec.highBit ?? bs - 1, be), be),
    el(0x0028, 0x0103, 'US', us(spec.pixelRepresentation ?? (spec.signed ? 1 : 0), be), be),
  ];
  if (spec.window) {
    els.push(el(0x0028, 0x1050, 'DS', str(String(spec.window.center)), be));
    els.push(el(0x0028, 0x1051, 'DS', str(String(spec.window.width)), be));
  }
  if (spec.intercept !== undefined) els.push(el(0x0028, 0x1052, 'DS', str(String(spec.intercept)), be));
  if (spec.slope !== undefined) els.push(el(0x0028, 0x1053, 'DS', str(String(spec.slope)), be));
  if (spec.jpeg) {
    const head = Buffer.alloc(12);
    head.writeUInt16LE(0x7fe0, 0);
    head.writeUInt16LE(0x0010, 2);
    head.write('OB', 4, 'latin1');
    head.writeUInt32LE(0xffffffff, 8);
    const item = (data: Uint8Array): Buffer => {
      const padded = data.length % 2 ? Buffer.concat([data, Buffer.from([0])]) : Buffer.from(data);
      const h = Buffer.alloc(8);
      h.writeUInt16LE(0xfffe, 0);
      h.writeUInt16LE(0xe000, 2);
      h.writeUInt32LE(padded.length, 4);
      return Buffer.concat([h, padded]);
    };
    const end = Buffer.alloc(8);
    end.writeUInt16LE(0xfffe, 0);
    end.writeUInt16LE(0xe0dd, 2);
    els.push(Buffer.concat([head, item(new Uint8Array(0)), item(spec.jpeg), end]));
  } else {
    const n = spec.width * spec.height;
    const px = Buffer.alloc(n * (ba / 8));
    const vals = spec.values ?? new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = vals[i]!;
      if (ba === 8) px.writeUInt8(v & 0xff, i);
      else if (be) px.writeUInt16BE(v & 0xffff, 2 * i);
      else px.writeUInt16LE(v & 0xffff, 2 * i);
    }
    els.push(el(0x7fe0, 0x0010, ba === 8 ? 'OB' : 'OW', px, be));
  }
  const body = Buffer.concat(els);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), meta, spec.deflate ? deflateRawSync(body) : body]);
}

/** A PNG header claiming width×height (with one empty IDAT): a decompression bomb stand-in. */
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length, 0);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc32(td), 0);
  return Buffer.concat([len, td, c]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // gray
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), pngChunk('IEND', Buffer.alloc(0))]);
}

/**
 * An 8-bit PNG with the given row filter per row (0 none, 1 sub, 2 up, 3 average, 4 Paeth), so
 * that every filter is exercised (encoders pick them adaptively). `extra` chunks go before IDAT.
 */
export function encodePngFiltered(
  pixels: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4,
  filterOf: (y: number) => number, extra: Buffer[] = [], idatParts = 1,
): Buffer {
  const stride = width * channels;
  const rows = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const f = filterOf(y);
    rows[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = pixels[y * stride + i]!;
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      const c = y > 0 && i >= channels ? pixels[(y - 1) * stride + i - channels]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      rows[y * (stride + 1) + 1 + i] = (x - pred) & 255;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = { 1: 0, 2: 4, 3: 2, 4: 6 }[channels];
  const z = deflateSync(rows);
  const parts: Buffer[] = [];
  const step = Math.ceil(z.length / idatParts);
  for (let o = 0; o < z.length; o += step) parts.push(pngChunk('IDAT', z.subarray(o, o + step)));
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), ...extra, ...parts, pngChunk('IEND', Buffer.alloc(0))]);
}

/** Path of the shared cxr-mini folder (../shared/data/cxr-mini from the repository root), if present. */
export async function cxrMiniPath(): Promise<string | undefined> {
  const { existsSync } = await import('node:fs');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const p = path.resolve(root, '../shared/data/cxr-mini');
  return existsSync(path.join(p, 'labels.csv')) ? p : undefined;
}
