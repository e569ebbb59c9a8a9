/** Decompression-bomb guard: images over this many pixels are refused from their header, before decoding. */
export const MAX_PIXELS = 100_000_000;
