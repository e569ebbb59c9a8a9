/**
 * A linear probe: how well a label (here the image's source) can be read off fixed feature
 * vectors. Multinomial logistic regression with an L2 penalty, features standardised on the
 * training folds, full-batch gradient descent with Adam steps (convex, so the answer does not
 * depend on the optimiser beyond its tolerance). Cross-validated with folds grouped by patient
 * (images of one patient never sit on both sides) and stratified by label. Chance is stated with
 * the result: the majority label's share for accuracy, 1/K for balanced accuracy.
 */
import { createRng, shuffleInPlace } from '../util/rng.js';

export interface ProbeOptions {
  folds?: number;
  /** L2 penalty on the weights (per sample). */
  l2?: number;
  iterations?: number;
  seed?: number;
}

export interface ProbeResult {
  /** Labels probed (those with at least `folds` samples), in order. */
  labels: string[];
  n: number;
  folds: number;
  accuracy: number;
  balanced_accuracy: number;
  /** Accuracy of always answering the most common label. */
  chance_accuracy: number;
  /** 1 / number of labels. */
  chance_balanced_accuracy: number;
  /** Labels left out for having fewer than `folds` samples, with their counts. */
  dropped: Record<string, number>;
  confusion: number[][];
}

/** Fit on (x, y) and return the weights (k × (d + 1), bias last) of a softmax classifier. */
export function fitLogistic(x: readonly Float64Array[], y: readonly number[], k: number, opts: { l2?: number; iterations?: number } = {}): Float64Array[] {
  const n = x.length;
  const d = x[0]?.length ?? 0;
  const l2 = opts.l2 ?? 1e-2;
  const iters = opts.iterations ?? 300;
  const w = Array.from({ length: k }, () => new Float64Array(d + 1));
  const m = w.map((r) => new Float64Array(r.length));
  const v = w.map((r) => new Float64Array(r.length));
  const grad = w.map((r) => new Float64Array(r.length));
  const p = new Float64Array(k);
  const lr = 0.05;
  for (let t = 1; t <= iters; t++) {
    for (const g of grad) g.fill(0);
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      let mx = -Infinity;
      for (let c = 0; c < k; c++) {
        const wc = w[c]!;
        let z = wc[d]!;
        for (let j = 0; j < d; j++) z += wc[j]! * xi[j]!;
        p[c] = z;
        if (z > mx) mx = z;
      }
      let s = 0;
      for (let c = 0; c < k; c++) s += p[c] = Math.exp(p[c]! - mx);
      for (let c = 0; c < k; c++) {
        const e = p[c]! / s - (y[i] === c ? 1 : 0);
        const gc = grad[c]!;
        for (let j = 0; j < d; j++) gc[j]! += e * xi[j]!;
        gc[d]! += e;
      }
    }
    for (let c = 0; c < k; c++) {
      const wc = w[c]!, gc = grad[c]!, mc = m[c]!, vc = v[c]!;
      for (let j = 0; j <= d; j++) {
        const g = gc[j]! / n + (j < d ? l2 * wc[j]! : 0);
        mc[j] = 0.9 * mc[j]! + 0.1 * g;
        vc[j] = 0.999 * vc[j]! + 0.001 * g * g;
        wc[j]! -= (lr * (mc[j]! / (1 - 0.9 ** t))) / (Math.sqrt(vc[j]! / (1 - 0.999 ** t)) + 1e-8);
      }
    }
  }
  return w;
}

export function predictLogistic(w: readonly Float64Array[], x: Float64Array): number {
  const d = x.length;
  let best = 0;
  let bz = -Infinity;
  w.forEach((wc, c) => {
    let z = wc[d]!;
    for (let j = 0; j < d; j++) z += wc[j]! * x[j]!;
    if (z > bz) {
      bz = z;
      best = c;
    }
  });
  return best;
}

/**
 * Cross-validated probe of `labels` from `features`. `groups` (e.g. patient keys) keep a group's
 * samples in one fold. Labels with fewer than `folds` samples are dropped (and listed).
 */
export function linearProbe(features: readonly ArrayLike<number>[], labels: readonly string[], groups: readonly string[], opts: ProbeOptions = {}): ProbeResult {
  const folds = opts.folds ?? 5;
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const kept = [...counts].filter(([, c]) => c >= folds).map(([l]) => l).sort();
  const dropped = Object.fromEntries([...counts].filter(([, c]) => c < folds));
  const idx = labels.map((l, i) => (kept.includes(l) ? i : -1)).filter((i) => i >= 0);
  const k = kept.length;
  const empty: ProbeResult = { labels: kept, n: idx.length, folds, accuracy: NaN, balanced_accuracy: NaN, chance_accuracy: NaN, chance_balanced_accuracy: k ? 1 / k : NaN, dropped, confusion: [] };
  if (k < 2) return empty;
  const y = idx.map((i) => kept.indexOf(labels[i]!));
  // folds: groups dealt round-robin within each label (by the group's first label), after a seeded shuffle
  const rng = createRng(opts.seed ?? 1);
  const groupLabel = new Map<string, number>();
  idx.forEach((i, r) => {
    if (!groupLabel.has(groups[i]!)) groupLabel.set(groups[i]!, y[r]!);
  });
  const foldOf = new Map<string, number>();
  for (let c = 0; c < k; c++) {
    const gs = [...groupLabel].filter(([, l]) => l === c).map(([g]) => g).sort();
    shuffleInPlace(gs, rng);
    gs.forEach((g, j) => foldOf.set(g, j % folds));
  }
  const d = features[idx[0]!]!.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let f = 0; f < folds; f++) {
    const tr = idx.map((i, r) => [i, r] as const).filter(([i]) => foldOf.get(groups[i]!) !== f);
    const te = idx.map((i, r) => [i, r] as const).filter(([i]) => foldOf.get(groups[i]!) === f);
    if (te.length === 0 || tr.length === 0) continue;
    // standardise on the training folds only
    const mean = new Float64Array(d);
    const sd = new Float64Array(d);
    for (const [i] of tr) for (let j = 0; j < d; j++) mean[j]! += features[i]![j]! / tr.length;
    for (const [i] of tr) for (let j = 0; j < d; j++) sd[j]! += (features[i]![j]! - mean[j]!) ** 2 / tr.length;
    for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]!) || 1;
    const z = (i: number) => Float64Array.from({ length: d }, (_, j) => (features[i]![j]! - mean[j]!) / sd[j]!);
    const w = fitLogistic(tr.map(([i]) => z(i)), tr.map(([, r]) => y[r]!), k, { l2: opts.l2, iterations: opts.iterations });
    for (const [i, r] of te) confusion[y[r]!]![predictLogistic(w, z(i))]! += 1;
  }
  const n = confusion.flat().reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((s, row, c) => s + row[c]!, 0);
  const sens = confusion.filter((row) => row.reduce((a, b) => a + b, 0) > 0).map((row) => row[confusion.indexOf(row)]! / row.reduce((a, b) => a + b, 0));
  const majority = Math.max(...kept.map((l) => counts.get(l)!));
  return { ...empty, n, accuracy: correct / n, balanced_accuracy: sens.reduce((a, b) => a + b, 0) / sens.length, chance_accuracy: majority / idx.length, confusion };
}
