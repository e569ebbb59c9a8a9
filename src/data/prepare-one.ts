/**
 * One item of `prepareImages`: read → (cache lookup) → decode → preprocess → (cache write).
 * Runs inside the worker threads, and in-process when threads = 0.
 */
import { isCovidNetError } from '../errors.js';
import { stat } from 'node:fs/promises';
import { cacheFile, contentHash, readCached, readStatHash, statKeyFile, writeCached, writeStatHash } from './cache.js';
import { decodeGray8, readInput, readInputSync } from './decode.js';
import { preprocessGray8 } from './preprocess.js';

export interface PrepareJob {
  id: number;
  file: string;
  size: number;
  crop: number;
  /** null: no cache. */
  cacheDir: string | null;
}

export type PrepareResult =
  | { id: number; ok: true; pixels: Uint8Array; width: number; height: number; cached: boolean }
  | { id: number; ok: false; code: string; reason: string };

/** `syncRead`: read files with blocking calls (worker threads, where nothing else waits). */
export async function prepareOne(job: PrepareJob, opts: { syncRead?: boolean } = {}): Promise<PrepareResult> {
  const params = { size: job.size, crop: job.crop };
  try {
    let statKey: string | undefined;
    if (job.cacheDir !== null) {
      // fast path: hash known from an earlier run for this path/size/mtime → no read, no hash
      const st = await stat(job.file).catch(() => undefined);
      if (st?.isFile() && st.size > 0) {
        statKey = statKeyFile(job.cacheDir, job.file, st.size, st.mtimeMs);
        const known = await readStatHash(statKey);
        const hit = known && (await readCached(cacheFile(job.cacheDir, known, params), job.size));
        if (hit) return { id: job.id, ok: true, pixels: hit.pixels, width: hit.width, height: hit.height, cached: true };
      }
    }
    const { buf } = opts.syncRead ? readInputSync(job.file) : await readInput(job.file);
    let key: string | undefined;
    if (job.cacheDir !== null) {
      const hash = contentHash(buf);
      key = cacheFile(job.cacheDir, hash, params);
      if (statKey) await writeStatHash(statKey, hash).catch(() => undefined);
      const hit = await readCached(key, job.size);
      if (hit) return { id: job.id, ok: true, pixels: hit.pixels, width: hit.width, height: hit.height, cached: true };
    }
    const g = await decodeGray8(buf, { file: job.file });
    const pixels = preprocessGray8(g.data, g.width, g.height, params);
    if (key !== undefined) {
      // a cache that cannot be written (read-only disk, full) only costs speed
      await writeCached(key, { pixels, width: g.width, height: g.height }).catch(() => undefined);
    }
    return { id: job.id, ok: true, pixels, width: g.width, height: g.height, cached: false };
  } catch (e) {
    if (isCovidNetError(e)) return { id: job.id, ok: false, code: e.code, reason: e.reason };
    return { id: job.id, ok: false, code: 'E_INTERNAL', reason: e instanceof Error ? e.message : String(e) };
  }
}
