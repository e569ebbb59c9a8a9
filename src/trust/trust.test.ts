/** The trust maths on generated numbers: Gaussians, detector, calibration, ROC, operating points. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../util/rng.js';
import { isCovidNetError } from '../errors.js';
import { cholesky, fitSharedGaussian, mahalanobis, packedIndex } from './gaussian.js';
import { fitOodDetector, OodDetector, parseOodFile, energy } from './detector.js';
import { calibrationError, Calibrator, eceInterval, fitCalibration, fitSimilarityLogistic, fitTemperature, parseCalibrationFile, similarityProbabilities } from './calibration.js';
import { auroc, aurocInterval, chooseThreshold, parseOperatingPoint, rocCurve } from './roc.js';
import { acceptanceThreshold, robustScale, softmax } from './stats.js';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('Cholesky and whitened distances match the inverse on a small matrix', () => {
  const A = Float64Array.from([4, 2, 0.4, 2, 3, 0.5, 0.4, 0.5, 2]);
  const L = cholesky(A, 3);
  // L Lᵀ = A
  for (let i = 0; i < 3; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let p = 0; p <= j; p++) s += L[packedIndex(i, p)]! * L[packedIndex(j, p)]!;
    close(s, A[i * 3 + j]!, 1e-12, `LLᵀ[${i},${j}]`);
  }
  assert.throws(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2), /positive definite/);
});

test('shared Gaussian: means per class, shrinkage in [0, 1], dead units and few images stay finite', () => {
  const rng = createRng(3);
  const d = 40;
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 30; i++) {
    const c = i % 3;
    // 10 dead units (always 0), like ReLU units no training image activates
    rows.push(Float32Array.from({ length: d }, (_, j) => (j < 10 ? 0 : c * 2 + rng.normal())));
    labels.push(c);
  }
  const g = fitSharedGaussian(rows, labels, 3);
  assert.deepEqual(g.classes, [0, 1, 2]);
  assert.ok(g.shrinkage > 0 && g.shrinkage <= 1, `shrinkage ${g.shrinkage}`);
  const near = mahalanobis(g, g.means[1]!);
  assert.equal(near.closest, 1);
  close(near.distance, 0, 1e-9);
  const far = mahalanobis(g, Float32Array.from({ length: d }, (_, j) => (j < 10 ? 5 : 30)));
  assert.ok(Number.isFinite(far.distance) && far.distance > 10, `far ${far.distance}`);
  // identical embeddings (a collapsed net): unit covariance, no crash
  const flat = fitSharedGaussian([new Float32Array(4), new Float32Array(4), new Float32Array(4)], [0, 1, 2], 3);
  assert.ok(Number.isFinite(mahalanobis(flat, [1, 0, 0, 0]).distance));
  // a class without training images has no mean
  assert.deepEqual(fitSharedGaussian(rows.slice(0, 2), [0, 2], 3).classes, [0, 2]);
});

test('detector: fitted on training rows, threshold accepts 95% of validation, far rows rejected, file round-trips', () => {
  const rng = createRng(5);
  const sample = (n: number, shift = 0) => Array.from({ length: n }, (_, i) => ({ c: i % 3, e: Float32Array.from({ length: 16 }, (_, j) => Math.max(0, (j % 3 === i % 3 ? 2 : 0) + rng.normal() + shift)), s: Float32Array.from({ length: 6 }, () => rng.normal() + shift) }));
  const train = sample(150);
  const val = sample(60);
  const logits = val.map(() => [rng.normal(), rng.normal(), rng.normal()]);
  const f = fitOodDetector({
    model: 'single',
    embeddingLayer: 'dropout3',
    train: { embeddings: train.map((t) => t.e), stem: train.map((t) => t.s), labels: train.map((t) => t.c) },
    val: { embeddings: val.map((t) => t.e), stem: val.map((t) => t.s), logits },
  });
  assert.ok(f.validation.accepted / f.validation.n >= 0.95);
  const det = new OodDetector(parseOodFile(JSON.parse(JSON.stringify(f)), { model: 'single', dim: 16 }));
  assert.deepEqual(det.signalNames, ['mahalanobis', 'energy', 'mahalanobis_stem']);
  const accepted = val.filter((v, i) => det.verdict({ embedding: v.e, stem: v.s, logits: logits[i] }).in_distribution).length;
  assert.equal(accepted, f.validation.accepted);
  const farAway = sample(20, 8).map((t) => det.verdict({ embedding: t.e, stem: t.s, logits: [0, 0, 0] }));
  assert.ok(farAway.every((v) => !v.in_distribution && v.ood_score > v.threshold), 'shifted rows accepted');
  // a NaN embedding (a broken input) is rejected, never accepted
  const nan = det.verdict({ embedding: new Float32Array(16).fill(NaN), stem: new Float32Array(6), logits: [0, 0, 0] });
  assert.equal(nan.in_distribution, false);
  close(energy([0, 0, 0]), -Math.log(3), 1e-12);
  // versions and kinds are checked
  assert.throws(() => parseOodFile({ ...f, version: 99 }, { model: 'single' }), (e: unknown) => isCovidNetError(e) && /version 99/.test(e.message));
  assert.throws(() => parseOodFile(f, { model: 'siamese' }), /single run/);
  assert.throws(() => parseOodFile(f, { model: 'single', dim: 256 }), /16-unit/);
});

test('temperature scaling recovers an over-confident temperature; ECE falls', () => {
  const rng = createRng(7);
  const logits: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const z = [rng.normal() * 2, rng.normal() * 2, rng.normal() * 2];
    const p = softmax(z);
    const u = rng.next();
    labels.push(u < p[0]! ? 0 : u < p[0]! + p[1]! ? 1 : 2);
    logits.push(z.map((v) => v * 3)); // 3× over-confident
  }
  const T = fitTemperature(logits, labels);
  close(T, 3, 0.3, 'temperature');
  const raw = logits.map((z) => softmax(z));
  const cal = fitCalibration({ model: 'single', logits, raw, labels });
  assert.equal(cal.method, 'temperature');
  assert.ok(cal.validation.ece_after! < cal.validation.ece_before!, JSON.stringify(cal.validation));
  assert.ok(cal.validation.nll_after! < cal.validation.nll_before!);
  const c = new Calibrator(parseCalibrationFile(JSON.parse(JSON.stringify(cal)), 'single'));
  const p = c.probabilities(logits[0]!);
  close(p.reduce((a, b) => a + b, 0), 1, 1e-12);
  // argmax kept
  assert.equal(p.indexOf(Math.max(...p)), logits[0]!.indexOf(Math.max(...logits[0]!)));
  const bins = calibrationError(raw, labels);
  assert.equal(bins.bins.reduce((a, b) => a + b.n, 0), 2000);
  const iv = eceInterval(raw.slice(0, 300), labels.slice(0, 300), { replicates: 200, seed: 2 });
  assert.ok(iv.lo <= iv.value && iv.value <= iv.hi, JSON.stringify(iv));
  assert.throws(() => parseCalibrationFile(cal, 'siamese'), /single run/);
});

test('similarity calibration: positive slope, probabilities sum to 1, argmax kept', () => {
  const rng = createRng(9);
  const u: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < 600; i++) {
    const c = i % 3;
    u.push([0, 1, 2].map((j) => (j === c ? 1.5 : -0.5) + 2 * rng.normal()));
    labels.push(c);
  }
  const { a, b } = fitSimilarityLogistic(u, labels);
  assert.ok(a > 0 && Number.isFinite(b), `a ${a} b ${b}`);
  const p = similarityProbabilities(u[0]!, a, b);
  close(p.reduce((x, y) => x + y, 0), 1, 1e-12);
  assert.equal(p.indexOf(Math.max(...p)), u[0]!.indexOf(Math.max(...u[0]!)));
});

test('AUROC: ranks with ties, bootstrap interval, ROC curve ends; operating points', () => {
  assert.equal(auroc([1, 2, 3, 4], [false, false, true, true]), 1);
  assert.equal(auroc([1, 2, 3, 4], [true, true, false, false]), 0);
  assert.equal(auroc([1, 1, 1, 1], [true, false, true, false]), 0.5);
  close(auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 0.75, 1e-12);
  assert.ok(Number.isNaN(auroc([1, 2], [true, true])));
  const rng = createRng(1);
  const s = Array.from({ length: 200 }, (_, i) => rng.normal() + (i % 2 ? 1 : 0));
  const pos = s.map((_, i) => i % 2 === 1);
  const iv = aurocInterval(s, pos, { seed: 3, replicates: 300 });
  assert.ok(iv.lo < iv.value && iv.value < iv.hi && iv.value > 0.6, JSON.stringify(iv));
  assert.deepEqual(aurocInterval(s, pos, { seed: 3, replicates: 300 }), iv, 'seeded');
  const roc = rocCurve(s, pos);
  assert.deepEqual([roc[0]!.fpr, roc[0]!.tpr, roc.at(-1)!.fpr, roc.at(-1)!.tpr], [0, 0, 1, 1]);

  const scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05];
  const isPos = [true, true, false, true, false, true, false, false, false, false];
  // sensitivity 0.75 of 4 positives → 3 at or above t: t = 0.6
  assert.equal(chooseThreshold(scores, isPos, { metric: 'sensitivity', target: 0.75 }), 0.6);
  const t = chooseThreshold(scores, isPos, { metric: 'specificity', target: 5 / 6 })!;
  const neg = scores.filter((_, i) => !isPos[i]);
  assert.ok(neg.filter((v) => v < t).length / neg.length >= 5 / 6);
  assert.equal(chooseThreshold(scores, isPos.map(() => false), { metric: 'sensitivity', target: 0.9 }), undefined);
  assert.deepEqual(parseOperatingPoint('COVID-19:sensitivity=0.90'), { cls: 'COVID-19', metric: 'sensitivity', target: 0.9 });
  // any well-formed class name parses; whether the run has it is checked by evaluate
  assert.deepEqual(parseOperatingPoint('flu:specificity=0.5'), { cls: 'flu', metric: 'specificity', target: 0.5 });
  assert.throws(() => parseOperatingPoint('a,b:sensitivity=0.9'), /--operating-point/);
  assert.throws(() => parseOperatingPoint('COVID-19:sensitivity=1.5'), /--operating-point/);
});

test('order statistics: acceptance threshold and robust scale', () => {
  const v = Array.from({ length: 100 }, (_, i) => i);
  assert.equal(acceptanceThreshold(v, 0.95), 94);
  assert.equal(v.filter((x) => x <= acceptanceThreshold(v, 0.95)).length, 95);
  assert.equal(acceptanceThreshold([3, NaN, 1], 1), Infinity);
  assert.equal(robustScale([2, 2, 2]), 1);
  assert.ok(robustScale(v) > 0);
});
