import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../tf.js';
import { makeTinyRun } from '../report/testing.js';
import { toModelInput } from '../data/norm.js';
import type { PreparedSet } from '../data/types.js';
import { CLASSES } from '../types.js';
import { disposeModel, siameseCovidNet, siameseParts } from '../model/covidnet.js';
import { pairProbabilityDifferent } from '../model/infer.js';
import { saveModel } from './modelio.js';
import { RunModel } from './run-model.js';

const SIZE = 64;

/** n deterministic 8-bit images of SIZE² pixels. */
function images(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => Uint8Array.from({ length: SIZE * SIZE }, (_, p) => (p * 7 + i * 31 + (p >> 6) * 3) % 256));
}

function asSet(imgs: readonly Uint8Array[]): PreparedSet {
  const pixels = new Uint8Array(imgs.length * SIZE * SIZE);
  imgs.forEach((im, i) => pixels.set(im, i * SIZE * SIZE));
  return { items: imgs.map((_, i) => ({ file: `f${i}`, label: CLASSES[i % 3]!, patientId: `p${i}`, source: 'unknown' })), size: SIZE, crop: 0, pixels, failed: [] };
}

/** A siamese run folder next to the tiny single run, with templates from three of `imgs`. */
async function makeSiameseRun(dir: string, withTemplates: boolean): Promise<string> {
  const run = join(dir, withTemplates ? 'siamese' : 'siamese-no-templates');
  const m = siameseCovidNet({ size: SIZE, width: 4, fc: 8, seed: 4 });
  await saveModel(m, join(run, 'model'));
  const e = tf.tidy(() => (siameseParts(m).encoder.predict(tf.tensor4d(toModelInput(asSet(images(3)), [0, 1, 2], { mean: 0.5, std: 0.25 }), [3, SIZE, SIZE, 1])) as tf.Tensor2D).arraySync());
  disposeModel(m);
  const json = (name: string, v: unknown) => writeFile(join(run, name), JSON.stringify(v));
  await json('preprocess.json', { model: 'siamese', size: SIZE, crop: 0, mean: 0.5, std: 0.25, classes: CLASSES });
  await json('config.json', { model: 'siamese', size: SIZE, width: 4, fc: 8, crop: 0, seed: 1, evalBatch: 4 });
  if (withTemplates) await json('templates.json', { classes: CLASSES, templates: e, counts: [1, 1, 1] });
  return run;
}

test('RunModel, single run: one input path, probabilities, errors, no leaked tensors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-runmodel-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run } = await makeTinyRun(dir);
  const before = tf.memory().numTensors;
  const m = await RunModel.open(run);
  try {
    assert.equal(m.kind, 'single');
    assert.equal(m.scoreKind, 'probability');
    assert.deepEqual(m.classes, CLASSES);
    assert.equal(m.templates, undefined);
    const imgs = images(5);
    // 8-bit images and a prepared set give the same input, (v/255 − mean)/std
    const a = m.toInput(imgs);
    const b = m.toInput({ set: asSet(imgs), indices: [0, 1, 2, 3, 4] });
    assert.deepEqual(a.shape, [5, SIZE, SIZE, 1]);
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
    assert.equal(a.dataSync()[1], Math.fround((7 / 255 - 0.5) / 0.25));
    const direct = tf.tidy(() => (m.model.predict(a) as tf.Tensor).arraySync() as number[][]);
    const s = await m.scores(a);
    tf.dispose([a, b]);
    assert.equal(s.kind, 'probability');
    // on onednn the run's forward is the compiled plan: the same values within 1e-5 (src/backend/plan.ts)
    assert.equal(s.rows.length, direct.length);
    s.rows.forEach((r, i) => r.forEach((v, j) => assert.ok(Math.abs(v - direct[i]![j]!) <= 1e-5 * Math.abs(direct[i]![j]!), `row ${i} class ${j}: ${v} vs ${direct[i]![j]}`)));
    // batched over images, in order, whatever the source of the images
    const all = await m.scoreImages(imgs, 2);
    const fromSet = await m.scoreImages({ set: asSet(imgs) }, 2);
    assert.equal(all.rows.length, 5);
    assert.deepEqual(all.rows, fromSet.rows);
    for (const r of all.rows) assert.ok(Math.abs(r.reduce((x, y) => x + y, 0) - 1) < 1e-5);
    assert.throws(() => m.toInput([new Uint8Array(10)]), { code: 'E_OPTION' });
    assert.throws(() => m.toInput([]), { code: 'E_OPTION' });
    const z = tf.zeros([1, SIZE, SIZE, 1]) as tf.Tensor4D;
    await assert.rejects(m.embed(z), { code: 'E_OPTION' });
    z.dispose();
    assert.throws(() => m.requireTemplates(), { code: 'E_OPTION' });
  } finally {
    m.dispose();
  }
  m.dispose(); // idempotent
  assert.throws(() => m.toInput(images(1)), { code: 'E_RUN' });
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');

  // an input the model would read as unstandardised is refused (std of a nearly constant set)
  await writeFile(join(run, 'preprocess.json'), JSON.stringify({ model: 'single', size: SIZE, crop: 0.1, mean: 0.5, std: 0.004, classes: CLASSES }));
  const tiny = await RunModel.open(run);
  try {
    assert.throws(() => tiny.toInput(images(1)), { code: 'E_INPUT_RANGE' });
  } finally {
    tiny.dispose();
  }
  // preprocess.json must describe the saved model
  await writeFile(join(run, 'preprocess.json'), JSON.stringify({ model: 'single', size: 32, crop: 0, mean: 0.5, std: 0.25, classes: CLASSES }));
  await assert.rejects(RunModel.open(run), (e: { code?: string; message?: string }) => e.code === 'E_RUN' && /model input 64 differs from preprocess.json size 32/.test(e.message ?? ''));
  await writeFile(join(run, 'preprocess.json'), JSON.stringify({ model: 'siamese', size: SIZE, crop: 0, mean: 0.5, std: 0.25, classes: CLASSES }));
  await assert.rejects(RunModel.open(run), { code: 'E_RUN' });
  assert.equal(tf.memory().numTensors, before, 'leaked tensors on refused runs');
});

