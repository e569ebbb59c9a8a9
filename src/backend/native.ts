/**
 * Loads the optional oneDNN addon (native/build/Release/covidnet_onednn.node, built by
 * `make native`). `COVIDNET_NATIVE_ADDON` points the loader at another file (tests use a missing
 * path to check the fallback). Loading never throws: the result says why it failed.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A compiled plan held by JS (native/src/plan.cc; an External, freed by planDispose or GC). */
export type NativePlan = { readonly __nativePlan: unique symbol };

/** The addon's functions (native/src/addon.cc). Shapes and flags travel as Int32Arrays. */
export interface NativeAddon {
  convForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, p: Int32Array): void;
  convBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, p: Int32Array): void;
  convBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, p: Int32Array): void;
  convBiasReluBackward(
    dy: Float32Array, y: Float32Array, x: Float32Array, w: Float32Array,
    dx: Float32Array | null, dw: Float32Array, db: Float32Array, p: Int32Array,
  ): void;
  maxPoolForward(x: Float32Array, y: Float32Array, p: Int32Array, training: boolean): ArrayBuffer | undefined;
  maxPoolBackward(dy: Float32Array, workspace: ArrayBuffer, dx: Float32Array, p: Int32Array): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | null, p: Int32Array): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, mode: number, inner: number): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  addN(inputs: Float32Array[], out: Float32Array): void;
  sumOuter(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  sumInner(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  adam(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, hyper: Float64Array): void;
  planCreate(program: Int32Array, values: Int32Array, outputs: Int32Array, numWeights: number): NativePlan;
  planRun(plan: NativePlan, input: Float32Array, batch: number, weights: Float32Array[]): Float32Array[];
  planDispose(plan: NativePlan): void;
  planInfo(plan: NativePlan): {
    disposed: boolean; ops?: number; values?: number; slots?: number; floatsPerImage?: number;
    /** PEPX modules fused into one op each (5 program ops → 1; native/src/pepx.cc). */
    fusedPepx?: number; tailSteps?: number;
    /** Runs so far, and the milliseconds they spent per kind of op (conv1x1, convKxK, depthwise, pepx, maxpool, add, dense, other). */
    runs?: number; msByKind?: Record<string, number>;
    /** Batch-1 runs after a pause (native plan.cc coldAlone): how many, and the mean ms on all threads and on the calling thread alone (0: not measured yet). */
    cold?: { runs: number; threadsMs: number; aloneMs: number };
    /** Per op of the plan: its kind, per-image shapes (`HxWxC -> HxWxC`) and milliseconds over all runs. */
    steps?: { kind: string; shape: string; ms: number }[];
  };
  setThreads(n: number): number;
  getThreads(): number;
  version(): string;
  /** What this CPU offers our own kernels (the AVX-512 pointwise kernel and fused PEPX modules need avx512f). */
  cpuFeatures(): { avx512f: boolean };
  clearCache(): void;
}

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; path: string; error: string };

/** Where the addon is looked for: `COVIDNET_NATIVE_ADDON`, else the build output of `make native`. */
export function addonPath(): string {
  const override = process.env['COVIDNET_NATIVE_ADDON'];
  // relative to the working directory, as a user means it (require() would take a bare
  // "native/build/..." for a package name)
  if (override) return resolve(override);
  // dist/backend/native.js → repo root → native/build/Release
  return fileURLToPath(new URL('../../native/build/Release/covidnet_onednn.node', import.meta.url));
}

let cached: AddonLoad | undefined;

export function loadAddon(): AddonLoad {
  const path = addonPath();
  if (cached && cached.path === path) return cached;
  if (!existsSync(path)) {
    cached = { ok: false, path, error: `addon not built (${path} missing)` };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    if (typeof addon.convForward !== 'function') throw new Error('not the covidnet oneDNN addon');
    cached = { ok: true, addon, path };
  } catch (e) {
    // Typical: libdnnl.so.2 missing at run time (the package was removed after the build).
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'unknown error';
    cached = { ok: false, path, error: `addon failed to load: ${msg}` };
  }
  return cached;
}
