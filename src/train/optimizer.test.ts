import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { getAdamState, setAdamState } from './optimizer.js';

test('Adam state round trip continues bit-identically', async () => {
  const before = tf.memory().numTensors;
  const target = tf.tensor1d([1, -2, 3]);
  const run = (v: tf.Variable, opt: tf.AdamOptimizer, n: number) => {
    for (let i = 0; i < n; i++) {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.sub(v, target))) as tf.Scalar, [v]);
      opt.applyGradients([{ name: v.name, tensor: grads[v.name]! }]);
      tf.dispose([value, grads]);
    }
  };
  const z = tf.zeros([3]);
  const a = tf.variable(z);
  const optA = tf.train.adam(0.1);
  run(a, optA, 5);
  const state = await getAdamState(optA);
  const ac = a.clone();
  const b = tf.variable(ac);
  const optB = tf.train.adam(0.1);
  await setAdamState(optB, state);
  run(a, optA, 7);
  run(b, optB, 7);
  assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
  assert.equal(optB.iterations, optA.iterations);
  optA.dispose();
  optB.dispose();
  tf.dispose([a, b, target, z, ac]);
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');
});
