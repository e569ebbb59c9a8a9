/**
 * Classification metrics: accuracy, balanced accuracy (mean per-class sensitivity; the study's
 * 87% vs 81% flips under it), confusion matrix (rows true, columns predicted) and per-class
 * sensitivity, specificity, PPV and F1. The proportions get 95% Wilson score intervals; F1 is not
 * a proportion of anything (2TP / (2TP + FP + FN) counts TP twice), so its interval is a seeded
 * percentile bootstrap over the evaluated images.
 */
import type { ClassName } from '../types.js';
import { createRng } from '../util/rng.js';
import type { BootstrapInterval } from '../trust/stats.js';

export interface Interval {
  value: number;
  lo: number;
  hi: number;
  /** Successes and trials the interval is computed from. */
  x: number;
  n: number;
}

const Z95 = 1.959963984540054;

/** Wilson score interval for x successes in n trials (NaN value for n = 0). */
export function wilson(x: number, n: number, z = Z95): Interval {
  if (n === 0) return { value: NaN, lo: NaN, hi: NaN, x, n };
  const p = x / n;
  const z2 = z * z;
  const den = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / den;
  return { value: p, lo: Math.max(0, centre - half), hi: Math.min(1, centre + half), x, n };
}

export interface ClassMetrics {
  /** True images of this class. */
  support: number;
  sensitivity: Interval;
  specificity: Interval;
  ppv: Interval;
  /**
   * F1 = 2TP / (2TP + FP + FN) with a bootstrap interval. Evaluation files written before the
   * bootstrap hold a Wilson `Interval` here (`x`, `n` instead of `replicates`, `seed`).
   */
  f1: BootstrapInterval | Interval;
}

export type { BootstrapInterval };

/** Resamples of the F1 bootstrap. */
export const F1_BOOTSTRAP_REPLICATES = 2000;

export interface MetricsOptions {
  /** Seed of the F1 bootstrap (default 1). */
  seed?: number | undefined;
  /** Resamples of the F1 bootstrap (default F1_BOOTSTRAP_REPLICATES). */
  replicates?: number | undefined;
}

export function isBootstrapInterval(i: BootstrapInterval | Interval): i is BootstrapInterval {
  return (i as BootstrapInterval).replicates !== undefined;
}

/** F1 of class c from per-class counts (NaN where 2TP + FP + FN = 0). */
function f1Of(tp: number, fp: number, fn: number): number {
  const den = 2 * tp + fp + fn;
  return den > 0 ? (2 * tp) / den : NaN;
}

/** Linear-interpolation quantile (R type 7) of sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  const j = Math.min(i + 1, sorted.length - 1);
  return sorted[i]! + (h - i) * (sorted[j]! - sorted[i]!);
}

/**
 * Per-class F1 with a 95% percentile bootstrap over the (truth, pred) pairs: `replicates`
 * resamples of n pairs with replacement, drawn from a seeded generator.
 */
export function bootstrapF1(truth: readonly number[], pred: readonly number[], k: number, opts: MetricsOptions = {}): BootstrapInterval[] {
  const replicates = opts.replicates ?? F1_BOOTSTRAP_REPLICATES;
  const seed = opts.seed ?? 1;
  const n = truth.length;
  const counts = (pick: (i: number) => number) => {
    const tp = new Array<number>(k).fill(0);
    const fp = new Array<number>(k).fill(0);
    const fn = new Array<number>(k).fill(0);
    for (let s = 0; s < n; s++) {
      const i = pick(s);
      const t = truth[i]!;
      const p = pred[i]!;
      if (t === p) tp[t]!++;
      else {
        fn[t]!++;
        fp[p]!++;
      }
    }
    return Array.from({ length: k }, (_, c) => f1Of(tp[c]!, fp[c]!, fn[c]!));
  };
  const point = counts((s) => s);
  const samples: number[][] = Array.from({ length: k }, () => []);
  const rng = createRng(seed);
  if (n > 0) {
    for (let r = 0; r < replicates; r++) {
      counts(() => rng.int(n)).forEach((v, c) => {
        if (!Number.isNaN(v)) samples[c]!.push(v);
      });
    }
  }
  return point.map((value, c) => {
    const s = samples[c]!.sort((a, b) => a - b);
    const undefinedValue = Number.isNaN(value);
    return { value, lo: undefinedValue ? NaN : quantile(s, 0.025), hi: undefinedValue ? NaN : quantile(s, 0.975), replicates, seed };
  });
}

export interface Metrics {
  n: number;
  accuracy: Interval;
  balanced_accuracy: number;
  classes: readonly ClassName[];
  /** Counts, rows = true class, columns = predicted class. */
  confusion: number[][];
  /** Each row divided by its sum (NaN for an empty row). */
  confusion_normalized: number[][];
  per_class: Record<string, ClassMetrics>;
}

/** Metrics from class indices of truth and prediction. */
export function computeMetrics(truth: readonly number[], pred: readonly number[], classes: readonly ClassName[], opts: MetricsOptions = {}): Metrics {
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  truth.forEach((t, i) => confusion[t]![pred[i]!]!++);
  const n = truth.length;
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion[c]![c]!;
  const per_class: Record<string, ClassMetrics> = {};
  const sens: number[] = [];
  const f1 = bootstrapF1(truth, pred, k, opts);
  classes.forEach((name, c) => {
    const tp = confusion[c]![c]!;
    const rowSum = confusion[c]!.reduce((a, b) => a + b, 0);
    const colSum = confusion.reduce((a, r) => a + r[c]!, 0);
    const fn = rowSum - tp;
    const fp = colSum - tp;
    const tn = n - tp - fn - fp;
    const sensitivity = wilson(tp, tp + fn);
    if (rowSum > 0) sens.push(sensitivity.value);
    per_class[name] = {
      support: rowSum,
      sensitivity,
      specificity: wilson(tn, tn + fp),
      ppv: wilson(tp, tp + fp),
      f1: f1[c]!,
    };
  });
  return {
    n,
    accuracy: wilson(correct, n),
    balanced_accuracy: sens.length ? sens.reduce((a, b) => a + b, 0) / sens.length : NaN,
    classes,
    confusion,
    confusion_normalized: confusion.map((r) => {
      const s = r.reduce((a, b) => a + b, 0);
      return r.map((v) => (s ? v / s : NaN));
    }),
    per_class,
  };
}
