/**
 * On-disk cache of preprocessed 8-bit images, keyed by the SHA-1 of the file's bytes and the
 * preprocessing parameters, so a second run decodes nothing. One small file per image
 * (12-byte header: "CNP1", original width, original height; then size*size bytes), written
 * atomically (temporary name, then rename), so concurrent runs and crashes never leave a half file.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PreprocessParams } from './types.js';
import { writeFileAtomic } from '../util/atomic.js';

/** Bump when preprocessing output changes, so old entries are not reused. */
// v2: embedded ICC profiles ignored (they were applied by libvips in v1)
export const CACHE_VERSION = 'prep-v2';
const MAGIC = 0x31504e43; // "CNP1" little-endian
const HEADER = 12;

/** `$COVIDNET_CACHE`, else `~/.cache/covidnet`. */
export function defaultCacheDir(): string {
  const env = process.env['COVIDNET_CACHE'];
  return env && env.trim() !== '' ? path.resolve(env) : path.join(os.homedir(), '.cache', 'covidnet');
}

export function contentHash(buf: Uint8Array): string {
  return createHash('sha1').update(buf).digest('hex');
}

export function cacheFile(dir: string, hash: string, params: PreprocessParams): string {
  return path.join(dir, CACHE_VERSION, `s${params.size}-c${params.crop}`, hash.slice(0, 2), `${hash}.bin`);
}

export interface CachedImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/** The cached entry, or undefined when absent or unusable (a bad entry is treated as a miss). */
export async function readCached(file: string, size: number): Promise<CachedImage | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return undefined;
  }
  if (buf.length !== HEADER + size * size || buf.readUInt32LE(0) !== MAGIC) return undefined;
  return { width: buf.readUInt32LE(4), height: buf.readUInt32LE(8), pixels: new Uint8Array(buf.buffer, buf.byteOffset + HEADER, size * size) };
}

export async function writeCached(file: string, img: CachedImage): Promise<void> {
  const buf = Buffer.allocUnsafe(HEADER + img.pixels.length);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(img.width, 4);
  buf.writeUInt32LE(img.height, 8);
  buf.set(img.pixels, HEADER);
  await writeFileAtomic(file, buf, { sync: false });
}

/**
 * Content hash remembered by (absolute path, size, mtime), so a cache hit needs neither reading
 * nor hashing the image (COVIDx-size data sets are tens of GB). A file rewritten with the same
 * size within the same mtime tick would be missed; any other change gives a new key.
 */
export function statKeyFile(dir: string, file: string, size: number, mtimeMs: number): string {
  const k = createHash('sha1').update(`${path.resolve(file)}\0${size}\0${mtimeMs}`).digest('hex');
  return path.join(dir, CACHE_VERSION, 'stat', k.slice(0, 2), `${k}.sha1`);
}

export async function readStatHash(keyFile: string): Promise<string | undefined> {
  try {
    const h = (await readFile(keyFile, 'latin1')).trim();
    return /^[0-9a-f]{40}$/.test(h) ? h : undefined;
  } catch {
    return undefined;
  }
}

export async function writeStatHash(keyFile: string, hash: string): Promise<void> {
  await writeFileAtomic(keyFile, hash, { sync: false });
}
