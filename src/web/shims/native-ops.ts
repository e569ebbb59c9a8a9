/**
 * The browser's stand-in for src/data/native-ops.ts (swapped in by the bundler, ../bundle.ts): no
 * native addon there, so callers run their TypeScript loops (bit-identical results).
 */
import type { ImageOps, JpegOps } from '../../data/native-ops.js';

export function imageOps(): ImageOps | undefined {
  return undefined;
}

export function jpegOps(): JpegOps | undefined {
  return undefined;
}

export function useNativeImageOps(_on: boolean): void {}
