/**
 * Optional training augmentation (off by default, as in the study): a random small rotation,
 * shift, zoom and brightness change of a preprocessed 8-bit size×size image, bilinear sampling,
 * edge pixels repeated outside the image.
 */
import { optionError } from '../errors.js';
import type { Rng } from '../util/rng.js';

export interface AugmentOptions {
  /** Largest rotation, degrees (uniform in ±rotation). */
  rotation: number;
  /** Largest shift, fraction of the size, per axis. */
  shift: number;
  /** Largest zoom change, fraction (scale uniform in 1 ± zoom). */
  zoom: number;
  /** Largest brightness change, fraction (gain uniform in 1 ± brightness). */
  brightness: number;
}

export const DEFAULT_AUGMENT: AugmentOptions = { rotation: 10, shift: 0.1, zoom: 0.1, brightness: 0.1 };

export function augment(src: Uint8Array, size: number, rng: Rng, opts: AugmentOptions = DEFAULT_AUGMENT, out?: Uint8Array): Uint8Array {
  if (src.length < size * size) throw optionError('src', `${size * size} pixels`, src.length);
  for (const k of ['rotation', 'shift', 'zoom', 'brightness'] as const) {
    if (!(opts[k] >= 0)) throw optionError(`augment.${k}`, 'a non-negative number', opts[k]);
  }
  if (opts.zoom >= 1) throw optionError('augment.zoom', 'a fraction below 1', opts.zoom);
  const dst = out ?? new Uint8Array(size * size);
  const u = (): number => 2 * rng.next() - 1;
  const angle = (u() * opts.rotation * Math.PI) / 180;
  const scale = 1 + u() * opts.zoom;
  const tx = u() * opts.shift * size;
  const ty = u() * opts.shift * size;
  const gain = 1 + u() * opts.brightness;
  // inverse map: output pixel → source position (rotation and zoom about the centre, then shift)
  const c = (size - 1) / 2;
  const cos = Math.cos(angle) / scale;
  const sin = Math.sin(angle) / scale;
  const max = size - 1;
  for (let y = 0; y < size; y++) {
    const yy = y - c - ty;
    for (let x = 0; x < size; x++) {
      const xx = x - c - tx;
      let sx = cos * xx + sin * yy + c;
      let sy = -sin * xx + cos * yy + c;
      sx = sx < 0 ? 0 : sx > max ? max : sx;
      sy = sy < 0 ? 0 : sy > max ? max : sy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = x0 < max ? x0 + 1 : x0;
      const y1 = y0 < max ? y0 + 1 : y0;
      const fx = sx - x0;
      const fy = sy - y0;
      const top = src[y0 * size + x0]! * (1 - fx) + src[y0 * size + x1]! * fx;
      const bot = src[y1 * size + x0]! * (1 - fx) + src[y1 * size + x1]! * fx;
      const v = (top * (1 - fy) + bot * fy) * gain + 0.5;
      dst[y * size + x] = v > 255 ? 255 : v;
    }
  }
  return dst;
}
