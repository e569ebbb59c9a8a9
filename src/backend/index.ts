/**
 * Backend selection. Contract used by training, evaluation and the CLI:
 *   const choice = await initBackend({ backend, purpose: 'train', threads });
 *   choice.name   // the backend now active in tf
 *   choice.reason // one line: what was chosen, why, and how to get the fast one
 *
 * Best available: `onednn` (the native addon, built by `make native`) where it loads; otherwise
 * `cpu` for training (wasm cannot train: it lacks the convolution filter gradients) and `wasm`
 * for inference. `backend` or the COVIDNET_BACKEND environment variable forces one.
 * Threads: `threads`, else COVIDNET_THREADS, else all cores.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '../tf.js';
import { CovidNetError, optionError } from '../errors.js';
import { loadAddon } from './native.js';
import { ONEDNN, OnednnBackend, registerOnednnBackend } from './onednn.js';
import { installOnednnFusion } from './fusion.js';

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

/** Threads to use: the option, else COVIDNET_THREADS, else all cores. */
export function resolveThreads(threads?: number): number {
  if (threads !== undefined) {
    if (!Number.isInteger(threads) || threads < 1) throw optionError('threads', 'a positive integer', threads);
    return threads;
  }
  const env = process.env['COVIDNET_THREADS'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw optionError('COVIDNET_THREADS', 'a positive integer', env);
    return n;
  }
  return availableParallelism();
}

/** Registers `onednn` if the addon loads; returns the addon's description or the reason it cannot. */
function prepareOnednn(threads: number): { ok: true; detail: string } | { ok: false; error: string } {
  const load = loadAddon();
  if (!load.ok) return { ok: false, error: load.error };
  registerOnednnBackend(load.addon);
  installOnednnFusion();
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

export { loadAddon, addonPath } from './native.js';
export { NATIVE_KERNELS, ONEDNN } from './onednn.js';
