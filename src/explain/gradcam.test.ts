import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { covidNet, siameseCovidNet } from '../model/covidnet.js';
import { templateSimilarity } from '../model/infer.js';
import { GradCam, layerChain } from './gradcam.js';

const SIZE = 64;
const cfg = { size: SIZE, width: 8, fc: 16, seed: 3 };

function inputs(n: number): tf.Tensor4D {
  return tf.randomNormal([n, SIZE, SIZE, 1], 0, 1, 'float32', 11) as tf.Tensor4D;
}

test('single net: Grad-CAM shapes, non-negative maps, predicted class by default, no leaked tensors', async () => {
  await tf.setBackend('cpu');
  const model = covidNet(cfg);
  const x = inputs(3);
  const before = tf.memory().numTensors;
  const cam = GradCam.single(model);
  assert.equal(cam.grid, SIZE / 32);
  assert.equal(cam.size, SIZE);
  const res = cam.compute(x, { method: 'gradcam' });
  assert.equal(res.length, 3);
  const probs = tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][]);
  for (const [i, r] of res.entries()) {
    assert.equal(r.cam.length, cam.grid * cam.grid);
    assert.ok(r.cam.every((v) => v >= 0 && Number.isFinite(v)));
    assert.equal(r.target, r.predicted);
    // the split model (features → head chain) reproduces the full model's probabilities
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(r.scores[k]! - probs[i]![k]!) < 1e-5);
  }
  const forced = cam.compute(x, { target: 'COVID-19', method: 'gradcam' });
  assert.ok(forced.every((r) => r.target === 'COVID-19'));
  cam.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});

test('single net: gradient of the target logit w.r.t. feature_sum has the feature shape', () => {
  const model = covidNet(cfg);
  const feat = model.getLayer('feature_sum');
  const chain = layerChain(feat, 'logits');
  assert.deepEqual(chain.map((l) => l.name), ['flatten', 'dropout1', 'fc1', 'dropout2', 'fc2', 'dropout3', 'logits']);
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const fm = tf.model({ inputs: model.inputs, outputs: feat.output as tf.SymbolicTensor });
    const a = fm.predict(inputs(2)) as tf.Tensor4D;
    const g = tf.grad((t: tf.Tensor) => {
      let h = t;
      for (const l of chain) h = l.apply(h) as tf.Tensor;
      return tf.sum(tf.slice(h, [0, 1], [-1, 1]));
    })(a);
    assert.deepEqual(g.shape, a.shape);
    assert.deepEqual(a.shape, [2, SIZE / 32, SIZE / 32, 8 * cfg.width]);
  });
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('siamese net: Grad-CAM against class templates, contrast option, no leaked tensors', () => {
  const model = siameseCovidNet(cfg);
  const x = inputs(2);
  const encoder = model.getLayer('encoder') as unknown as tf.LayersModel;
  const emb = encoder.predict(inputs(6)) as tf.Tensor2D;
  const e = emb.arraySync();
  emb.dispose();
  const templates = [e.slice(0, 2), e.slice(2, 4), e.slice(4, 6)].map((rows) => rows[0]!.map((v, j) => (v + rows[1]![j]!) / 2));
  const before = tf.memory().numTensors;
  const cam = GradCam.siamese(model, templates);
  const res = cam.compute(x, { method: 'gradcam' });
  for (const r of res) {
    assert.equal(r.cam.length, cam.grid * cam.grid);
    assert.ok(r.cam.every((v) => v >= 0 && Number.isFinite(v)));
    assert.ok(r.scores.every((s) => s >= 0 && s <= 1));
    assert.equal(r.score, Math.max(...r.scores)); // predicted = most similar template
  }
  // the scores Grad-CAM differentiates are the run's template similarities (1 − P(different))
  const ex = tf.tidy(() => (encoder.predict(x) as tf.Tensor2D).arraySync());
  const sim = templateSimilarity(model, ex.map((r) => Float32Array.from(r)), templates);
  res.forEach((r, i) => r.scores.forEach((v, j) => assert.ok(Math.abs(v - sim[i]![j]!) < 1e-5, `${v} vs ${sim[i]![j]}`)));
  const c = cam.compute(x, { target: 'normal', contrast: 'COVID-19' });
  assert.ok(c.every((r) => r.target === 'normal'));
  cam.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});

test('perturbation maps: default insertion on an 8×8 grid, the runner-up named for margins, flat maps flagged, no leaked tensors', () => {
  const model = covidNet(cfg);
  const x = inputs(2);
  const before = tf.memory().numTensors;
  const cam = GradCam.single(model);
  const ins = cam.compute(x);
  const occ = cam.compute(x, { method: 'occlusion', score: 'margin', cells: 4 });
  for (const r of ins) {
    assert.equal(r.method, 'insertion');
    assert.equal(r.grid, 8);
    assert.equal(r.stride, SIZE / 8);
    assert.equal(r.cam.length, 64);
    assert.equal(r.score_kind, 'class');
    assert.equal(r.versus, null);
    assert.equal(r.flat, !r.cam.some((v) => v > 0));
    assert.ok(r.cam.every((v) => v >= 0 && Number.isFinite(v)));
  }
  for (const r of occ) {
    assert.equal(r.grid, 4);
    assert.ok(r.versus !== null && r.versus !== r.target);
  }
  // Grad-CAM of the margin names the runner-up; of the class alone, nothing
  const g = cam.compute(x, { method: 'gradcam', score: 'class' });
  assert.ok(g.every((r) => r.versus === null && r.score_kind === 'class'));
  cam.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});
