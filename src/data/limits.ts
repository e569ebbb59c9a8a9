/** Decompression-bomb guard: images over this many pixels are refused from their header, before decoding. */
export const MAX_PIXELS = 100_000_000;
/**
 * Largest image file read (checked on the open file, before reading): 100 megapixels of 16-bit
 * DICOM take 200 MB, so this leaves room for any image the pixel limit admits.
 */
export const MAX_FILE_BYTES = 512 * 1024 * 1024;
