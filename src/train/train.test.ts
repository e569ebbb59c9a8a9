/**
 * End to end on tiny generated phantoms (size 32, width 4): train → evaluate → predict for both
 * models, resume equivalence, flat memory during training. Seconds on the JS backend.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../tf.js';
import { writeSynthDataset } from '../data/index.js';
import { parseRunConfig, type RunConfig } from '../config.js';
import { train, type TrainEvent } from './train.js';
import { ClassTally, PairTally } from './tally.js';
import type { EpochRecord } from '../run/files.js';
import { loadLast } from './checkpoint.js';
import { evaluateRun } from '../evaluate/evaluate.js';
import { predictFiles } from '../predict/predict.js';
import { readHistory, readSplits, readTemplates } from '../run/files.js';
import { disposeModel } from '../model/index.js';

let dir = '';
let data = '';
const base = () => ({ data, size: 32, width: 4, fc: 8, batch: 8, evalBatch: 16, cacheDir: join(dir, 'cache'), threads: 1, seed: 5 });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-train-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 9, imageSize: 48, seed: 3, shortcuts: false });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The per-epoch fields added for the train/validation curves: present and in range. */
function assertCurveFields(h: EpochRecord, trainMetric: 'accuracy' | 'pair_accuracy'): void {
  assert.equal(h.train_metric, trainMetric);
  for (const v of [h.train_accuracy, h.val_accuracy, ...(trainMetric === 'pair_accuracy' ? [h.val_pair_accuracy] : [])]) {
    assert.ok(typeof v === 'number' && v >= 0 && v <= 1, `accuracy out of range: ${JSON.stringify(h)}`);
  }
  assert.ok(typeof h.val_loss === 'number' && Number.isFinite(h.val_loss) && h.val_loss > 0, `val_loss: ${JSON.stringify(h)}`);
  if (trainMetric === 'accuracy') assert.equal(h.val_pair_accuracy, undefined);
}

test('ClassTally and PairTally: argmax accuracy; pair accuracy with same and different pairs weighted equally', () => {
  const c = new ClassTally();
  assert.ok(Number.isNaN(c.value()));
  c.add([0.7, 0.2, 0.1, 0.1, 0.1, 0.8], [0, 1]);
  assert.equal(c.value(), 0.5);
  const p = new PairTally();
  // 1 same pair (right), 3 different pairs (1 right): (1 + 1/3) / 2
  p.add([0.2, 0.9, 0.4, 0.1], [0, 1, 1, 1]);
  assert.ok(Math.abs(p.value() - 2 / 3) < 1e-12);
  const onlyDifferent = new PairTally();
  onlyDifferent.add([0.9, 0.1], [1, 1]);
  assert.equal(onlyDifferent.value(), 0.5);
});

async function weightsOf(folder: string): Promise<Float32Array[]> {
  const ck = await loadLast(folder);
  assert.ok(ck, `no checkpoint in ${folder}`);
  const ws = ck.model.getWeights().map((w) => w.dataSync() as Float32Array);
  disposeModel(ck.model);
  return ws;
}

test('single net: train → evaluate → predict, memory flat per step', async () => {
  const before = tf.memory().numTensors;
  const out = join(dir, 'single');
  const events: TrainEvent[] = [];
  const config: RunConfig = parseRunConfig({ ...base(), model: 'single', out, epochs: 2 });
  const r = await train(config, { onEvent: (e) => events.push(e) });
  assert.equal(r.complete, true);
  assert.equal(r.epochsDone, 2);
  for (const f of ['config.json', 'preprocess.json', 'splits.json', 'history.jsonl', 'model/model.json', 'last/checkpoint.json']) {
    await stat(join(out, f));
  }
  const saved = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  assert.equal(saved.width, 4);
  assert.match(saved.dataHash, /^[0-9a-f]{64}$/);
  assert.equal(typeof saved.backendUsed, 'string');
  const pre = JSON.parse(await readFile(join(out, 'preprocess.json'), 'utf8'));
  assert.ok(pre.std > 0 && pre.size === 32);
  const hist = await readHistory(out);
  assert.equal(hist.length, 2);
  for (const h of hist) assertCurveFields(h, 'accuracy');
  // balanced epochs as the sampler makes them: 3 × the COVID-19 training images
  const splits = await readSplits(out);
  const nCovid = splits.splits.train.filter((e) => e.label === 'COVID-19').length;
  assert.equal(hist[0]!.samples, 3 * nCovid);
  // tensors after every step are the same count (no per-step growth)
  const counts = events.filter((e): e is Extract<TrainEvent, { type: 'step' }> => e.type === 'step').map((e) => e.tensors);
  assert.ok(counts.length > 2);
  assert.equal(new Set(counts.slice(1)).size, 1, `tensor counts per step: ${counts.join(',')}`);

  const ev = await evaluateRun({ run: out, data, cacheDir: join(dir, 'cache') });
  assert.equal(ev.selection, 'run-splits');
  assert.equal(ev.split, 'test');
  assert.equal(ev.n, splits.splits.test.length);
  const trainFiles = new Set([...splits.splits.train, ...splits.splits.val].map((e) => e.file));
  assert.ok(ev.predictions.every((p) => !trainFiles.has(p.file)), 'a training image was evaluated as test');
  for (const k of ['accuracy', 'balanced_accuracy', 'classes', 'confusion', 'per_class']) assert.ok(k in ev, k);
  const written = JSON.parse(await readFile(ev.file!, 'utf8'));
  assert.equal(written.confusion.flat().reduce((a: number, b: number) => a + b, 0), ev.n);

  const bad = join(dir, 'broken.png');
  await writeFile(bad, 'not an image');
  const img = join(data, splits.splits.test[0]!.file);
  const p = await predictFiles(out, [img, bad, join(dir, 'missing.png')]);
  assert.equal(p.predictions.length, 3);
  const ok = p.predictions[0]!;
  assert.ok(ok.ok);
  if (ok.ok) assert.ok(Math.abs(Object.values(ok.scores).reduce((a, b) => a + b, 0) - 1) < 1e-3);
  assert.equal(p.predictions[1]!.ok, false);
  assert.equal(p.predictions[2]!.ok, false);
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');
});

