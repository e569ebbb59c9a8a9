/**
 * The training-time fusion is scoped (withTrainingFusion: patched prototypes only inside, restored
 * after, also on error and when nested), inference is bit-identical with and without it, and the
 * in-place native Adam never changes an array that was handed out (dataSync) nor memory a slice
 * view shares. Skips the onednn parts without the addon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { covidNet, siameseCovidNet, disposeModel } from '../model/covidnet.js';
import { createRng } from '../util/rng.js';
import { initBackend, trainingFusionActive, withTrainingFusion } from './index.js';
import { loadAddon } from './native.js';
import { OnednnBackend } from './onednn.js';

const load = loadAddon();
const skip = load.ok ? false : `native addon not available (${load.error}); build it with \`make native\``;

type Proto = Record<string, unknown>;
const layerProto = (name: string): Proto =>
  (tf.serialization.SerializationMap.getMap().classNameMap[name]![0] as unknown as { prototype: Proto }).prototype;
const patchedMethods = (): unknown[] => [
  layerProto('Conv2D')['call'], layerProto('DepthwiseConv2D')['call'], layerProto('Add')['mergeFunction'],
  (tf.AdamOptimizer.prototype as unknown as Proto)['applyGradients'],
];

function randomBatch(shape: number[], seed: number): tf.Tensor {
  const rng = createRng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
}

test('withTrainingFusion patches only inside its scope (nested, on error, restored after)', async () => {
  const originals = patchedMethods();
  assert.equal(trainingFusionActive(), false);
  const inside = await withTrainingFusion(async () => {
    assert.equal(trainingFusionActive(), true);
    const patched = patchedMethods();
    patched.forEach((m, i) => assert.notEqual(m, originals[i], `method ${i} patched`));
    await withTrainingFusion(() => {
      assert.deepEqual(patchedMethods(), patched, 'nested: the same patches');
    });
    assert.deepEqual(patchedMethods(), patched, 'still patched after the inner scope');
    return 42;
  });
  assert.equal(inside, 42);
  assert.deepEqual(patchedMethods(), originals, 'restored');
  assert.equal(trainingFusionActive(), false);
  await assert.rejects(withTrainingFusion(async () => {
    assert.equal(trainingFusionActive(), true);
    throw new Error('boom');
  }), /boom/);
  assert.deepEqual(patchedMethods(), originals, 'restored after an error');
  // overlapping (not nested) scopes: patched until the last one ends
  let release!: () => void;
  const a = withTrainingFusion(() => new Promise<void>((r) => { release = r; }));
  const b = withTrainingFusion(async () => {});
  await b;
  assert.equal(trainingFusionActive(), true, 'a is still running');
  release();
  await a;
  assert.deepEqual(patchedMethods(), originals);
});

test('initBackend alone installs no fusion', { skip }, async () => {
  const originals = patchedMethods();
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 1 });
  assert.deepEqual(patchedMethods(), originals);
  assert.equal(trainingFusionActive(), false);
  await tf.setBackend('cpu');
});

test('inference is bit-identical with and without the fusion (single and siamese)', { skip }, async () => {
  await initBackend({ backend: 'onednn', purpose: 'infer', threads: 2 });
  const single = covidNet({ size: 48, width: 8, fc: 16, seed: 3 });
  const siamese = siameseCovidNet({ size: 32, width: 4, fc: 8, seed: 5 });
  const x = randomBatch([3, 48, 48, 1], 1), xa = randomBatch([2, 32, 32, 1], 2), xb = randomBatch([2, 32, 32, 1], 3);
  const run = (): Float32Array[] => tf.tidy(() => [
    Float32Array.from((single.predict(x) as tf.Tensor).dataSync()),
    Float32Array.from((siamese.predict([xa, xb]) as tf.Tensor).dataSync()),
  ]);
  const off = run();
  const on = await withTrainingFusion(() => run());
  assert.deepEqual(on, off);
  single.dispose();
  disposeModel(siamese);
  tf.dispose([x, xa, xb]);
  await tf.setBackend('cpu');
});

test('the fused training path runs only inside the scope', { skip }, async () => {
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 1 });
  const model = covidNet({ size: 32, width: 4, fc: 8, seed: 7, dropout: [0, 0, 0] });
  const x = randomBatch([2, 32, 32, 1], 4);
  const gradKernelRuns = async (): Promise<number> => {
    const info = await tf.profile(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    return info.kernels.filter((k) => k.name === 'CovidnetConvBiasReluGrad').length;
  };
  assert.equal(await gradKernelRuns(), 0, 'outside: standard TF.js gradients');
  assert.ok((await withTrainingFusion(gradKernelRuns)) > 0, 'inside: the fused conv gradient');
  assert.equal(await gradKernelRuns(), 0, 'after: standard again');
  model.dispose();
  x.dispose();
  await tf.setBackend('cpu');
});

test('running skip sums: add(o1, o2, ul) reuses add(o1, ul); values and gradients as the plain Adds', { skip }, async () => {
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 1 });
  // a stage as COVID-Net builds it: each module input sums every earlier output and the shortcut
  const input = tf.input({ shape: [4, 4, 3] });
  const ul = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false, name: 'ul' }).apply(input) as tf.SymbolicTensor;
  const o1 = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false, name: 'o1' }).apply(ul) as tf.SymbolicTensor;
  const s1 = tf.layers.add().apply([o1, ul]) as tf.SymbolicTensor;
  const o2 = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false, name: 'o2' }).apply(s1) as tf.SymbolicTensor;
  const s2 = tf.layers.add().apply([o1, o2, ul]) as tf.SymbolicTensor;
  const o3 = tf.layers.conv2d({ filters: 3, kernelSize: 1, useBias: false, name: 'o3' }).apply(s2) as tf.SymbolicTensor;
  const s3 = tf.layers.add().apply([o1, o2, o3, ul]) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: s3 });
  const x = randomBatch([2, 4, 4, 3], 9);
  const weights = tf.tidy(() => tf.reshape(tf.range(0, 96), [2, 4, 4, 3]));
  const run = (): { y: Float32Array; g: Float32Array[]; forwardAdds: number } => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, weights)) as tf.Scalar);
    // the forward's add kernels, counted
    let forwardAdds = 0;
    const engine = tf.engine();
    const orig = engine.runKernel.bind(engine);
    engine.runKernel = ((name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) => {
      if (name === 'AddN' || name === 'Add') forwardAdds++;
      return orig(name, inputs, attrs);
    }) as typeof engine.runKernel;
    let y: tf.Tensor;
    try {
      y = model.apply(x, { training: true }) as tf.Tensor;
    } finally {
      engine.runKernel = orig;
    }
    const out = { y: Float32Array.from(y.dataSync()), g: Object.keys(grads).sort().map((k) => Float32Array.from(grads[k]!.dataSync())), forwardAdds };
    tf.dispose([value, y, ...Object.values(grads)]);
    return out;
  };
  const plain = run();
  const fused = await withTrainingFusion(run);
  const close = (a: Float32Array, b: Float32Array): boolean => a.every((v, i) => Math.abs(v - b[i]!) <= 1e-5 * (1 + Math.abs(b[i]!)));
  assert.ok(close(fused.y, plain.y), 'forward values');
  assert.equal(fused.g.length, plain.g.length);
  fused.g.forEach((g, i) => assert.ok(close(g, plain.g[i]!), `gradient ${i}`));
  // plain: 1 + 2 + 3 binary adds; running sums: s1 = o1 + ul, s2 = s1 + o2, s3 = s2 + o3
  assert.equal(plain.forwardAdds, 6);
  assert.equal(fused.forwardAdds, 3);
  weights.dispose();
  model.dispose();
  x.dispose();
  await tf.setBackend('cpu');
});

test('in-place Adam leaves arrays handed out by dataSync unchanged, and updates in place otherwise', { skip }, async () => {
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 1 });
  const backend = tf.backend() as OnednnBackend;
  assert.ok(backend instanceof OnednnBackend);
  const storage = (t: tf.Tensor): unknown => backend.data.get(t.dataId).values;
  await withTrainingFusion(async () => {
    const init = randomBatch([64, 64], 5);
    const w = tf.variable(init);
    init.dispose();
    const opt = tf.train.adam(0.1);
    const loss = (): tf.Scalar => tf.sum(tf.square(w));
    opt.minimize(loss);
    // a weight array and the optimizer's moments handed out, then a step
    const held = w.dataSync() as Float32Array;
    const heldCopy = Float32Array.from(held);
    const moments = (await opt.getWeights()).slice(1).map((nt) => nt.tensor.dataSync() as Float32Array);
    const momentCopies = moments.map((m) => Float32Array.from(m));
    opt.minimize(loss);
    assert.deepEqual(held, heldCopy, 'the array from dataSync kept its values');
    moments.forEach((m, i) => assert.deepEqual(m, momentCopies[i], `optimizer moment ${i} kept its values`));
    // (read without handing out: the backend's storage itself)
    const after = Float32Array.from(storage(w) as Float32Array);
    assert.notDeepEqual(after, heldCopy, 'the variable moved');
    // nothing handed out since: the next steps update the same storage in place
    const before = storage(w);
    opt.minimize(loss);
    opt.minimize(loss);
    assert.equal(storage(w), before, 'updated in place');
    assert.notDeepEqual(Float32Array.from(storage(w) as Float32Array), after);
    opt.dispose();
    w.dispose();
  });
  await tf.setBackend('cpu');
});

test('native Adam matches TF.js Adam step for step when arrays are handed out each step', { skip }, async () => {
  const steps = async (backend: string, scoped: boolean): Promise<Float32Array[]> => {
    await tf.setBackend(backend);
    const run = async (): Promise<Float32Array[]> => {
      const w = tf.variable(randomBatch([300], 6));
      const opt = tf.train.adam(0.05);
      const out: Float32Array[] = [];
      for (let i = 0; i < 4; i++) {
        opt.minimize(() => tf.sum(tf.mul(tf.square(w), tf.linspace(0.5, 2, 300))));
        out.push(Float32Array.from(w.dataSync())); // handed out every step: copy-on-write each time
      }
      opt.dispose();
      w.dispose();
      return out;
    };
    return scoped ? withTrainingFusion(run) : run();
  };
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 1 });
  const native = await steps('onednn', true);
  const ref = await steps('cpu', false);
  native.forEach((v, i) => {
    for (let j = 0; j < v.length; j++) assert.ok(Math.abs(v[j]! - ref[i]![j]!) <= 1e-5 * (1 + Math.abs(ref[i]![j]!)), `step ${i} element ${j}`);
  });
  await tf.setBackend('cpu');
});

test('recycled arrays: a slice view outlives its source unchanged', { skip }, async () => {
  await initBackend({ backend: 'onednn', purpose: 'train', threads: 1 });
  // the cpu Slice kernel returns a subarray of its input: the input's array must not be recycled
  const y = tf.tidy(() => tf.slice(tf.relu(randomBatch([4, 1024], 8)), [0, 0], [2, 1024]));
  const expected = tf.tidy(() => Float32Array.from(tf.slice(tf.relu(randomBatch([4, 1024], 8)), [0, 0], [2, 1024]).dataSync()));
  for (let i = 0; i < 3; i++) tf.tidy(() => tf.neg(tf.relu(randomBatch([4, 1024], 9 + i))));
  assert.deepEqual(Float32Array.from(y.dataSync()), expected);
  y.dispose();
  await tf.setBackend('cpu');
});
