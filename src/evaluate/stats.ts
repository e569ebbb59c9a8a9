/**
 * Statistics across seeds and between paired configurations:
 * - `seedSummary`: mean, sample sd and a 95% Student-t interval of a metric across seeds (the
 *   seeds are the replicates: the interval says where the mean over training seeds lies);
 * - `pairedBootstrap`: the difference in balanced accuracy of two configurations evaluated on the
 *   same test images, with a percentile interval from resampling both the test images and the
 *   seed pairs (so it carries the test set's and the training's variability);
 * - `mcnemarExact`: McNemar's exact (binomial) test on the per-image correctness of one pair.
 */
import { createRng } from '../util/rng.js';

/** Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30; beyond, the normal 1.96 is within 2%. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06,
  2.056, 2.052, 2.048, 2.045, 2.042,
];

export function tQuantile975(df: number): number {
  if (!(df >= 1)) return NaN;
  return df <= 30 ? T975[Math.floor(df) - 1]! : df <= 60 ? 2.0 : 1.96;
}

export interface SeedSummary {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1); NaN for one seed. */
  sd: number;
  /** 95% t interval of the mean; NaN for one seed. */
  lo: number;
  hi: number;
  values: number[];
}

/**
 * Mean, sd and 95% t interval of `values` (non-finite values are left out). `bounds` clips the
 * interval to the metric's range (a rate's t interval over few seeds can pass 0 or 1).
 */
export function seedSummary(values: readonly number[], bounds?: readonly [number, number]): SeedSummary {
  const v = values.filter((x) => Number.isFinite(x));
  const n = v.length;
  const mean = n ? v.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : NaN;
  const half = n > 1 ? (tQuantile975(n - 1) * sd) / Math.sqrt(n) : NaN;
  const [min, max] = bounds ?? [-Infinity, Infinity];
  return { n, mean, sd, lo: Math.max(min, mean - half), hi: Math.min(max, mean + half), values: [...v] };
}

/** Balanced accuracy (mean per-class sensitivity over the classes present) on a subset of images. */
export function balancedAccuracy(truth: readonly number[], pred: readonly number[], k: number, idx?: readonly number[]): number {
  const hit = new Array<number>(k).fill(0);
  const tot = new Array<number>(k).fill(0);
  const n = idx ? idx.length : truth.length;
  for (let j = 0; j < n; j++) {
    const i = idx ? idx[j]! : j;
    tot[truth[i]!]! += 1;
    if (pred[i] === truth[i]) hit[truth[i]!]! += 1;
  }
  let s = 0;
  let c = 0;
  for (let q = 0; q < k; q++) {
    if (tot[q]! > 0) {
      s += hit[q]! / tot[q]!;
      c++;
    }
  }
  return c ? s / c : NaN;
}

/** One seed pair: both configurations' predictions on the same test images. */
export interface PairedPredictions {
  /** Test images are shared by pairs with the same `group` (e.g. split seed); resampled together. */
  group: string;
  truth: readonly number[];
  a: readonly number[];
  b: readonly number[];
}

export interface PairedDifference {
  /** Mean over pairs of balanced accuracy (a) − balanced accuracy (b). */
  difference: number;
  lo: number;
  hi: number;
  replicates: number;
  seed: number;
  pairs: number;
  /** The interval excludes 0. */
  significant: boolean;
}

/**
 * Difference in balanced accuracy, a − b, averaged over seed pairs, with a percentile bootstrap
 * interval: each replicate resamples the test images (once per group, the same for a and b and
 * for every pair of the group) and the pairs, both with replacement.
 */
export function pairedBootstrap(pairs: readonly PairedPredictions[], k: number, opts: { replicates?: number; seed?: number } = {}): PairedDifference {
  const reps = opts.replicates ?? 2000;
  const seed = opts.seed ?? 1;
  const diff = (p: PairedPredictions, idx?: readonly number[]) => balancedAccuracy(p.truth, p.a, k, idx) - balancedAccuracy(p.truth, p.b, k, idx);
  const point = pairs.reduce((s, p) => s + diff(p), 0) / pairs.length;
  const rng = createRng(seed);
  const groups = [...new Set(pairs.map((p) => p.group))];
  const sizes = new Map(pairs.map((p) => [p.group, p.truth.length]));
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    const idx = new Map(groups.map((g) => [g, Array.from({ length: sizes.get(g)! }, () => Math.floor(rng.next() * sizes.get(g)!))]));
    let s = 0;
    for (let j = 0; j < pairs.length; j++) {
      const p = pairs[Math.floor(rng.next() * pairs.length)]!;
      s += diff(p, idx.get(p.group));
    }
    out.push(s / pairs.length);
  }
  out.sort((x, y) => x - y);
  const q = (f: number) => out[Math.min(out.length - 1, Math.max(0, Math.floor(f * out.length)))]!;
  const lo = q(0.025);
  const hi = q(0.975);
  return { difference: point, lo, hi, replicates: reps, seed, pairs: pairs.length, significant: lo > 0 || hi < 0 };
}

export interface McNemar {
  /** Images a got right and b wrong. */
  b: number;
  /** Images a got wrong and b right. */
  c: number;
  /** Two-sided exact p: 2 · P(X ≤ min(b, c)) for X ~ Binomial(b + c, 1/2), capped at 1. */
  p: number;
}

/** McNemar's exact test from per-image correctness of two classifiers on the same images. */
export function mcnemarExact(aCorrect: readonly boolean[], bCorrect: readonly boolean[]): McNemar {
  let b = 0;
  let c = 0;
  aCorrect.forEach((x, i) => {
    if (x && !bCorrect[i]) b++;
    else if (!x && bCorrect[i]) c++;
  });
  return { b, c, p: mcnemarP(b, c) };
}

export function mcnemarP(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const m = Math.min(b, c);
  // log-space binomial terms: exact for the counts an evaluation has
  let logC = 0; // log C(n, 0)
  let tail = 0;
  for (let i = 0; i <= m; i++) {
    if (i > 0) logC += Math.log(n - i + 1) - Math.log(i);
    tail += Math.exp(logC - n * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}
