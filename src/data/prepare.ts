/**
 * Decode and preprocess a list of items into one 8-bit block (`PreparedSet`), on worker threads,
 * through the on-disk cache. Unreadable files go to `failed` (one line each); this never throws
 * for bad data. Memory: the result block (items × size²) plus a few images in flight, so 30 000
 * images at 224² need about 1.5 GB.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CovidNetError, optionError } from '../errors.js';
import type { DatasetItem, PreparedSet, PreprocessParams, SkippedEntry } from './types.js';
import { defaultCacheDir } from './cache.js';
import { validatePreprocessParams } from './preprocess.js';
import { prepareOne, type PrepareJob, type PrepareResult } from './prepare-one.js';

export interface PrepareOptions {
  /** Cache folder; default `$COVIDNET_CACHE` or `~/.cache/covidnet`; `false` disables the cache. */
  cacheDir?: string | false;
  /** Worker threads; default: available cores; 0 = in this thread. */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PrepareStats {
  /** Images served from the cache. */
  cached: number;
  decoded: number;
  failed: number;
}

/** A `PreparedSet` with the original image sizes (after EXIF orientation), for mapping heat maps back. */
export interface PreparedSetWithSizes extends PreparedSet {
  /** Width and height of item i at [2i], [2i + 1]. */
  originalSizes: Uint32Array;
  stats: PrepareStats;
}

function workerUrl(): URL {
  return new URL('./prepare-worker.js', import.meta.url);
}

/**
 * Idle workers kept for the next call: starting one (a V8 isolate, sharp and libvips, the addon)
 * costs about 130 ms of CPU, as much as decoding 40 images. Idle ones are unref'd, so they never
 * keep the process alive; at most one per core is kept.
 */
const idle: Worker[] = [];

function onIdleExit(this: Worker): void {
  const i = idle.indexOf(this);
  if (i >= 0) idle.splice(i, 1);
}

function takeWorker(): Worker {
  const w = idle.pop();
  if (w) {
    w.off('exit', onIdleExit);
    w.off('error', onIdleExit);
    w.ref();
    return w;
  }
  return new Worker(workerUrl());
}

function releaseWorker(w: Worker): void {
  if (idle.length >= os.availableParallelism()) {
    void w.terminate();
    return;
  }
  w.unref();
  w.on('exit', onIdleExit);
  w.on('error', onIdleExit);
  idle.push(w);
}

async function runPool(jobs: PrepareJob[], threads: number, onResult: (r: PrepareResult) => void): Promise<void> {
  if (jobs.length === 0) return;
  if (threads === 0) {
    for (const j of jobs) onResult(await prepareOne(j));
    return;
  }
  const n = Math.min(threads, jobs.length);
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    let live = n;
    const start = (): void => {
      const w = takeWorker();
      // two jobs in flight per worker keeps it busy while the main thread copies results
      const inFlight = new Map<number, PrepareJob>();
      let closed = false;
      const close = (failure?: string): void => {
        if (closed) return;
        closed = true;
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        // a crashed worker fails its jobs (not the run) and is replaced
        for (const j of inFlight.values()) onResult({ id: j.id, ok: false, code: 'E_INTERNAL', reason: failure ?? 'worker stopped' });
        inFlight.clear();
        if (failure === undefined) releaseWorker(w);
        else void w.terminate();
        if (failure !== undefined && next < jobs.length) start();
        else if (--live === 0) resolve();
      };
      const feed = (): void => {
        while (inFlight.size < 2 && next < jobs.length) {
          const j = jobs[next++]!;
          inFlight.set(j.id, j);
          w.postMessage(j);
        }
        if (inFlight.size === 0) close();
      };
      const onMessage = (r: PrepareResult): void => {
        inFlight.delete(r.id);
        onResult(r);
        feed();
      };
      const onError = (e: Error): void => close(`worker failed: ${e.message}`);
      const onExit = (code: number): void => close(`worker exited (code ${code})`);
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      feed();
    };
    try {
      for (let i = 0; i < n; i++) start();
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/**
 * Decode + gray + crop + INTER_AREA every item (worker threads, cached on disk). Items that fail
 * are left out of `items`/`pixels` and listed in `failed`.
 */
export async function prepareImages(items: DatasetItem[], params: PreprocessParams, opts: PrepareOptions = {}): Promise<PreparedSetWithSizes> {
  validatePreprocessParams(params);
  const threads = opts.threads ?? os.availableParallelism();
  if (!Number.isInteger(threads) || threads < 0 || threads > 256) throw optionError('threads', 'an integer in [0, 256]', threads);
  const cacheDir = opts.cacheDir === false ? null : (opts.cacheDir ?? defaultCacheDir());
  const px = params.size * params.size;
  let pixels: Uint8Array;
  try {
    pixels = new Uint8Array(items.length * px);
  } catch (e) {
    throw new CovidNetError('E_INPUT_RANGE', `${items.length} images of ${params.size}x${params.size} need ${((items.length * px) / 2 ** 30).toFixed(1)} GiB in one block, more than this process can allocate: use a smaller size or fewer images`, { cause: e });
  }
  const sizes = new Uint32Array(items.length * 2);
  const ok = new Uint8Array(items.length);
  const failed: SkippedEntry[] = [];
  const stats: PrepareStats = { cached: 0, decoded: 0, failed: 0 };
  let done = 0;
  const jobs: PrepareJob[] = items.map((it, id) => ({ id, file: it.file, size: params.size, crop: params.crop, cacheDir }));
  await runPool(jobs, threads, (r) => {
    if (r.ok) {
      pixels.set(r.pixels, r.id * px);
      sizes[2 * r.id] = r.width;
      sizes[2 * r.id + 1] = r.height;
      ok[r.id] = 1;
      if (r.cached) stats.cached++;
      else stats.decoded++;
    } else {
      failed.push({ file: items[r.id]!.file, code: r.code, reason: r.reason });
      stats.failed++;
    }
    done++;
    opts.onProgress?.(done, items.length);
  });
  // compact in place: failures are rare, so this is one pass of copies within the block
  const kept: DatasetItem[] = [];
  let k = 0;
  for (let i = 0; i < items.length; i++) {
    if (!ok[i]) continue;
    if (k !== i) {
      pixels.copyWithin(k * px, i * px, (i + 1) * px);
      sizes[2 * k] = sizes[2 * i]!;
      sizes[2 * k + 1] = sizes[2 * i + 1]!;
    }
    kept.push(items[i]!);
    k++;
  }
  failed.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return {
    items: kept,
    size: params.size,
    crop: params.crop,
    pixels: k === items.length ? pixels : pixels.subarray(0, k * px),
    failed,
    originalSizes: sizes.subarray(0, 2 * k),
    stats,
  };
}
