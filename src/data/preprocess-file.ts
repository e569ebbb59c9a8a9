/** Decode and preprocess one file (Node: reads the file; ./preprocess.ts is the pure part, bundled for the browser). */
import type { PreprocessParams } from './types.js';
import { preprocessGray8, validatePreprocessParams } from './preprocess.js';
import { decodeGray8 } from './decode.js';

/**
 * Decode and preprocess one file. `width`/`height` are the original image's (after EXIF
 * orientation, before cropping), so heat maps can be mapped back onto it.
 */
export async function preprocessFile(file: string, params: PreprocessParams): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  validatePreprocessParams(params);
  const g = await decodeGray8(file);
  return { pixels: preprocessGray8(g.data, g.width, g.height, params), width: g.width, height: g.height };
}
