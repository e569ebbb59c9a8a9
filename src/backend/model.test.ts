/**
 * The whole network on `onednn` against `cpu` (same weights, same batch: loss and every gradient
 * agree), the fused training path included, and a short training on generated data converges.
 * Skips without the addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { relErr } from './testing.js';
import { createRng } from '../util/rng.js';
import { covidNet, siameseCovidNet, disposeModel } from '../model/covidnet.js';
import { initBackend, withTrainingFusion } from './index.js';
import { loadAddon } from './native.js';

const load = loadAddon();
const skip = load.ok ? false : `native addon not available (${load.error}); build it with \`make native\``;
const TOL = 1e-4;

function randomBatch(shape: number[], seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
}

/** Loss and gradients of every trainable weight (no dropout, so both backends see the same net). */
function lossAndGrads(model: tf.LayersModel, xs: Float32Array[], shape: number[], target: tf.Tensor): { loss: number; grads: Map<string, Float32Array> } {
  const inputs = xs.map((x) => tf.tensor(x, shape));
  const { value, grads } = tf.variableGrads(() => {
    const y = model.apply(inputs.length === 1 ? inputs[0]! : inputs, { training: false }) as tf.Tensor;
    return tf.mean(y.shape[1] === 3 ? tf.metrics.categoricalCrossentropy(target, y) : tf.metrics.binaryCrossentropy(target, y)) as tf.Scalar;
  });
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(k, Float32Array.from(g.dataSync()));
  const loss = value.dataSync()[0]!;
  tf.dispose([...inputs, value, ...Object.values(grads)]);
  return { loss, grads: out };
}

function compareBackends(model: tf.LayersModel, xs: Float32Array[], shape: number[], targetValues: number[][]): void {
  tf.setBackend('cpu');
  const before = tf.memory().numTensors;
  const tCpu = tf.tensor2d(targetValues);
  const ref = lossAndGrads(model, xs, shape, tCpu);
  tCpu.dispose();
  tf.setBackend('onednn');
  const tOne = tf.tensor2d(targetValues);
  const got = lossAndGrads(model, xs, shape, tOne);
  tOne.dispose();
  assert.ok(Math.abs(got.loss - ref.loss) <= TOL * Math.abs(ref.loss), `loss ${got.loss} vs ${ref.loss}`);
  assert.equal(got.grads.size, ref.grads.size);
  assert.equal(got.grads.size, model.trainableWeights.length);
  for (const [name, g] of ref.grads) {
    const e = relErr(got.grads.get(name)!, g);
    assert.ok(e <= TOL, `gradient of ${name}: relative error ${e.toExponential(2)}`);
  }
  tf.setBackend('cpu');
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
}

// The fused training path is on as in covidnet's training (withTrainingFusion).
test('whole model on onednn vs cpu', { skip }, (tt) => withTrainingFusion(async () => {
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 2 });
  await tf.setBackend('cpu');

  await tt.test('single COVID-Net: loss and all gradients agree', () => {
    const size = 32, batch = 3;
    const model = covidNet({ size, width: 4, fc: 8, seed: 5 });
    const shape = [batch, size, size, 1];
    compareBackends(model, [randomBatch(shape, 1)], shape, [[1, 0, 0], [0, 0, 1], [0, 1, 0]]);
    model.dispose();
  });

  await tt.test('siamese COVID-Net: loss and all gradients agree', () => {
    const size = 32, batch = 2;
    const model = siameseCovidNet({ size, width: 4, fc: 8, seed: 9 });
    const shape = [batch, size, size, 1];
    compareBackends(model, [randomBatch(shape, 2), randomBatch(shape, 3)], shape, [[1], [0]]);
    disposeModel(model);
  });

  await tt.test('a short training on generated data converges (and the native Adam matches cpu)', () => {
    // Class = where a bright square sits (left, centre, right): learnable in a few dozen steps.
    const size = 32, n = 12, rng = createRng(4);
    const x = new Float32Array(n * size * size);
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      const cls = i % 3;
      labels.push(cls);
      for (let p = 0; p < size * size; p++) x[i * size * size + p] = rng.normal() * 0.3;
      const c0 = 4 + cls * 10, r0 = 12;
      for (let r = r0; r < r0 + 8; r++) for (let c = c0; c < c0 + 8; c++) x[i * size * size + r * size + c] += 2;
    }
    const train = (backend: string, steps: number): number[] => {
      tf.setBackend(backend);
      const model = covidNet({ size, width: 4, fc: 16, seed: 11, dropout: [0, 0, 0] });
      const xs = tf.tensor4d(x, [n, size, size, 1]);
      const ys = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), 3), 'float32'));
      const opt = tf.train.adam(3e-3);
      const losses: number[] = [];
      for (let step = 0; step < steps; step++) {
        const loss = opt.minimize(() => tf.mean(tf.metrics.categoricalCrossentropy(ys, model.apply(xs, { training: true }) as tf.Tensor)) as tf.Scalar, true)!;
        losses.push(loss.dataSync()[0]!);
        loss.dispose();
      }
      opt.dispose();
      tf.dispose([xs, ys]);
      model.dispose();
      return losses;
    };
    const native = train('onednn', 40);
    const ref = train('cpu', 2);
    assert.ok(native.every(Number.isFinite));
    assert.ok(native.at(-1)! < 0.3 * native[0]!, `loss ${native[0]} → ${native.at(-1)}`);
    // Same math step by step: the first steps match the cpu backend closely.
    for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(native[i]! - ref[i]!) <= 1e-3 * Math.abs(ref[i]!), `step ${i}: ${native[i]} vs ${ref[i]}`);
  });
}));
