import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASSES, type ClassName } from '../types.js';
import { summariseExperiment, type CellPrediction, type CellResult } from './experiment.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

/** 12 test images, 4 per class; `wrong` lists the indices a cell gets wrong (called the next class). */
function preds(wrong: readonly number[]): CellPrediction[] {
  return Array.from({ length: 12 }, (_, i) => {
    const label = CLASSES[i % 3]!;
    const predicted: ClassName = wrong.includes(i) ? CLASSES[(i + 1) % 3]! : label;
    return { file: `img${i}.png`, label, predicted, source: i < 6 ? 'nih' : 'cohen' };
  });
}

const counts = { normal: 10, pneumonia: 10, 'COVID-19': 10 };
const cell = (net: string, seed: number, wrong: number[]): CellResult => ({ id: `${net}/seed-${seed}`, net, seed, splitSeed: 1, perClass: null, trainCounts: counts, predictions: preds(wrong) });

test('aggregation across seeds: hand-computed means, sd and t intervals', () => {
  // single: 0, 3 and 6 images wrong of 12 → accuracy 1, 0.75, 0.5
  const cells = [cell('single', 1, []), cell('single', 2, [0, 1, 2]), cell('single', 3, [0, 1, 2, 3, 4, 5]), cell('siamese', 1, [0]), cell('siamese', 2, [0]), cell('siamese', 3, [0])];
  const s = summariseExperiment(cells, { replicates: 500 });
  const single = s.configs.find((c) => c.key === 'single')!;
  close(single.accuracy.mean, 0.75);
  close(single.accuracy.sd, 0.25);
  // t(0.975, 2) = 4.303: 0.75 ± 4.303 · 0.25 / √3 = 0.75 ± 0.62108, clipped to [0, 1]
  close(single.accuracy.lo, 0.75 - (4.303 * 0.25) / Math.sqrt(3));
  assert.equal(single.accuracy.hi, 1);
  // wrong [0,1,2] = one image of each class: balanced accuracy 0.75 as well; normal sensitivity 1, 0.75, 0.5
  close(single.balanced_accuracy.mean, 0.75);
  close(single.sensitivity.normal.mean, 0.75);
  assert.deepEqual(single.sensitivity.normal.values, [1, 0.75, 0.5]);
  // PPV of pneumonia in seed 2: 3 right + 1 normal called pneumonia = 3/4
  close(single.ppv.pneumonia.values[1]!, 3 / 4);
  const siamese = s.configs.find((c) => c.key === 'siamese')!;
  close(siamese.accuracy.mean, 11 / 12);
  close(siamese.accuracy.sd, 0);
  // per source: nih holds images 0–5; single seed 3 gets all of them wrong
  const nih = single.by_source.find((x) => x.source === 'nih')!;
  assert.equal(nih.support, 6);
  assert.deepEqual(nih.accuracy.values, [1, 0.5, 0]);
  const cohen = single.by_source.find((x) => x.source === 'cohen')!;
  assert.deepEqual(cohen.accuracy.values, [1, 1, 1]);
  // the paired comparison: siamese − single, one pair per seed, McNemar per pair
  assert.equal(s.comparisons.length, 1);
  const c = s.comparisons[0]!;
  assert.deepEqual([c.a, c.b], ['siamese', 'single']);
  // balanced accuracy: siamese 1 − (1/4)/3 per seed; single 1, 0.75, 0.5
  close(c.difference.difference, 11 / 12 - 0.75);
  assert.deepEqual(c.mcnemar.map((m) => [m.b, m.c]), [[0, 1], [2, 0], [5, 0]]);
  close(c.mcnemar[2]!.p, 2 / 32);
  assert.equal(c.mcnemar_significant, 0);
  assert.match(c.reading, /siamese − single/);
});

test('learning-curve configurations are ordered by size, all last', () => {
  const sized = (net: string, perClass: number | null, n: number): CellResult => ({ ...cell(net, 1, []), id: `${net}/n-${perClass}`, perClass, trainCounts: { normal: n, pneumonia: n, 'COVID-19': n } });
  const s = summariseExperiment([sized('single', null, 150), sized('single', 5, 5), sized('siamese', 5, 5), sized('single', 20, 20)], { replicates: 50 });
  assert.deepEqual(s.configs.map((c) => c.key), ['single@5', 'siamese@5', 'single@20', 'single']);
  assert.deepEqual(s.configs.map((c) => c.trainPerClass), [5, 5, 20, 150]);
  assert.deepEqual(s.sizes, [5, 20, null]);
  assert.deepEqual(s.comparisons.map((c) => c.perClass), [5]);
});
