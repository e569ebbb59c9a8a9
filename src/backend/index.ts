/**
 * Backend selection. Contract used by training, evaluation and the CLI:
 *   const choice = await initBackend({ backend, purpose: 'train', threads });
 *   choice.name   // the backend now active in tf
 *   choice.reason // one line: what was chosen, why, and how to get the fast one
 *
 * Best available: `onednn` (the native addon, built by `make native`) where it loads; otherwise
 * `cpu` for training (wasm cannot train: it lacks the convolution filter gradients) and `wasm`
 * for inference. `backend` or the COVIDNET_BACKEND environment variable forces one.
 * Threads: `threads`, else COVIDNET_THREADS, else all cores (1 to 256).
 *
 * The training-time fusion (patched layer and optimizer prototypes, see fusion.ts) is not part of
 * selecting a backend: training code opts in with `withTrainingFusion(() => …)`.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '../tf.js';
import { CovidNetError, optionError } from '../errors.js';
import { loadAddon } from './native.js';
import { ONEDNN, OnednnBackend, registerOnednnBackend } from './onednn.js';

export type BackendPurpose = 'train' | 'infer';

export interface BackendOptions {
  /** Force a backend by name (`onednn`, `wasm`, `cpu`); undefined = COVIDNET_BACKEND or best available. */
  backend?: string | undefined;
  purpose: BackendPurpose;
  /** Worker threads for native kernels; default COVIDNET_THREADS, else all cores. */
  threads?: number | undefined;
}

export interface BackendChoice {
  name: string;
  /** True when a native (fast) backend is active. */
  fast: boolean;
  reason: string;
  /** Why better-ranked backends were not used. */
  failures: { name: string; error: string }[];
}

export const BACKENDS = ['onednn', 'cpu', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

const HOW_TO_GET_FAST = 'install libdnnl-dev (Debian/Ubuntu: sudo apt-get install libdnnl-dev) and run `make native` for the fast native backend';

/** The most threads the native kernels take (the addon's setThreads refuses more). */
export const MAX_THREADS = 256;

/** Threads to use: the option, else COVIDNET_THREADS, else all cores (at most MAX_THREADS). */
export function resolveThreads(threads?: number): number {
  const expected = `an integer from 1 to ${MAX_THREADS}`;
  const valid = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= MAX_THREADS;
  if (threads !== undefined) {
    if (!valid(threads)) throw optionError('threads', expected, threads);
    return threads;
  }
  const env = process.env['COVIDNET_THREADS'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!valid(n)) throw optionError('COVIDNET_THREADS', expected, env);
    return n;
  }
  return Math.min(availableParallelism(), MAX_THREADS);
}

/** Registers `onednn` if the addon loads; returns the addon's description or the reason it cannot. */
function prepareOnednn(threads: number): { ok: true; detail: string } | { ok: false; error: string } {
  const load = loadAddon();
  if (!load.ok) return { ok: false, error: load.error };
  registerOnednnBackend(load.addon);
  const used = load.addon.setThreads(threads);
  return { ok: true, detail: `oneDNN ${load.addon.version()}, ${used} thread${used === 1 ? '' : 's'}` };
}

async function prepareWasm(): Promise<void> {
  // Lazy: the wasm backend registers itself with a higher priority than cpu on import.
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  wasm.setWasmPaths(`${pathToFileURL(path.join(dist, 'dist')).href}/`);
}

async function activate(name: BackendName, threads: number): Promise<string> {
  if (name === ONEDNN) {
    const r = prepareOnednn(threads);
    if (!r.ok) throw new Error(r.error);
    if (!(await tf.setBackend(ONEDNN))) throw new Error('tf.setBackend(onednn) failed');
    return r.detail;
  }
  if (name === 'wasm') await prepareWasm();
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend(${name}) failed`);
  await tf.ready();
  return name === 'wasm' ? 'WebAssembly, single thread' : 'pure JavaScript';
}

export async function initBackend(opts: BackendOptions): Promise<BackendChoice> {
  const threads = resolveThreads(opts.threads);
  const forced = opts.backend ?? (process.env['COVIDNET_BACKEND'] || undefined);
  if (forced !== undefined) {
    if (!(BACKENDS as readonly string[]).includes(forced)) throw optionError('backend', BACKENDS.join(' | '), forced);
    const name = forced as BackendName;
    try {
      const detail = await activate(name, threads);
      return { name, fast: name === ONEDNN, reason: `backend ${name} (${detail}), as requested`, failures: [] };
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new CovidNetError(name === ONEDNN ? 'E_NATIVE_UNAVAILABLE' : 'E_BACKEND',
        `backend ${name} is not available: ${msg}${name === ONEDNN ? `; ${HOW_TO_GET_FAST}` : ''}`, { cause: e });
    }
  }
  const failures: { name: string; error: string }[] = [];
  const order: BackendName[] = opts.purpose === 'train' ? [ONEDNN, 'cpu'] : [ONEDNN, 'wasm', 'cpu'];
  for (const name of order) {
    try {
      const detail = await activate(name, threads);
      if (name === ONEDNN) return { name, fast: true, reason: `backend onednn (native ${detail})`, failures };
      const why = failures.map((f) => `${f.name}: ${f.error}`).join('; ');
      const slow = opts.purpose === 'train' && name === 'cpu' ? ' (wasm cannot train)' : '';
      return { name, fast: false, reason: `backend ${name} (${detail}${slow}), because ${why}; ${HOW_TO_GET_FAST}`, failures };
    } catch (e) {
      failures.push({ name, error: e instanceof Error ? e.message : String(e) });
    }
  }
  throw new CovidNetError('E_BACKEND', `no TensorFlow.js backend could be started: ${failures.map((f) => `${f.name}: ${f.error}`).join('; ')}`);
}

/** The active native backend, if `onednn` is selected (for cache release in long runs and tests). */
export function activeOnednn(): OnednnBackend | undefined {
  const b = tf.getBackend() === ONEDNN ? tf.backend() : undefined;
  return b instanceof OnednnBackend ? b : undefined;
}

export { NATIVE_KERNELS, ONEDNN } from './onednn.js';
export { withTrainingFusion, trainingFusionActive } from './fusion.js';
