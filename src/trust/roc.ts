/**
 * ROC curves and areas (one class against the rest; out-of-distribution against in-distribution)
 * and operating points: a threshold on a score chosen on validation to reach a sensitivity or a
 * specificity.
 */
import { optionError } from '../errors.js';
import { CLASS_NAME_PATTERN, type ClassName } from '../types.js';
import { bootstrap, type BootstrapInterval } from './stats.js';

/**
 * Area under the ROC curve: P(score of a positive > score of a negative) + ½ P(tie), by ranks
 * (Mann–Whitney). NaN where either group is empty. `idx` picks (with repeats) which items count.
 */
export function auroc(scores: ArrayLike<number>, positive: ArrayLike<boolean>, idx?: ArrayLike<number>): number {
  const m = idx ? idx.length : scores.length;
  const items: { s: number; p: boolean }[] = [];
  for (let k = 0; k < m; k++) {
    const i = idx ? idx[k]! : k;
    // a non-finite score (an image the detector could not place) ranks as the most extreme
    const s = scores[i]!;
    items.push({ s: Number.isNaN(s) ? Infinity : s, p: positive[i]! });
  }
  items.sort((a, b) => a.s - b.s);
  let nPos = 0;
  let rankSum = 0;
  for (let i = 0; i < items.length; ) {
    let j = i;
    while (j + 1 < items.length && items[j + 1]!.s === items[i]!.s) j++;
    const rank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) if (items[t]!.p) {
      nPos++;
      rankSum += rank;
    }
    i = j + 1;
  }
  const nNeg = items.length - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** AUROC with a seeded percentile-bootstrap interval over the items. */
export function aurocInterval(scores: ArrayLike<number>, positive: ArrayLike<boolean>, opts: { seed?: number | undefined; replicates?: number | undefined } = {}): BootstrapInterval {
  return bootstrap(scores.length, (idx) => auroc(scores, positive, idx), opts);
}

export interface RocPoint {
  threshold: number;
  /** False-positive rate (1 − specificity) and true-positive rate (sensitivity). */
  fpr: number;
  tpr: number;
}

/** The ROC curve (positive = score ≥ threshold), from (0, 0) to (1, 1), one point per distinct score. */
export function rocCurve(scores: ArrayLike<number>, positive: ArrayLike<boolean>): RocPoint[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (positive[i]) nPos++;
  const nNeg = n - nPos;
  const pts: RocPoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; ) {
    const s = scores[order[k]!]!;
    while (k < n && scores[order[k]!]! === s) {
      if (positive[order[k]!]) tp++;
      else fp++;
      k++;
    }
    pts.push({ threshold: s, fpr: nNeg ? fp / nNeg : NaN, tpr: nPos ? tp / nPos : NaN });
  }
  return pts;
}

export interface OperatingPointSpec {
  cls: ClassName;
  metric: 'sensitivity' | 'specificity';
  target: number;
}

/** `COVID-19:sensitivity=0.90` → { cls, metric, target }. */
export function parseOperatingPoint(s: string): OperatingPointSpec {
  const m = /^\s*([^:]+):\s*(sensitivity|specificity)\s*=\s*([0-9.]+)\s*$/.exec(s);
  const expected = 'CLASS:sensitivity=F or CLASS:specificity=F (CLASS a class of the run, e.g. normal, pneumonia or COVID-19; F in (0, 1]), e.g. COVID-19:sensitivity=0.90';
  if (!m) throw optionError('--operating-point', expected, s);
  const cls = m[1]!.trim();
  const target = Number(m[3]);
  // whether the run has the class is checked where the run is known (evaluate)
  if (!CLASS_NAME_PATTERN.test(cls) || !(target > 0 && target <= 1)) throw optionError('--operating-point', expected, s);
  return { cls, metric: m[2] as 'sensitivity' | 'specificity', target };
}

/**
 * The threshold t on a class's probability (positive iff score ≥ t) chosen on validation images:
 * sensitivity: the largest t with at least `target` of the positives at or above it;
 * specificity: the smallest t with at least `target` of the negatives below it.
 * Undefined when the validation images hold no positive (sensitivity) or no negative (specificity).
 */
export function chooseThreshold(scores: readonly number[], positive: readonly boolean[], spec: Pick<OperatingPointSpec, 'metric' | 'target'>): number | undefined {
  const pos = scores.filter((_, i) => positive[i]).sort((a, b) => b - a);
  const neg = scores.filter((_, i) => !positive[i]).sort((a, b) => a - b);
  if (spec.metric === 'sensitivity') {
    if (pos.length === 0) return undefined;
    const k = Math.max(1, Math.ceil(spec.target * pos.length - 1e-9));
    return pos[k - 1]!;
  }
  if (neg.length === 0) return undefined;
  const k = Math.max(1, Math.ceil(spec.target * neg.length - 1e-9));
  const below = neg[k - 1]!;
  // just above the k-th smallest negative: the next distinct score, else a hair above it
  const above = [...scores].filter((v) => v > below).sort((a, b) => a - b)[0];
  return above !== undefined ? (below + above) / 2 : below + Math.max(1e-12, Math.abs(below) * 1e-9);
}
