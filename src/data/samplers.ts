/**
 * Seeded samplers of the study: balanced epochs for the single net, same/different pairs for the
 * siamese net, and 3-way one-shot trials for its validation. All return indices into the label
 * arrays they are given and draw only from the `Rng` passed in.
 */
import { optionError } from '../errors.js';
import { classesOf, type ClassName } from '../types.js';
import { shuffleInPlace, type Rng } from '../util/rng.js';

/** Indices per class, classes in `classesOf` order (the study's first). */
function indicesByClass(labels: readonly ClassName[]): Map<ClassName, number[]> {
  const m = new Map<ClassName, number[]>(classesOf(labels).map((c) => [c, []]));
  labels.forEach((l, i) => m.get(l)!.push(i));
  return m;
}

/** k distinct random elements (all of them, shuffled, when k ≥ length). */
function sample(arr: readonly number[], k: number, rng: Rng): number[] {
  const a = arr.slice();
  const n = Math.min(k, a.length);
  // partial Fisher-Yates: the first n places
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(a.length - i);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a.slice(0, n);
}

/**
 * The study's balanced epoch: every COVID-19 image plus an equal-sized random sample (without
 * replacement; all of a class when it has fewer) of each other class, shuffled. Without COVID-19
 * images the size of the smallest non-empty class is used.
 */
export function balancedEpoch(labels: readonly ClassName[], rng: Rng): number[] {
  const by = indicesByClass(labels);
  const covid = by.get('COVID-19') ?? [];
  const sizes = [...by.values()].map((l) => l.length).filter((n) => n > 0);
  if (sizes.length === 0) return [];
  const n = covid.length > 0 ? covid.length : Math.min(...sizes);
  const out: number[] = [];
  for (const [c, l] of by) out.push(...(c === 'COVID-19' && covid.length > 0 ? covid.slice() : sample(l, n, rng)));
  return shuffleInPlace(out, rng);
}

export interface Pair {
  a: number;
  b: number;
  /** true when a and b have the same class (target 0: the siamese output is P(different)). */
  same: boolean;
}

/** Split n as evenly as possible over k slots, the remainder going to randomly chosen slots. */
function spread(n: number, k: number, rng: Rng): number[] {
  const base = Math.floor(n / k);
  const out = new Array<number>(k).fill(base);
  const order = shuffleInPlace(Array.from({ length: k }, (_, i) => i), rng);
  for (let i = 0; i < n - base * k; i++) out[order[i]!]! += 1;
  return out;
}

/**
 * nPairs pairs: half same-class (the extra one of an odd count too), half different-class, each
 * half spread evenly over the class combinations present (normal–normal, pneumonia–pneumonia,
 * COVID–COVID; normal–pneumonia, normal–COVID, pneumonia–COVID). Same-class pairs use two
 * different images where the class has two; the order within a pair is random; pairs shuffled.
 */
export function pairEpoch(labels: readonly ClassName[], nPairs: number, rng: Rng): Pair[] {
  if (!Number.isInteger(nPairs) || nPairs < 0) throw optionError('nPairs', 'a non-negative integer', nPairs);
  const by = indicesByClass(labels);
  const present = [...by.keys()];
  if (present.length === 0 || nPairs === 0) return [];
  const sameCombos = present.map((c) => [c, c] as const);
  const diffCombos: (readonly [ClassName, ClassName])[] = [];
  for (let i = 0; i < present.length; i++) for (let j = i + 1; j < present.length; j++) diffCombos.push([present[i]!, present[j]!]);
  const nDiff = diffCombos.length > 0 ? Math.floor(nPairs / 2) : 0;
  const nSame = nPairs - nDiff;
  const out: Pair[] = [];
  const pick = (c: ClassName): number => {
    const l = by.get(c)!;
    return l[rng.int(l.length)]!;
  };
  spread(nSame, sameCombos.length, rng).forEach((k, ci) => {
    const l = by.get(sameCombos[ci]![0])!;
    for (let i = 0; i < k; i++) {
      const a = rng.int(l.length);
      let b = rng.int(l.length - (l.length > 1 ? 1 : 0));
      if (l.length > 1 && b >= a) b++;
      out.push({ a: l[a]!, b: l[b]!, same: true });
    }
  });
  if (nDiff > 0) {
    spread(nDiff, diffCombos.length, rng).forEach((k, ci) => {
      const [x, y] = diffCombos[ci]!;
      for (let i = 0; i < k; i++) {
        const p = pick(x);
        const q = pick(y);
        out.push(rng.next() < 0.5 ? { a: p, b: q, same: false } : { a: q, b: p, same: false });
      }
    });
  }
  return shuffleInPlace(out, rng);
}

export interface OneShotTrial {
  /** Index into the query labels. */
  query: number;
  /** One index into the support labels per class, in `classesOf(supportLabels)` order. */
  support: number[];
  label: ClassName;
}

/**
 * 3-way one-shot trials (Koch et al.): a query image and one support image of each class; the
 * query is assigned the class of the most similar support. Query classes cycle through the classes
 * present (balanced trials), query and supports drawn at random. Every class must have a support
 * image. Pass the same array twice to draw both from one set: a query is then never its own support.
 */
export function oneShotTrials(queryLabels: readonly ClassName[], supportLabels: readonly ClassName[], nTrials: number, rng: Rng): OneShotTrial[] {
  if (!Number.isInteger(nTrials) || nTrials < 0) throw optionError('nTrials', 'a non-negative integer', nTrials);
  const q = indicesByClass(queryLabels);
  const s = indicesByClass(supportLabels);
  const missing = [...q.keys()].filter((c) => !s.has(c));
  if (missing.length) throw optionError('supportLabels', 'at least one image of each class', `none of ${missing.join(', ')}`);
  const qClasses = [...q.keys()];
  if (qClasses.length === 0 || nTrials === 0) return [];
  const sameSet = queryLabels === supportLabels;
  const offset = rng.int(qClasses.length);
  const out: OneShotTrial[] = [];
  for (let t = 0; t < nTrials; t++) {
    const label = qClasses[(t + offset) % qClasses.length]!;
    const ql = q.get(label)!;
    const query = ql[rng.int(ql.length)]!;
    const support = [...s].map(([c, l]) => {
      if (!sameSet || c !== label || l.length < 2) return l[rng.int(l.length)]!;
      // queries and supports from one set: never compare an image with itself
      let k = rng.int(l.length - 1);
      if (l[k] === query) k = l.length - 1;
      return l[k]!;
    });
    out.push({ query, support, label });
  }
  return out;
}
