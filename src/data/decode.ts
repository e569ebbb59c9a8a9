/**
 * Image files (PNG, JPEG, DICOM; format from the content, never the name) to one gray image.
 *
 * - PNG/JPEG through sharp (libvips), except simple 8-bit PNGs (./png-fast.ts, same pixels) and,
 *   when the native addon has libjpeg, JPEGs without an EXIF rotation (libjpeg straight to gray, the
 *   same pixels as sharp at a third of the time; native/src/jpeg_ops.cc). Sharp: EXIF orientation
 *   applied, embedded colour profiles ignored (as OpenCV and PIL do); header read first and images over
 *   MAX_PIXELS refused before any decoding; 16-bit PNG read at 16 bits.
 * - Colour to gray: 0.299 R + 0.587 G + 0.114 B (the OpenCV/PIL weights), computed here from the raw
 *   RGB, not with libvips' own greyscale conversion (other weights). Alpha is dropped, not
 *   flattened, as `cv2.imread(..., IMREAD_GRAYSCALE)` and PIL's `convert('L')` do.
 * - DICOM: see ./dicom.ts.
 * 8-bit sources give 8-bit gray (colour rounded to the nearest level); 16-bit PNG and DICOM give
 * floats in [0, 1].
 */
import sharp from 'sharp';
import { CovidNetError, isCovidNetError, type ErrorCode } from '../errors.js';
import type { GrayImage } from './types.js';
import { decodeDicom, dicomSize } from './dicom.js';
import { readRegularFile, readRegularFileSync } from './files.js';
import { MAX_FILE_BYTES, MAX_PIXELS } from './limits.js';
import { decodePngFast } from './png-fast.js';
import { jpegExifOrientation } from './exif.js';
import { jpegOps } from './native-ops.js';
import { floatToU8, rgbToGray8, sniffFormat, type ImageFormat } from './gray.js';

export { floatToU8, sniffFormat, type ImageFormat };


/** A decoded gray image: 8-bit (`u8`) or [0, 1] floats (`f32`), exactly one of the two. */
export interface DecodedGray {
  width: number;
  height: number;
  format: ImageFormat;
  u8?: Uint8Array;
  f32?: Float32Array;
}

export interface DecodeOptions {
  /** Name used in error messages (and to read `input` when it is a Buffer of that file). */
  file?: string;
  /** Pixel limit of `readImageHeader` (default and ceiling MAX_PIXELS), e.g. a server's lower one. */
  maxPixels?: number;
}

let sharpConfigured = false;
function configureSharp(): void {
  if (sharpConfigured) return;
  // every image is decoded once: libvips' operation cache would only hold memory
  sharp.cache(false);
  sharpConfigured = true;
}

function err(code: ErrorCode, msg: string, file: string | undefined, cause?: unknown): CovidNetError {
  return new CovidNetError(code, msg, { ...(file === undefined ? {} : { file }), cause });
}

