import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapF1, computeMetrics, F1_BOOTSTRAP_REPLICATES, isBootstrapInterval, wilson } from './metrics.js';
import { formatMetrics } from './format.js';
import { CLASSES } from '../types.js';

const close = (a: number, b: number, eps = 5e-4) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

test('Wilson intervals match textbook values', () => {
  const a = wilson(0, 10);
  close(a.lo, 0);
  close(a.hi, 0.2775);
  const b = wilson(5, 10);
  close(b.lo, 0.2366);
  close(b.hi, 0.7634);
  const c = wilson(10, 10);
  close(c.hi, 1);
  close(c.lo, 0.7225);
  assert.ok(Number.isNaN(wilson(0, 0).value));
});

test('confusion rows are true classes; balanced accuracy is the mean sensitivity', () => {
  // 8 normal (7 right), 4 pneumonia (2 right, 2 → COVID), 2 COVID (1 right, 1 → pneumonia)
  const truth = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2];
  const pred = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 1];
  const m = computeMetrics(truth, pred, CLASSES);
  assert.deepEqual(m.confusion, [[7, 1, 0], [0, 2, 2], [0, 1, 1]]);
  close(m.accuracy.value, 10 / 14);
  close(m.balanced_accuracy, (7 / 8 + 2 / 4 + 1 / 2) / 3);
  const covid = m.per_class['COVID-19']!;
  assert.equal(covid.support, 2);
  close(covid.sensitivity.value, 0.5);
  close(covid.ppv.value, 1 / 3);
  close(covid.specificity.value, 10 / 12);
  close(covid.f1.value, (2 * 1) / (2 * 1 + 2 + 1));
  assert.deepEqual(m.confusion_normalized[1], [0, 0.5, 0.5]);
  const text = formatMetrics(m);
  assert.match(text, /balanced accuracy/);
  assert.match(text, /rows: true class/);
  // accuracy and balanced accuracy can rank two classifiers differently (the study's 87% vs 81%)
  const other = computeMetrics(truth, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0], CLASSES);
  assert.ok(other.accuracy.value > m.accuracy.value);
  assert.ok(other.balanced_accuracy < m.balanced_accuracy + 0.2);
});

test('F1 interval: seeded percentile bootstrap over the predictions; old Wilson F1 files still format', () => {
  const truth = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2];
  const pred = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 1];
  const m = computeMetrics(truth, pred, CLASSES, { seed: 7 });
  const again = computeMetrics(truth, pred, CLASSES, { seed: 7 });
  const other = computeMetrics(truth, pred, CLASSES, { seed: 8 });
  for (const c of CLASSES) {
    const f = m.per_class[c]!.f1;
    assert.ok(isBootstrapInterval(f));
    assert.deepEqual(f, again.per_class[c]!.f1, 'same seed, same interval');
    assert.equal(f.value, other.per_class[c]!.f1.value);
    assert.ok(f.lo <= f.value && f.value <= f.hi && f.lo >= 0 && f.hi <= 1, `${c}: ${JSON.stringify(f)}`);
    assert.deepEqual([f.replicates, f.seed], [F1_BOOTSTRAP_REPLICATES, 7]);
  }
  // the proportions keep their Wilson intervals
  assert.deepEqual(m.per_class['normal']!.sensitivity, wilson(7, 8));
  // a perfect classifier: every resample has F1 = 1
  const perfect = bootstrapF1([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], 3, { seed: 1, replicates: 200 });
  assert.deepEqual(perfect.map((f) => [f.value, f.lo, f.hi]), [[1, 1, 1], [1, 1, 1], [1, 1, 1]]);
  // a class never true nor predicted has no F1 (0/0)
  const absent = bootstrapF1([0, 1, 0], [0, 1, 1], 3, { replicates: 50 });
  assert.ok(Number.isNaN(absent[2]!.value) && Number.isNaN(absent[2]!.lo));
  assert.match(formatMetrics(m), /F1: percentile bootstrap, 2000 resamples of the 14 predictions, seed 7/);
  // an evaluation file written before the bootstrap (Wilson's interval on the F1 ratio) still prints
  const old = { ...m, per_class: Object.fromEntries(CLASSES.map((c) => [c, { ...m.per_class[c]!, f1: wilson(2, 5) }])) };
  assert.match(formatMetrics(old), /F1: Wilson on 2TP\/\(2TP\+FP\+FN\), an approximation/);
});
