/**
 * The pure parts of decoding, shared by the Node decoders (./decode.ts) and the browser app
 * (src/web/app.ts): the format sniffed from the first bytes, colour to gray with the OpenCV/PIL
 * weights, floats to 8 bits. No Node APIs here: this module is bundled for the browser.
 */
export type ImageFormat = 'png' | 'jpeg' | 'dicom';

/** Format from the first bytes: PNG signature, JPEG SOI, or DICOM's "DICM" after the 128-byte preamble. */
export function sniffFormat(buf: Uint8Array): ImageFormat | undefined {
  if (buf.length >= 8 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47 && buf[4] === 0x0d && buf[5] === 0x0a) return 'png';
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d) return 'dicom';
  return undefined;
}

/** 8-bit colour to gray, rounding to the nearest level. */
export function rgbToGray8(src: Uint8Array, n: number, ch: number): Uint8Array {
  const out = new Uint8Array(n);
  if (ch <= 2) {
    for (let i = 0, j = 0; i < n; i++, j += ch) out[i] = src[j]!;
    return out;
  }
  for (let i = 0, j = 0; i < n; i++, j += ch) {
    // + 0.5 then truncate: round half up (the weighted sum is never negative)
    out[i] = 0.299 * src[j]! + 0.587 * src[j + 1]! + 0.114 * src[j + 2]! + 0.5;
  }
  return out;
}

export function floatToU8(f: Float32Array): Uint8Array {
  const out = new Uint8Array(f.length);
  // Uint8Array assignment truncates; +0.5 rounds (values are clamped to [0, 1] first)
  for (let i = 0; i < f.length; i++) {
    const v = f[i]!;
    out[i] = (v <= 0 ? 0 : v >= 1 ? 1 : v) * 255 + 0.5;
  }
  return out;
}