test('siamese net: one-shot validation, templates, evaluate (templates and one-shot), predict', async () => {
  const before = tf.memory().numTensors;
  const out = join(dir, 'siamese');
  const config = parseRunConfig({ ...base(), model: 'siamese', recipe: 'study', out, epochs: 2, pairs: 24, oneShotTrials: 9, selectBy: 'one-shot' });
  const r = await train(config);
  assert.equal(r.complete, true);
  const hist = await readHistory(out);
  assert.equal(hist[0]!.val_metric, 'one_shot_accuracy');
  assert.equal(hist[0]!.val_accuracy, hist[0]!.val_one_shot_accuracy);
  assert.ok(typeof hist[0]!.val_template_accuracy === 'number');
  assert.equal(hist[0]!.samples, 24);
  for (const h of hist) assertCurveFields(h, 'pair_accuracy');
  const t = await readTemplates(out);
  assert.equal(t.templates.length, 3);
  assert.equal(t.templates[0]!.length, 256);
  const ev = await evaluateRun({ run: out, data, cacheDir: join(dir, 'cache') });
  assert.equal(ev.method, 'templates');
  const os = await evaluateRun({ run: out, data, cacheDir: join(dir, 'cache'), oneShot: 12 });
  assert.equal(os.method, 'one-shot');
  assert.equal(os.n, 12);
  const splits = await readSplits(out);
  const p = await predictFiles(out, [join(data, splits.splits.test[0]!.file)]);
  assert.equal(p.scores, 'template-similarity');
  assert.ok(p.predictions[0]!.ok);
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');
});

test('resume after a stop reaches the same weights and history as an uninterrupted run', async () => {
  for (const model of ['single', 'siamese'] as const) {
    const extra = model === 'siamese' ? { recipe: 'study', pairs: 16, oneShotTrials: 6 } : {};
    const a = join(dir, `resume-${model}-a`);
    const b = join(dir, `resume-${model}-b`);
    await train(parseRunConfig({ ...base(), ...extra, model, out: a, epochs: 3 }));
    const first = await train(parseRunConfig({ ...base(), ...extra, model, out: b, epochs: 3, stopAfter: 1 }));
    assert.equal(first.complete, false);
    assert.equal(first.epochsDone, 1);
    const resumed = await train(parseRunConfig({ ...base(), ...extra, model, out: b, epochs: 3 }), { resume: true });
    assert.equal(resumed.complete, true);
    const ha = await readHistory(a);
    const hb = await readHistory(b);
    const fields = (h: EpochRecord) => [h.loss, h.train_accuracy, h.val_loss, h.val_accuracy, h.val_pair_accuracy, h.best];
    assert.deepEqual(hb.map(fields), ha.map(fields));
    const wa = await weightsOf(join(a, 'last'));
    const wb = await weightsOf(join(b, 'last'));
    assert.equal(wa.length, wb.length);
    wa.forEach((w, i) => assert.deepEqual(wb[i], w, `${model} weight ${i} differs after resume`));
    assert.deepEqual((await readdir(join(b, 'last'))).length, 4); // checkpoint.json, model json, weights, optimizer
  }
});

test('resume refuses changed settings and changed data; a used folder needs --resume', async () => {
  const out = join(dir, 'single');
  await assert.rejects(train(parseRunConfig({ ...base(), model: 'single', out, epochs: 2, lr: 0.5 }), { resume: true }, { lr: 0.5 }), /--lr: expected 0.0001/);
  await assert.rejects(train(parseRunConfig({ ...base(), model: 'single', out, epochs: 2 })), { code: 'E_RUN', message: /already holds a run/ });
  const copy = join(dir, 'data-copy');
  await cp(data, copy, { recursive: true });
  const run = join(dir, 'changed');
  await train(parseRunConfig({ ...base(), data: copy, model: 'single', out: run, epochs: 2, stopAfter: 1 }));
  const imgs = join(copy, 'images', 'normal');
  const [f1, f2] = (await readdir(imgs)).sort();
  await cp(join(imgs, f2!), join(imgs, f1!));
  await assert.rejects(train(parseRunConfig({ ...base(), data: copy, model: 'single', out: run, epochs: 2 }), { resume: true }), { code: 'E_RUN', message: /data source changed/ });
});
