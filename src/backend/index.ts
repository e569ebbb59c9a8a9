/**
 * Backend selection (placeholder until the native oneDNN backend lands: always `cpu`).
 * Contract used by training, evaluation and the CLI:
 *   const choice = await initBackend({ backend, purpose: 'train', threads });
 *   choice.name   // the backend now active in tf
 *   choice.reason // one line: what was chosen, why, and how to get the fast one
 */
import * as tf from '../tf.js';

export type BackendPurpose = 'train' | 'infer';

export interface BackendOptions {
  /** Force a backend by name (`onednn`, `wasm`, `cpu`); undefined = best available. */
  backend?: string | undefined;
  purpose: BackendPurpose;
  /** Worker threads for native kernels; default all cores (or COVIDNET_THREADS). */
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

export async function initBackend(opts: BackendOptions): Promise<BackendChoice> {
  const name = opts.backend ?? 'cpu';
  await tf.setBackend(name);
  await tf.ready();
  return { name, fast: false, reason: `backend ${name} (native backend not built yet)`, failures: [] };
}
