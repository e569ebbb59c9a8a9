/**
 * Classification metrics with 95% Wilson score intervals: accuracy, balanced accuracy (mean
 * per-class sensitivity; the study's 87% vs 81% flips under it), confusion matrix (rows true,
 * columns predicted) and per-class sensitivity, specificity, PPV and F1.
 */
import type { ClassName } from '../types.js';

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
  /** F1 = 2TP / (2TP + FP + FN); its interval is Wilson's on that ratio (an approximation). */
  f1: Interval;
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
export function computeMetrics(truth: readonly number[], pred: readonly number[], classes: readonly ClassName[]): Metrics {
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  truth.forEach((t, i) => confusion[t]![pred[i]!]!++);
  const n = truth.length;
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion[c]![c]!;
  const per_class: Record<string, ClassMetrics> = {};
  const sens: number[] = [];
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
      f1: wilson(2 * tp, 2 * tp + fp + fn),
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
