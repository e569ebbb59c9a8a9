/// <reference lib="dom" />
/**
 * Image bytes to the library's gray image in the browser. DICOM goes through the CLI's own parser
 * and conversion (src/data/dicom.ts, dicom-parser); PNG and JPEG are decoded by the browser
 * (createImageBitmap: EXIF orientation applied, colour profiles not applied, alpha not
 * premultiplied) and turned gray with the CLI's weights (src/data/gray.ts). What that costs against
 * the CLI's decoders is measured in docs/web.md: 8-bit PNGs are identical; 16-bit PNGs are reduced
 * to 8 bits by the browser before gray; JPEG decoders may differ by a level.
 */
import { CovidNetError } from '../errors.js';
import type { GrayImage } from '../data/types.js';
import { rgbToGray8, sniffFormat } from '../data/gray.js';
import { decodeDicom } from '../data/dicom.js';
import { MAX_PIXELS } from '../data/limits.js';

/** The browser's decoding of a PNG/JPEG to 8-bit gray (0.299 R + 0.587 G + 0.114 B, rounded). */
export async function browserGray8(bytes: Uint8Array, type: string, file?: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (e) {
    throw new CovidNetError('E_DECODE', `corrupt or unsupported ${type === 'image/png' ? 'PNG' : 'JPEG'} (the browser cannot decode it)`, { ...(file === undefined ? {} : { file }), cause: e });
  }
  const { width, height } = bmp;
  if (width * height > MAX_PIXELS) {
    bmp.close();
    throw new CovidNetError('E_TOO_LARGE', `image of ${width}x${height} pixels is over the ${MAX_PIXELS / 1e6} megapixel limit`, file === undefined ? {} : { file });
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' })!;
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  return { width, height, data: rgbToGray8(new Uint8Array(rgba.buffer, rgba.byteOffset, rgba.byteLength), width * height, 4) };
}

/** PNG, JPEG or DICOM bytes (format from the content) to gray in [0, 1], as the CLI's decodeImage. */
export async function decodeInBrowser(bytes: Uint8Array, file: string): Promise<GrayImage> {
  if (bytes.length === 0) throw new CovidNetError('E_FILE_EMPTY', 'empty file (0 bytes)', { file });
  const format = sniffFormat(bytes);
  if (format === undefined) throw new CovidNetError('E_FORMAT_UNKNOWN', 'not a PNG, JPEG or DICOM file', { file });
  if (format === 'dicom') {
    const d = await decodeDicom(bytes, (jpeg) => browserGray8(jpeg, 'image/jpeg', file), file);
    return { width: d.width, height: d.height, data: d.data };
  }
  const g = await browserGray8(bytes, format === 'png' ? 'image/png' : 'image/jpeg', file);
  const data = new Float32Array(g.data.length);
  const k = 1 / 255;
  for (let i = 0; i < data.length; i++) data[i] = g.data[i]! * k;
  return { width: g.width, height: g.height, data };
}
