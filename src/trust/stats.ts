/** Small order statistics shared by the detector, the calibration and the ROC code. */
import { createRng } from '../util/rng.js';

/** Linear-interpolation quantile (R type 7) of sorted values; NaN for none. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  const j = Math.min(i + 1, sorted.length - 1);
  return sorted[i]! + (h - i) * (sorted[j]! - sorted[i]!);
}

export function sortedFinite(values: readonly number[]): number[] {
  return values.filter(Number.isFinite).sort((a, b) => a - b);
}

export function median(values: readonly number[]): number {
  return quantileSorted(sortedFinite(values), 0.5);
}

/**
 * A robust spread: the interquartile range / 1.349 (the standard deviation for a normal
 * distribution), else the standard deviation, else 1 (all values equal).
 */
export function robustScale(values: readonly number[]): number {
  const s = sortedFinite(values);
  const iqr = (quantileSorted(s, 0.75) - quantileSorted(s, 0.25)) / 1.349;
  if (iqr > 0) return iqr;
  if (s.length > 1) {
    const m = s.reduce((a, b) => a + b, 0) / s.length;
    const sd = Math.sqrt(s.reduce((a, b) => a + (b - m) * (b - m), 0) / (s.length - 1));
    if (sd > 0) return sd;
  }
  return 1;
}

/**
 * The threshold that accepts (score ≤ threshold) at least `acceptance` of `values`: the
 * ⌈acceptance·n⌉-th smallest value. Non-finite values count as rejected.
 */
export function acceptanceThreshold(values: readonly number[], acceptance: number): number {
  const n = values.length;
  if (n === 0) return Infinity;
  const s = [...values].map((v) => (Number.isNaN(v) ? Infinity : v)).sort((a, b) => a - b);
  const k = Math.min(n, Math.max(1, Math.ceil(acceptance * n - 1e-9)));
  return s[k - 1]!;
}

/** log Σ exp(v), stable. */
export function logSumExp(v: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < v.length; i++) if (v[i]! > m) m = v[i]!;
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.exp(v[i]! - m);
  return m + Math.log(s);
}

/** softmax(v / t) in float64. */
export function softmax(v: ArrayLike<number>, t = 1): number[] {
  const z = Array.from(v, (x) => x / t);
  const l = logSumExp(z);
  return z.map((x) => Math.exp(x - l));
}

/** A 95% percentile-bootstrap interval: the 2.5% and 97.5% quantiles over resamples of the images (AUC, ECE, evaluate's F1). */
export interface BootstrapInterval {
  value: number;
  lo: number;
  hi: number;
  /** Resamples drawn (those where the statistic is undefined are left out of the quantiles). */
  replicates: number;
  seed: number;
}

/** Resamples of the AUC and ECE bootstraps. */
export const BOOTSTRAP_REPLICATES = 1000;

/**
 * Percentile bootstrap of `stat` over n items: `replicates` resamples of n indices with
 * replacement from a seeded generator; NaN statistics are left out.
 */
export function bootstrap(n: number, stat: (idx: Int32Array) => number, opts: { replicates?: number | undefined; seed?: number | undefined } = {}): BootstrapInterval {
  const replicates = opts.replicates ?? BOOTSTRAP_REPLICATES;
  const seed = opts.seed ?? 1;
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const value = n > 0 ? stat(all) : NaN;
  if (Number.isNaN(value)) return { value, lo: NaN, hi: NaN, replicates, seed };
  const rng = createRng(seed);
  const samples: number[] = [];
  const idx = new Int32Array(n);
  for (let r = 0; r < replicates; r++) {
    for (let i = 0; i < n; i++) idx[i] = rng.int(n);
    const v = stat(idx);
    if (!Number.isNaN(v)) samples.push(v);
  }
  samples.sort((a, b) => a - b);
  return { value, lo: quantileSorted(samples, 0.025), hi: quantileSorted(samples, 0.975), replicates, seed };
}
