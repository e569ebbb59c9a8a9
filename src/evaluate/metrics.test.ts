import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeMetrics, wilson } from './metrics.js';
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