test('RunModel, siamese run: embeddings, similarity 1 − P(different), templates, no leaked tensors', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-runmodel-s-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const run = await makeSiameseRun(dir, true);
  const bare = await makeSiameseRun(dir, false);
  tf.disposeVariables();
  const before = tf.memory().numTensors;
  const m = await RunModel.open(run);
  try {
    assert.equal(m.kind, 'siamese');
    assert.equal(m.scoreKind, 'template-similarity');
    assert.equal(m.requireTemplates().templates.length, 3);
    const imgs = images(5);
    const emb = await m.embedImages(imgs, 2);
    assert.equal(emb.length, 5);
    const sim = m.similarity(emb);
    // similarity is 1 − P(different) of the head, pair by pair
    const tpl = m.requireTemplates().templates.map((r) => Float32Array.from(r));
    const pd = pairProbabilityDifferent(m.model, emb.flatMap((e) => tpl.map(() => e)), emb.flatMap(() => tpl));
    sim.forEach((row, i) => row.forEach((v, j) => assert.equal(v, Math.fround(1 - pd[i * 3 + j]!))));
    const s = await m.scoreImages(imgs, 2);
    assert.equal(s.kind, 'template-similarity');
    assert.deepEqual(s.rows, sim);
    const x = m.toInput(imgs.slice(0, 2));
    const one = await m.scores(x);
    x.dispose();
    assert.deepEqual(one.rows.map((r) => Array.from(r)), sim.slice(0, 2).map((r) => Array.from(r)));
    // any reference embeddings, not only the class templates
    assert.equal(m.similarity(emb.slice(0, 2), [emb[0]!])[0]![0], Math.fround(1 - pairProbabilityDifferent(m.model, [emb[0]!], [emb[0]!])[0]!));
    const os = await m.oneShot(asSet(imgs), asSet(images(6)), 4, 1, 3);
    assert.equal(os.truth.length, 4);
  } finally {
    m.dispose();
  }
  // without templates.json a run still opens (one-shot needs none); scores say what is missing
  const b = await RunModel.open(bare);
  try {
    assert.equal(b.templates, undefined);
    assert.throws(() => b.requireTemplates(), (e: { code?: string; message?: string }) => e.code === 'E_RUN' && /templates\.json is missing/.test(e.message ?? ''));
    await assert.rejects(b.scoreImages(images(1)), { code: 'E_RUN' });
  } finally {
    b.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');
});
