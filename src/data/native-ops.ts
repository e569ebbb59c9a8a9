/**
 * The data pipeline's optional native kernels (native/src/image_ops.cc, inside the oneDNN addon
 * built by `make native`). Absent or older addon: `undefined`, and callers run the same loops in
 * TypeScript (bit-identical results, about 5× slower). `COVIDNET_NATIVE_ADDON` (see
 * ../backend/native.ts) also steers this, so tests can force the fallback.
 */
import { loadAddon } from '../backend/native.js';

export interface ImageOps {
  /** INTER_AREA's general path (see resize.ts areaGeneral): tables from JS, loops native. */
  resizeAreaU8(
    src: Uint8Array, w: number, h: number, outW: number, outH: number,
    x0: Int32Array, xa: Float32Array, K: number, yStart: Int32Array, yIdx: Int32Array, yAlpha: Float32Array, out: Uint8Array,
  ): void;
  /** PNG row filters undone in place, then rows to 8-bit gray; false on an unknown filter type. */
  pngUnfilterGray(raw: Uint8Array, w: number, h: number, ch: number, out: Uint8Array): boolean;
}

/** A decoded JPEG's luminance (see native/src/jpeg_ops.cc); null: use sharp instead. */
export type JpegGrayResult = { width: number; height: number; data: Uint8Array } | { width: number; height: number; tooLarge: true } | null;

/** Present only when the addon was built with libjpeg (jpeglib.h installed). */
export interface JpegOps {
  jpegDecodeGray(buf: Uint8Array, maxPixels: number): JpegGrayResult;
}

let ops: ImageOps | null | undefined;
let jpeg: JpegOps | null | undefined;

export function imageOps(): ImageOps | undefined {
  if (ops === undefined) {
    const load = loadAddon();
    const a = load.ok ? (load.addon as unknown as Partial<ImageOps>) : undefined;
    ops = a && typeof a.resizeAreaU8 === 'function' && typeof a.pngUnfilterGray === 'function' ? (a as ImageOps) : null;
  }
  return ops ?? undefined;
}

export function jpegOps(): JpegOps | undefined {
  if (jpeg === undefined) {
    const load = loadAddon();
    const a = load.ok ? (load.addon as unknown as Partial<JpegOps>) : undefined;
    jpeg = a && typeof a.jpegDecodeGray === 'function' ? (a as JpegOps) : null;
  }
  return jpeg ?? undefined;
}

/** Turn the native kernels off (false) or back on where available (true); for tests and benchmarks. */
export function useNativeImageOps(on: boolean): void {
  ops = on ? undefined : null;
  jpeg = on ? undefined : null;
}