function readError(e: unknown, name: string): CovidNetError {
  if (isCovidNetError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return err('E_FILE_MISSING', 'file not found', name);
  if (code === 'EISDIR') return err('E_FORMAT_UNKNOWN', 'is a directory, not an image', name);
  if (code === 'ELOOP') return err('E_FORMAT_UNKNOWN', 'is a loop of symbolic links, not an image', name);
  return err('E_DECODE', `cannot read (${code ?? String(e)})`, name, e);
}

function checkInput(input: string | Buffer | Uint8Array, file: string | undefined, read: () => Buffer): { buf: Buffer; file: string | undefined } {
  const name = typeof input === 'string' ? input : file;
  let buf: Buffer;
  if (typeof input === 'string') {
    try {
      buf = read();
    } catch (e) {
      throw readError(e, input);
    }
  } else {
    buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  if (buf.length === 0) throw err('E_FILE_EMPTY', 'empty file (0 bytes)', name);
  return { buf, file: name };
}

/** Read a regular file (size-limited), mapping system errors to CovidNetError; refuses empty files. */
export async function readInput(input: string | Buffer | Uint8Array, file?: string): Promise<{ buf: Buffer; file: string | undefined }> {
  if (typeof input !== 'string') return checkInput(input, file, () => Buffer.alloc(0));
  let buf: Buffer;
  try {
    buf = await readRegularFile(input, MAX_FILE_BYTES);
  } catch (e) {
    throw readError(e, input);
  }
  return checkInput(buf, input, () => buf);
}

/**
 * `readInput` with a blocking read, for worker threads that do nothing else: a third of the CPU of
 * the promise version (one system call chain instead of several thread-pool round trips).
 */
export function readInputSync(input: string | Buffer | Uint8Array, file?: string): { buf: Buffer; file: string | undefined } {
  return checkInput(input, file, () => readRegularFileSync(input as string, MAX_FILE_BYTES));
}

const SIGNATURES: [string, number, number[]][] = [
  ['a GIF image', 0, [0x47, 0x49, 0x46, 0x38]],
  ['a BMP image', 0, [0x42, 0x4d]],
  ['a TIFF image', 0, [0x49, 0x49, 0x2a, 0x00]],
  ['a TIFF image', 0, [0x4d, 0x4d, 0x00, 0x2a]],
  ['a WebP image', 8, [0x57, 0x45, 0x42, 0x50]],
  ['a JPEG 2000 image', 0, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]],
  ['a PDF document', 0, [0x25, 0x50, 0x44, 0x46]],
  ['a ZIP archive', 0, [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip file', 0, [0x1f, 0x8b]],
];

/**
 * What the start of an unknown file looks like, without quoting it: error messages end up in
 * result files (splits.json lists the files that failed), and the file may be anything (a
 * manifest that lists /etc/shadow quoted its first line there).
 */
export function describeStart(buf: Uint8Array): string {
  const head = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, 512));
  for (const [what, at, sig] of SIGNATURES) if (sig.every((b, i) => head[at + i] === b)) return `looks like ${what}`;
  const text = head.every((b) => b === 9 || b === 10 || b === 13 || b >= 32);
  if (!text) return 'unknown binary content';
  const start = head.subarray(0, 64).toString('latin1').trimStart().toLowerCase();
  return start.startsWith('<!doctype html') || start.startsWith('<html') ? 'looks like an HTML page' : 'looks like a text file';
}

/** Map libvips' error text to our codes; one line, no stack. */
function sharpError(e: unknown, format: ImageFormat, file: string | undefined): CovidNetError {
  if (isCovidNetError(e)) return e;
  const msg = (e instanceof Error ? e.message : String(e)).split('\n').filter((l) => l.trim() !== '')[0] ?? 'unknown error';
  if (/pixel limit/i.test(msg)) return err('E_TOO_LARGE', `image is over the ${MAX_PIXELS / 1e6} megapixel limit`, file, e);
  if (/premature end|unexpected end|truncat|end of (file|stream|data)|not enough data|read error|out of data/i.test(msg)) {
    return err('E_FILE_TRUNCATED', `truncated ${format.toUpperCase()} (${msg})`, file, e);
  }
  return err('E_DECODE', `corrupt ${format.toUpperCase()} (${msg})`, file, e);
}

// ignoreIcc: pixel values as stored, as OpenCV and PIL read them (the study's pipeline applies no
// colour profile; libvips would convert to sRGB through it, up to 19 levels off on cxr-mini)
const SHARP_OPTS = { limitInputPixels: MAX_PIXELS, failOn: 'error' as const, ignoreIcc: true };

/**
 * CMYK to gray exactly as PIL's `convert('L')` (CMYK → RGB → L, Pillow's Convert.c):
 * R = 255 − K − C·(255 − K)/255 (rounded as MULDIV255), then L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16.
 * OpenCV's IMREAD_GRAYSCALE is within a level or two of it; libvips' own CMYK → sRGB (through a
 * CMYK profile) was 8 levels off on average. The bands are CMYK as libvips reads them: ink, 0 =
 * none, the stored values inverted as PIL also does for every CMYK JPEG (Adobe's convention),
 * with or without Adobe's APP14 marker.
 */
export function cmykToGrayPil(src: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const nk = 255 - src[j + 3]!;
    let t = src[j]! * nk + 128;
    const r = nk - (((t >> 8) + t) >> 8);
    t = src[j + 1]! * nk + 128;
    const g = nk - (((t >> 8) + t) >> 8);
    t = src[j + 2]! * nk + 128;
    const b = nk - (((t >> 8) + t) >> 8);
    out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
  return out;
}

function rgbToGray16(src: Uint16Array, n: number, ch: number): Float32Array {
  const out = new Float32Array(n);
  const k = 1 / 65535;
  for (let i = 0, j = 0; i < n; i++, j += ch) {
    out[i] = ch <= 2 ? src[j]! * k : (0.299 * src[j]! + 0.587 * src[j + 1]! + 0.114 * src[j + 2]!) * k;
  }
  return out;
}

async function decodeRaster(buf: Buffer, format: 'png' | 'jpeg', file: string | undefined): Promise<DecodedGray> {
  if (format === 'png') {
    const fast = decodePngFast(buf);
    if (fast) return { width: fast.width, height: fast.height, format, u8: fast.data };
  } else {
    const native = jpegOps();
    if (native && jpegExifOrientation(buf) === 1) {
      const r = native.jpegDecodeGray(buf, MAX_PIXELS);
      if (r && 'tooLarge' in r) throw err('E_TOO_LARGE', `image of ${r.width}x${r.height} pixels is over the ${MAX_PIXELS / 1e6} megapixel limit`, file);
      if (r) return { width: r.width, height: r.height, format, u8: r.data };
      // null: CMYK, a warning or an error; sharp decodes it or words the error
    }
  }
  configureSharp();
  try {
    const img = sharp(buf, SHARP_OPTS);
    const meta = await img.metadata();
    const w = meta.width ?? 0;
    const h = meta.height ?? 0;
    if (w * h > MAX_PIXELS) throw err('E_TOO_LARGE', `image of ${w}x${h} pixels is over the ${MAX_PIXELS / 1e6} megapixel limit`, file);
    if (meta.space === 'cmyk' && meta.channels === 4 && meta.depth === 'uchar') {
      const pipe = ((meta.orientation ?? 1) > 1 ? img.rotate() : img).pipelineColourspace('cmyk').toColourspace('cmyk');
      const { data, info } = await pipe.raw().toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, format, u8: cmykToGrayPil(data, info.width * info.height) };
    }
    const grey = (meta.channels ?? 3) <= 2;
    const deep = meta.depth === 'ushort';
    // toColourspace keeps gray inputs at one channel (sharp would otherwise expand them to sRGB)
    // auto-orient only when there is an EXIF orientation to apply (it costs a copy)
    const pipe = ((meta.orientation ?? 1) > 1 ? img.rotate() : img).toColourspace(grey ? (deep ? 'grey16' : 'b-w') : deep ? 'rgb16' : 'srgb');
    const { data, info } = await (deep ? pipe.raw({ depth: 'ushort' }) : pipe.raw()).toBuffer({ resolveWithObject: true });
    const n = info.width * info.height;
    if (deep) {
      const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
      const u16 = new Uint16Array(aligned.buffer, aligned.byteOffset, data.length >> 1);
      return { width: info.width, height: info.height, format, f32: rgbToGray16(u16, n, info.channels) };
    }
    return { width: info.width, height: info.height, format, u8: rgbToGray8(data, n, info.channels) };
  } catch (e) {
    throw sharpError(e, format, file);
  }
}

