import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { covidNet, siameseCovidNet, siameseParts, probabilityDifferent, logitDifferent, assertModelInput, validateModelConfig, disposeModel } from './index.js';

// Parameter counts of the PyTorch mirror of the network (docs/performance.md), computed with it.
const MIRROR = [
  { cfg: { size: 224, width: 128, fc: 1024 }, single: 59_562_931 },
  { cfg: { size: 112, width: 32, fc: 256 }, single: 1_175_307, siamese: 1_174_793 },
  { cfg: { size: 64, width: 8, fc: 16 }, single: 53_857, siamese: 53_343 },
];

test('parameter counts match the PyTorch mirror', () => {
  for (const m of MIRROR) {
    const single = covidNet(m.cfg);
    assert.equal(single.countParams(), m.single, `single ${JSON.stringify(m.cfg)}`);
    single.dispose();
    if (m.siamese !== undefined) {
      const s = siameseCovidNet(m.cfg);
      assert.equal(s.countParams(), m.siamese, `siamese ${JSON.stringify(m.cfg)}`);
      disposeModel(s);
    }
  }
});

test('stage shapes and named layers', () => {
  const m = covidNet({ size: 64, width: 8, fc: 16, seed: 1 });
  const shape = (n: string) => m.getLayer(n).outputShape;
  assert.deepEqual(shape('stem/conv'), [null, 32, 32, 64]);
  assert.deepEqual(shape('stage1/pepx1/expand'), [null, 32, 32, 48]);
  assert.deepEqual(shape('stage1/pepx1/pool'), [null, 16, 16, 8]);
  assert.deepEqual(shape('stage2/pepx3/expand'), [null, 8, 8, 12]);
  assert.deepEqual(shape('stage3/pepx6/extend'), [null, 4, 4, 32]);
  assert.deepEqual(shape('feature_sum'), [null, 2, 2, 64]);
  assert.deepEqual(shape('fc2'), [null, 256]);
  assert.deepEqual(shape('logits'), [null, 3]);
  assert.deepEqual(shape('probs'), [null, 3]);
  m.dispose();
});

test('seeded initialisation is reproducible and biases start at zero', () => {
  const a = covidNet({ size: 32, width: 4, fc: 8, seed: 3 });
  const b = covidNet({ size: 32, width: 4, fc: 8, seed: 3 });
  const wa = a.getLayer('stem/conv').getWeights();
  const wb = b.getLayer('stem/conv').getWeights();
  assert.deepEqual(wa[0]!.dataSync(), wb[0]!.dataSync());
  assert.ok(wa[1]!.dataSync().every((v) => v === 0));
  // distinct layers get distinct seeds
  const k1 = a.getLayer('stage1/pepx2/project1').getWeights()[0]!.dataSync();
  const k2 = a.getLayer('stage1/pepx3/project1').getWeights()[0]!.dataSync();
  assert.notDeepEqual(Array.from(k1), Array.from(k2));
  a.dispose();
  b.dispose();
});

test('siamese model: shared encoder, output in (0,1), serialization round trip', async () => {
  const before = tf.memory().numTensors;
  const m = siameseCovidNet({ size: 32, width: 4, fc: 8, seed: 5 });
  const x = tf.randomNormal([2, 32, 32, 1], 0, 1, 'float32', 1);
  const y = tf.randomNormal([2, 32, 32, 1], 0, 1, 'float32', 2);
  const out = m.predict([x, y]) as tf.Tensor;
  const same = m.predict([x, x]) as tf.Tensor;
  assert.deepEqual(out.shape, [2, 1]);
  for (const v of out.dataSync()) assert.ok(v > 0 && v < 1);
  // identical inputs: |a-b| = 0, so the output is sigmoid(bias) = 0.5 at initialisation
  for (const v of same.dataSync()) assert.ok(Math.abs(v - 0.5) < 1e-6);

  let saved: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved!));
  const out2 = loaded.predict([x, y]) as tf.Tensor;
  assert.deepEqual(Array.from(out2.dataSync()), Array.from(out.dataSync()));

  const { encoder, distance } = siameseParts(loaded);
  const e = encoder.predict(x) as tf.Tensor2D;
  const t = tf.tidy(() => tf.mean(encoder.predict(y) as tf.Tensor2D, 0)) as tf.Tensor1D;
  // P(different) of each embedding to one template
  const d = tf.tidy(() => tf.reshape(probabilityDifferent(distance, e, tf.expandDims(t, 0)), [-1]));
  assert.deepEqual(d.shape, [2]);
  // the logit Grad-CAM differentiates is the same head before its sigmoid
  const viaLogit = tf.tidy(() => tf.sigmoid(logitDifferent(distance, e, tf.expandDims(t, 0))).dataSync());
  d.dataSync().forEach((v, i) => assert.ok(Math.abs(v - viaLogit[i]!) < 1e-6, `${v} vs ${viaLogit[i]}`));
  tf.dispose([x, y, out, same, out2, e, t, d]);
  disposeModel(m);
  disposeModel(loaded);
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');
});

test('model options and inputs are checked', () => {
  assert.throws(() => validateModelConfig({ width: 6 }), /width: expected a multiple of 4/);
  assert.throws(() => validateModelConfig({ size: 16 }), /size/);
  assert.throws(() => assertModelInput(new Float32Array(4).fill(200), 2), { code: 'E_INPUT_RANGE' });
  assert.throws(() => assertModelInput(new Float32Array(3), 2), { code: 'E_INPUT_RANGE' });
  assertModelInput(new Float32Array([0.1, -1.2, 2, 0]), 2);
});
