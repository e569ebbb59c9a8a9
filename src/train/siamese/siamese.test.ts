/**
 * The contrastive recipe (docs/siamese.md) on tiny generated phantoms (size 32, width 4): the contrastive loss,
 * the model options (L2-normalised embedding, metric head), initialisation from a single-net run,
 * and the contrastive recipe end to end (templates, one-shot validation, evaluate). Seconds.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../tf.js';
import { initBackend } from '../../backend/index.js';
import { writeSynthDataset } from '../../data/index.js';
import { parseRunConfig } from '../../config.js';
import { train } from '../train.js';
import { getRecipe } from '../recipes.js';
import { evaluateRun } from '../../evaluate/evaluate.js';
import { readHistory, readTemplates } from '../../run/files.js';
import { loadRunModel } from '../../run/load.js';
import { covidEncoder, covidNet, disposeModel, siameseCovidNet, siameseParts } from '../../model/index.js';
import { allPairs, balancedBce, contrastiveBatchLoss, contrastiveLoss, CONTRASTIVE_RECIPE } from './contrastive.js';
import { copyMatchingWeights, initFromRun } from './init.js';
import { probeSiamese } from '../../workflows/diagnose.js';

let dir = '';
let data = '';
const tiny = { size: 32, width: 4, fc: 8, seed: 5 };
// the best available backend, as the other training tests (the plain cpu backend takes minutes here)
const base = () => ({ data, size: 32, width: 4, fc: 8, batch: 9, evalBatch: 16, cacheDir: join(dir, 'cache'), threads: 1, seed: 5 });

before(async () => {
  await initBackend({ purpose: 'train', threads: 1 });
  dir = await mkdtemp(join(tmpdir(), 'covidnet-siamese-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 9, imageSize: 48, seed: 3, shortcuts: false });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const close = (a: number, b: number, eps = 1e-5) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

test('allPairs: every i < j once, 1 where the classes differ', () => {
  assert.deepEqual(allPairs([0, 0, 2]), { a: [0, 0, 1], b: [1, 2, 2], different: [0, 1, 1] });
  assert.deepEqual(allPairs([1]), { a: [], b: [], different: [] });
});

test('contrastive loss: d² for same pairs, max(0, m − d)² for different, classes weighted equally', () => {
  const n = tf.memory().numTensors;
  const v = tf.tidy(() => {
    const y = tf.tensor1d([0, 1, 1, 0]);
    return [
      // same: (0.25 + 0.01) / 2 = 0.13; different: ((1 − 0.2)² + 0) / 2 = 0.32 → (0.13 + 0.32) / 2
      contrastiveLoss(tf.tensor1d([0.5, 0.2, 2, 0.1]), y).dataSync()[0]!,
      // only same pairs in the batch: the mean over them alone
      contrastiveLoss(tf.tensor1d([0.5, 0.1]), tf.tensor1d([0, 0])).dataSync()[0]!,
      balancedBce(tf.tensor1d([0.5, 0.5, 0.5, 0.5]), y).dataSync()[0]!,
      balancedBce(tf.tensor1d([0.1, 0.9, 0.9, 0.1]), y).dataSync()[0]!,
    ];
  });
  close(v[0]!, 0.225);
  close(v[1]!, 0.13);
  close(v[2]!, Math.log(2));
  close(v[3]!, -Math.log(0.9));
  assert.equal(tf.memory().numTensors, n, 'leaked tensors');
});

test('normalizeEmbedding: unit-length embeddings; metric head: non-negative kernel; defaults unchanged', () => {
  const n = tf.memory().numTensors;
  const enc = covidEncoder({ ...tiny, normalizeEmbedding: true });
  const x = tf.randomNormal([3, 32, 32, 1], 0, 1, 'float32', 1);
  const e = enc.predict(x) as tf.Tensor2D;
  const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(e), -1)).arraySync() as number[]);
  for (const v of norms) close(v, 1, 1e-4);
  assert.ok(enc.layers.some((l) => l.name === 'embedding_l2'));
  const study = siameseCovidNet(tiny);
  assert.ok(!siameseParts(study).encoder.layers.some((l) => l.name === 'embedding_l2'), 'the study model has no normalisation');
  const metric = siameseCovidNet({ ...tiny, distanceHead: 'metric' });
  assert.ok(Math.min(...(siameseParts(metric).distance.getWeights()[0]!.dataSync() as Float32Array)) >= 0);
  tf.dispose([x, e]);
  for (const m of [enc, study, metric]) disposeModel(m);
  assert.equal(tf.memory().numTensors, n, 'leaked tensors');
});

test('contrastiveBatchLoss: finite, reaches the encoder, the head only through BCE', () => {
  const n = tf.memory().numTensors;
  const model = CONTRASTIVE_RECIPE.buildModel(tiny);
  const x = tf.randomNormal([6, 32, 32, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => contrastiveBatchLoss(model, x, [0, 0, 1, 1, 2, 2]), vars);
  assert.ok(Number.isFinite(value.dataSync()[0]!));
  const g = (name: string) => tf.tidy(() => tf.sum(tf.abs(grads[vars.find((v) => v.name.includes(name))!.name]!)).dataSync()[0]!);
  assert.ok(g('fc2') > 0, 'no gradient reaches the embedding layer');
  assert.ok(g('distance') > 0, 'no gradient reaches the head');
  tf.dispose([value, x, ...Object.values(grads)]);
  disposeModel(model);
  assert.equal(tf.memory().numTensors, n, 'leaked tensors');
});

test('probeSiamese: statistics and gradient norms for both recipes, no leaks', () => {
  for (const name of ['study', 'contrastive']) {
    const recipe = getRecipe(name);
    const model = recipe.buildModel(tiny);
    const xa = tf.randomNormal([4, 32, 32, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const xb = tf.randomNormal([4, 32, 32, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const n = tf.memory().numTensors;
    const p = probeSiamese(model, recipe, xa, xb, [0, 1, 0, 1]);
    assert.equal(tf.memory().numTensors, n, `${name}: leaked tensors`);
    assert.ok(p.embedding.deadUnits >= 0 && p.embedding.deadUnits <= 1);
    assert.ok(Number.isFinite(p.logitSame.mean) && Number.isFinite(p.logitDifferent.std));
    assert.ok(p.grad.encoderWeights > 0 && p.grad.embedding >= 0);
    tf.dispose([xa, xb]);
    disposeModel(model);
  }
});

test('copyMatchingWeights: the encoder gets the single net trunk and head by layer name', () => {
  const n = tf.memory().numTensors;
  const single = covidNet({ ...tiny, seed: 11 });
  const siamese = siameseCovidNet({ ...tiny, seed: 12 });
  const copied = copyMatchingWeights(single, siamese);
  assert.ok(copied.includes('stem/conv') && copied.includes('fc2'));
  assert.ok(!copied.includes('logits') && !copied.includes('distance'));
  const a = single.getLayer('fc2').getWeights()[0]!.dataSync();
  const b = siameseParts(siamese).encoder.getLayer('fc2').getWeights()[0]!.dataSync();
  assert.deepEqual(Array.from(b), Array.from(a));
  disposeModel(single);
  disposeModel(siamese);
  assert.equal(tf.memory().numTensors, n, 'leaked tensors');
});

test('contrastive recipe end to end: --init-from a single run, templates, one-shot validation, evaluate', async () => {
  const singleRun = join(dir, 'single');
  await train(parseRunConfig({ ...base(), model: 'single', out: singleRun, epochs: 1 }));
  const out = join(dir, 'contrastive');
  const before = tf.memory().numTensors;
  const r = await train(parseRunConfig({ ...base(), model: 'siamese', recipe: 'contrastive', out, epochs: 2, initFrom: singleRun }));
  assert.equal(r.complete, true);
  // tfjs-layers 4.22 leaks one tensor per load of a layer with a weight constraint (LayerVariable.write
  // drops the constrained copy): the metric head, loaded once for the templates
  assert.ok(tf.memory().numTensors - before <= 1, `training leaked ${tf.memory().numTensors - before} tensors`);
  const hist = await readHistory(out);
  assert.equal(hist.length, 2);
  for (const h of hist) {
    assert.ok(Number.isFinite(h.loss) && h.loss > 0);
    // the default checkpoint choice: closest class template; the study's one-shot is recorded too
    assert.equal(h.val_metric, 'template_accuracy');
    assert.equal(h.val_accuracy, h.val_template_accuracy);
    for (const v of [h.val_template_accuracy, h.val_one_shot_accuracy]) assert.ok(typeof v === 'number' && v >= 0 && v <= 1, JSON.stringify(h));
    // pair accuracies from the training batches' pairs and the fixed validation pairs; the recipe's loss on the latter
    assert.equal(h.train_metric, 'pair_accuracy');
    for (const v of [h.train_accuracy, h.val_pair_accuracy]) assert.ok(typeof v === 'number' && v >= 0 && v <= 1, JSON.stringify(h));
    assert.ok(typeof h.val_loss === 'number' && Number.isFinite(h.val_loss) && h.val_loss > 0, JSON.stringify(h));
  }
  const saved = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  assert.equal(saved.recipe, 'contrastive');
  assert.equal(saved.initFrom, singleRun);
  const tpl = await readTemplates(out);
  assert.equal(tpl.templates.length, 3);
  // the saved model has the L2 layer and the non-negative head, and loads back
  const m = await loadRunModel(out);
  const { encoder, distance } = siameseParts(m);
  assert.ok(encoder.layers.some((l) => l.name === 'embedding_l2'));
  assert.ok(Math.min(...(distance.getWeights()[0]!.dataSync() as Float32Array)) >= 0, 'the head kernel went negative');
  disposeModel(m);
  const ev = await evaluateRun({ run: out, data, split: 'test', write: false });
  assert.equal(ev.method, 'templates');
  assert.ok(ev.n > 0 && ev.balanced_accuracy >= 0 && ev.balanced_accuracy <= 1);
  for (const p of ev.predictions) for (const s of p.scores) assert.ok(s >= 0 && s <= 1);
  const one = await evaluateRun({ run: out, data, split: 'test', oneShot: 12, write: false });
  assert.equal(one.method, 'one-shot');
});

test('initFromRun: refuses a siamese run and a missing folder with E_RUN', async () => {
  const model = siameseCovidNet(tiny);
  try {
    await assert.rejects(initFromRun(model, join(dir, 'contrastive')), (e: Error & { code?: string }) => e.code === 'E_RUN' && /single-net run/.test(e.message));
    await assert.rejects(initFromRun(model, join(dir, 'nope')), (e: Error & { code?: string }) => e.code === 'E_RUN');
  } finally {
    disposeModel(model);
  }
});