async function jpegToGray(jpeg: Uint8Array): Promise<{ width: number; height: number; data: Uint8Array }> {
  const d = await decodeRaster(Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength), 'jpeg', undefined);
  return { width: d.width, height: d.height, data: d.u8 ?? Uint8Array.from(d.f32!, (v) => Math.round(v * 255)) };
}

/** Decode to whichever gray representation the source has (8-bit or float). */
export async function decodeGray(input: string | Buffer | Uint8Array, opts: DecodeOptions = {}): Promise<DecodedGray> {
  const { buf, file } = await readInput(input, opts.file);
  const format = sniffFormat(buf);
  if (format === undefined) throw err('E_FORMAT_UNKNOWN', `not a PNG, JPEG or DICOM file (${describeStart(buf)})`, file);
  if (format === 'dicom') {
    try {
      const d = await decodeDicom(buf, jpegToGray, file);
      return { width: d.width, height: d.height, format, f32: d.data };
    } catch (e) {
      if (isCovidNetError(e)) {
        // errors of the embedded JPEG carry no file name yet
        throw e.file === undefined && file !== undefined ? err(e.code, `DICOM: ${e.message}`, file, e) : e;
      }
      throw err('E_DECODE', `corrupt DICOM (${e instanceof Error ? e.message : String(e)})`, file, e);
    }
  }
  return decodeRaster(buf, format, file);
}

/** 8-bit gray: floats are rounded to the nearest of 256 levels. */
export async function decodeGray8(input: string | Buffer | Uint8Array, opts: DecodeOptions = {}): Promise<{ width: number; height: number; data: Uint8Array }> {
  const d = await decodeGray(input, opts);
  return { width: d.width, height: d.height, data: d.u8 ?? floatToU8(d.f32!) };
}

/** Decode an image file or buffer to the internal gray type (Float32 in [0, 1]). */
export async function decodeImage(input: string | Buffer, opts: DecodeOptions = {}): Promise<GrayImage> {
  const d = await decodeGray(input, opts);
  if (d.f32) return { width: d.width, height: d.height, data: d.f32 };
  const data = new Float32Array(d.u8!.length);
  const k = 1 / 255;
  for (let i = 0; i < data.length; i++) data[i] = d.u8![i]! * k;
  return { width: d.width, height: d.height, data };
}

/** Format and size from the header only (after EXIF orientation), for `data inspect`. */
export async function readImageHeader(input: string | Buffer, opts: DecodeOptions = {}): Promise<{ format: ImageFormat; width: number; height: number }> {
  const { buf, file } = await readInput(input, opts.file);
  const max = Math.min(opts.maxPixels ?? MAX_PIXELS, MAX_PIXELS);
  const format = sniffFormat(buf);
  if (format === undefined) throw err('E_FORMAT_UNKNOWN', `not a PNG, JPEG or DICOM file (${describeStart(buf)})`, file);
  const tooLarge = (w: number, h: number): CovidNetError => err('E_TOO_LARGE', `image of ${w}x${h} pixels is over the ${max / 1e6} megapixel limit`, file);
  if (format === 'dicom') {
    const size = dicomSize(buf, file);
    if (size.width * size.height > max) throw tooLarge(size.width, size.height);
    return { format, ...size };
  }
  configureSharp();
  try {
    const m = await sharp(buf, SHARP_OPTS).metadata();
    const swap = (m.orientation ?? 1) >= 5;
    const width = m.width ?? 0;
    const height = m.height ?? 0;
    if (width * height > max) throw tooLarge(width, height);
    return { format, width: swap ? height : width, height: swap ? width : height };
  } catch (e) {
    throw sharpError(e, format, file);
  }
}
