/**
 * Standardisation with the training split's global mean and std, and batches for the model.
 */
import { CovidNetError, optionError } from '../errors.js';
import type { NormStats, PreparedSet } from './types.js';

/** Global mean and (population) std of pixel/255 over every image of the set, from a histogram: exact and O(1) memory. */
export function computeNormStats(set: PreparedSet): NormStats {
  const n = set.items.length * set.size * set.size;
  if (n === 0) throw new CovidNetError('E_INPUT_RANGE', 'cannot compute normalisation statistics of an empty set');
  const hist = new Float64Array(256);
  const px = set.pixels.subarray(0, n);
  for (let i = 0; i < n; i++) hist[px[i]!]! += 1;
  let s = 0;
  for (let v = 0; v < 256; v++) s += hist[v]! * (v / 255);
  const mean = s / n;
  let ss = 0;
  for (let v = 0; v < 256; v++) ss += hist[v]! * (v / 255 - mean) ** 2;
  const std = Math.sqrt(ss / n);
  // a constant set would divide by zero: keep std at 1 then (only the offset is removed)
  return { mean, std: std > 1e-8 ? std : 1 };
}

/**
 * A batch of images in NHWC order [indices.length, size, size, 1], flattened:
 * (u8/255 − mean) / std. `out` is reused when given (it must be large enough).
 */
export function toModelInput(set: PreparedSet, indices: ArrayLike<number>, stats: NormStats, out?: Float32Array): Float32Array {
  checkStats(stats);
  checkOut(out, indices.length * set.size * set.size);
  const n = set.items.length;
  const images: Uint8Array[] = [];
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw optionError('indices', `integers in [0, ${n})`, i);
    images.push(imageOf(set, i));
  }
  return imagesToModelInput(images, set.size, stats, out);
}

/**
 * The same batch from 8-bit images of size × size pixels each (crop and resize done): the one
 * standardisation of the model input (training, evaluation, prediction, Grad-CAM).
 */
export function imagesToModelInput(images: readonly Uint8Array[], size: number, stats: NormStats, out?: Float32Array): Float32Array {
  checkStats(stats);
  const px = size * size;
  const need = images.length * px;
  checkOut(out, need);
  const dst = out ?? new Float32Array(need);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v / 255 - stats.mean) / stats.std;
  for (let b = 0; b < images.length; b++) {
    const src = images[b]!;
    if (src.length !== px) throw optionError('images', `${size}×${size} = ${px} pixels per image`, src.length);
    const o = b * px;
    for (let k = 0; k < px; k++) dst[o + k] = lut[src[k]!]!;
  }
  return dst;
}

function checkStats(stats: NormStats): void {
  if (!(stats.std > 0) || !Number.isFinite(stats.mean)) throw optionError('stats', 'finite mean and positive std', stats);
}

function checkOut(out: Float32Array | undefined, need: number): void {
  if (out && out.length < need) throw optionError('out', `a Float32Array of at least ${need} values`, out.length);
}

/** The 8-bit image of item i (a view, not a copy). */
export function imageOf(set: PreparedSet, i: number): Uint8Array {
  const px = set.size * set.size;
  return set.pixels.subarray(i * px, (i + 1) * px);
}
