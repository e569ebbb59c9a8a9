/**
 * The study's preprocessing up to the 8-bit stage: gray → optional border crop → OpenCV
 * INTER_AREA resize to size×size. Scaling to [0, 1] and standardising happen per batch
 * (`toModelInput`), so what is cached and compared with OpenCV is the 8-bit image.
 */
import { optionError } from '../errors.js';
import type { GrayImage, PreprocessParams } from './types.js';
import { cropBox, cropGray8, resizeArea } from './resize.js';
import { floatToU8 } from './gray.js';

export const DEFAULT_PREPROCESS: PreprocessParams = { size: 224, crop: 0 };

export function validatePreprocessParams(p: PreprocessParams): PreprocessParams {
  if (!Number.isInteger(p.size) || p.size < 8 || p.size > 4096) throw optionError('size', 'an integer in [8, 4096]', p.size);
  if (!(typeof p.crop === 'number' && p.crop >= 0 && p.crop < 0.5)) throw optionError('crop', 'a fraction in [0, 0.5)', p.crop);
  return p;
}

/** Crop and resize an 8-bit gray image (row-major, width×height). */
export function preprocessGray8(gray: Uint8Array, width: number, height: number, params: PreprocessParams): Uint8Array {
  validatePreprocessParams(params);
  const box = cropBox(width, height, params.crop);
  const cropped = cropGray8(gray, width, box);
  return resizeArea(cropped, box.width, box.height, params.size, params.size);
}

/** gray (rounded to 8 bits, as the study's uint8 images) → crop → INTER_AREA: size*size bytes. */
export function preprocessImage(img: GrayImage, params: PreprocessParams): Uint8Array {
  return preprocessGray8(floatToU8(img.data), img.width, img.height, params);
}
