/**
 * Trust end to end on tiny runs (size 32, width 4, seconds): training writes ood.json and
 * calibration.json; `ood fit` refits them to the same numbers; assessments keep the raw scores
 * bit for bit; predict, evaluate (--ood, --operating-point) and the report carry the trust fields;
 * generated out-of-distribution images (noise, gradients, textures, text, shapes), phantoms
 * against a real-image run and cxr-mini against a phantom run are scored without a crash, and so
 * are DICOMs (generated, and cxr-mini's two unlabelled ones).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '../tf.js';
import { prepareImages, writeSynthDataset } from '../data/index.js';
import { cxrMiniPath, makeDicom } from '../data/testing.js';
import { parseRunConfig } from '../config.js';
import { train } from '../train/train.js';
import { fitRunTrust } from '../run/trust.js';
import { RunModel } from '../run/run-model.js';
import { readSplits } from '../run/files.js';
import { predictFiles } from '../predict/predict.js';
import { writeRunReport } from '../report/report.js';
import { writeOodImages, GENERATED_OOD_KINDS } from '../trust/ood-images.js';
import { readRunTrust } from '../trust/files.js';
import { CLASSES } from '../types.js';
import { evaluateRun } from './evaluate.js';
import { formatEval } from './format.js';
import { listOodImages } from './trust.js';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/covidnet.js', import.meta.url));
const CXR = await cxrMiniPath();
const SKIP_CXR = CXR ? false : 'cxr-mini not found at ../shared/data/cxr-mini (relative to the repository root): skipping the real-image checks';

let dir = '';
let data = '';
let single = '';
let siamese = '';
let ood = '';
const base = () => ({ data, size: 32, width: 4, fc: 8, batch: 8, evalBatch: 16, cacheDir: join(dir, 'cache'), threads: 1, seed: 5 });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-trust-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 12, imageSize: 48, seed: 3, shortcuts: false });
  single = join(dir, 'single');
  siamese = join(dir, 'siamese');
  await train(parseRunConfig({ ...base(), model: 'single', out: single, epochs: 3, lr: 1e-3 }));
  await train(parseRunConfig({ ...base(), model: 'siamese', recipe: 'study', out: siamese, epochs: 2, pairs: 24, oneShotTrials: 9, initFrom: single }));
  ood = join(dir, 'ood');
  await writeOodImages({ out: ood, perKind: 4, seed: 2 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('training writes ood.json and calibration.json; ood fit refits them to the same numbers', async () => {
  for (const run of [single, siamese]) {
    const kind = run === single ? 'single' : 'siamese';
    const first = await readRunTrust(run, kind);
    assert.ok(first.ood && first.calibration, `${kind}: ${first.problems.ood?.message} ${first.problems.calibration?.message}`);
    assert.equal(first.ood.file.embedding.dim, 256);
    assert.deepEqual(first.ood.signalNames, kind === 'single' ? ['mahalanobis', 'energy', 'mahalanobis_stem'] : ['mahalanobis', 'mahalanobis_stem']);
    assert.equal(first.calibration.method, kind === 'single' ? 'temperature' : 'similarity-logistic');
    const v = first.ood.file.validation;
    assert.ok(v.accepted / v.n >= 0.95, `validation acceptance ${v.accepted}/${v.n}`);
    const refit = await fitRunTrust(run, { cacheDir: join(dir, 'cache') });
    assert.ok(Math.abs(refit.ood.threshold - first.ood.threshold) < 1e-6, `${kind}: threshold ${refit.ood.threshold} vs ${first.ood.threshold}`);
    assert.deepEqual(refit.calibration.parameters, first.calibration.file.parameters);
    assert.deepEqual(refit.counts, { train: (await readSplits(run)).splits.train.length, val: (await readSplits(run)).splits.val.length });
  }
});

test('assessments keep the raw scores bit for bit, add calibrated probabilities and verdicts, leak no tensors', async () => {
  const before = tf.memory().numTensors;
  for (const run of [single, siamese]) {
    const rm = await RunModel.open(run);
    try {
      const splits = await readSplits(run);
      const set = await prepareImages(splits.splits.test.map((e) => ({ file: join(splits.base, e.file), label: e.label, patientId: e.patientId, source: 'x' })), { size: 32, crop: 0 }, { cacheDir: join(dir, 'cache') });
      const raw = await rm.scoreImages({ set }, 5);
      const a = await rm.assessImages({ set }, 7);
      assert.deepEqual(a.rows.map((r) => Array.from(r.scores)), raw.rows.map((r) => Array.from(r)), `${run}: raw scores changed`);
      for (const r of a.rows) {
        assert.ok(r.calibrated && Math.abs(r.calibrated.reduce((x, y) => x + y, 0) - 1) < 1e-9);
        // calibration is monotone: the class stays, unless the top scores tie (saturated similarities, a flat fit)
        const gap = (v: ArrayLike<number>) => { const s = Array.from(v).sort((x, y) => y - x); return s[0]! - s[1]!; };
        if (gap(r.scores) > 1e-6 && gap(r.calibrated) > 1e-9) assert.equal(CLASSES[r.calibrated.indexOf(Math.max(...r.calibrated))], r.predicted, `calibration changed the class: ${run} ${Array.from(r.scores)} ${r.calibrated}`);
        assert.ok(r.ood && typeof r.ood.in_distribution === 'boolean');
      }
      assert.deepEqual(a.notes, []);
    } finally {
      rm.dispose();
    }
  }
  assert.equal(tf.memory().numTensors, before, 'leaked tensors');
});

test('predict: OOD fields for every image; generated and cxr-mini DICOMs do not crash it; older runs get a note', async () => {
  const dcm = join(dir, 'gen.dcm');
  await writeFile(dcm, makeDicom({ width: 40, height: 36, bitsAllocated: 16, bitsStored: 12, values: Array.from({ length: 40 * 36 }, (_, i) => (i * 37) % 4096) }));
  const unlabelled = CXR ? listOodImages(join(CXR, 'unlabeled')).map((i) => i.file) : [];
  const files = [dcm, ...unlabelled, join(ood, 'noise', 'noise-001.png'), join(ood, 'text', 'text-001.png')];
  for (const run of [single, siamese]) {
    const p = await predictFiles(run, files);
    assert.equal(p.predictions.length, files.length);
    for (const x of p.predictions) {
      assert.ok(x.ok, `${x.file}: ${x.ok ? '' : x.error}`);
      if (!x.ok) continue;
      assert.equal(typeof x.in_distribution, 'boolean');
      assert.ok(typeof x.ood_threshold === 'number' && x.calibrated);
      assert.equal(x.in_distribution, x.ood_score !== null && x.ood_score <= x.ood_threshold);
    }
    assert.deepEqual(p.notes, []);
  }
  // the CLI: no class for an OOD image unless --allow-ood; JSON keeps the scores
  const text = join(ood, 'text', 'text-001.png');
  const { stdout } = await exec(process.execPath, [BIN, 'predict', '--run', single, '--json', text]);
  const line = JSON.parse(stdout) as { predicted: string | null; scores: Record<string, number>; in_distribution: boolean; ood_score: number };
  assert.equal(line.in_distribution, false, `text page accepted: ood score ${line.ood_score}`);
  assert.equal(line.predicted, null);
  assert.equal(Object.keys(line.scores).length, 3);
  const allowed = await exec(process.execPath, [BIN, 'predict', '--run', single, '--allow-ood', text]);
  assert.match(allowed.stdout, /OUT OF DISTRIBUTION, unreliable/);
  const plain = await exec(process.execPath, [BIN, 'predict', '--run', single, text]);
  assert.match(plain.stdout, /does not look like the frontal chest X-rays this run was trained on .*no class given/);
  // a run without the trust files (trained before them) still predicts, with a note
  const old = join(dir, 'old');
  await exec('cp', ['-r', single, old]);
  await rm(join(old, 'ood.json'));
  await rm(join(old, 'calibration.json'));
  const q = await predictFiles(old, [text]);
  assert.ok(q.predictions[0]!.ok && q.predictions[0]!.in_distribution === null);
  assert.match(q.notes.join(' '), /ood\.json is missing.*covidnet ood fit/);
  const fit = await exec(process.execPath, [BIN, 'ood', 'fit', '--run', old, '--json', '--cache-dir', join(dir, 'cache')]);
  assert.equal((JSON.parse(fit.stdout) as { files: string[] }).files.length, 2);
  await stat(join(old, 'ood.json'));
});

test('evaluate: acceptance, ECE, ROC AUCs, operating points and --ood per kind and signal; report figures', async () => {
  const r = await evaluateRun({ run: single, data, cacheDir: join(dir, 'cache'), ood, operatingPoints: ['COVID-19:sensitivity=0.90', 'normal:specificity=0.8'] });
  const t = r.trust!;
  assert.ok(t.ood && t.calibration && t.operating_points && t.ood_evaluation);
  assert.equal(t.ood.acceptance['ood_score']!.n, r.n);
  assert.ok(t.calibration.ece_before.value >= 0 && t.calibration.ece_after.lo <= t.calibration.ece_after.value);
  for (const c of CLASSES) assert.ok(t.roc.per_class[c]!.curve.length >= 2);
  const op = t.operating_points[0]!;
  assert.equal(op.cls, 'COVID-19');
  if (op.threshold !== null) assert.ok(op.validation.sensitivity.value >= 0.9);
  const kinds = t.ood_evaluation.kinds.map((k) => k.kind);
  assert.deepEqual(kinds, [...[...GENERATED_OOD_KINDS].sort(), 'all']);
  for (const k of t.ood_evaluation.kinds) {
    assert.deepEqual(Object.keys(k.scores), ['ood_score', 'mahalanobis', 'energy', 'mahalanobis_stem']);
    for (const s of Object.values(k.scores)) assert.ok(Number.isFinite(s.auroc.value) && s.false_accept.n === k.n);
  }
  // noise and text pages are far from any phantom to the first layer
  for (const kind of ['noise', 'text']) {
    const k = t.ood_evaluation.kinds.find((x) => x.kind === kind)!;
    assert.ok(k.scores['ood_score']!.auroc.value > 0.9, `${kind}: AUROC ${k.scores['ood_score']!.auroc.value}`);
  }
  const text = formatEval(r);
  assert.match(text, /expected calibration error/);
  assert.match(text, /false-accept rate at the threshold/);
  // the numbers of the evaluation itself are those of the raw scores
  const plain = await evaluateRun({ run: single, data, cacheDir: join(dir, 'cache'), write: false });
  assert.deepEqual(plain.confusion, r.confusion);
  assert.deepEqual(plain.predictions.map((p) => p.scores), r.predictions.map((p) => p.scores));
  const rep = await writeRunReport(single, { gradcam: 0 });
  assert.ok(rep.figures.some((f) => f.includes('reliability-')) && rep.figures.some((f) => f.includes('roc-')));
  const html = await readFile(rep.html, 'utf8');
  assert.match(html, /Out-of-distribution detector and calibration/);
  assert.match(html, /false accept/);
  // siamese: similarity calibration, no energy signal; one-shot refuses --ood
  const s = await evaluateRun({ run: siamese, data, cacheDir: join(dir, 'cache'), ood: join(ood, 'noise'), write: false });
  assert.equal(s.trust!.calibration!.method, 'similarity-logistic');
  assert.deepEqual(Object.keys(s.trust!.ood_evaluation!.kinds[0]!.scores), ['ood_score', 'mahalanobis', 'mahalanobis_stem']);
  await assert.rejects(evaluateRun({ run: siamese, data, oneShot: 6, ood, write: false }), /--ood/);
  await assert.rejects(evaluateRun({ run: single, data, operatingPoints: ['COVID-19:recall=0.9'], write: false }), /--operating-point/);
});

test('real images: cxr-mini against a phantom run, phantoms against a cxr-mini run', { skip: SKIP_CXR }, async () => {
  // a manifest of 24 cxr-mini images (every 30th row), as an out-of-distribution set for the phantom run
  const rows = (await readFile(join(CXR!, 'labels.csv'), 'utf8')).split('\n').slice(1).filter(Boolean);
  const manifest = join(dir, 'cxr-mini-sample.csv');
  await writeFile(manifest, ['file,kind', ...rows.filter((_, i) => i % 30 === 0).map((r) => `${join(CXR!, r.split(',')[0]!)},cxr-mini`)].join('\n') + '\n');
  const a = await evaluateRun({ run: single, data, cacheDir: join(dir, 'cache'), ood: manifest, write: false });
  const k = a.trust!.ood_evaluation!.kinds[0]!;
  assert.equal(k.kind, 'cxr-mini');
  assert.ok(Number.isFinite(k.scores['ood_score']!.auroc.value));
  // a tiny real-image run (size 32, 2 epochs) against the phantoms
  const real = join(dir, 'real');
  await train(parseRunConfig({ ...base(), data: CXR!, model: 'single', out: real, epochs: 2 }));
  const b = await evaluateRun({ run: real, data: CXR!, cacheDir: join(dir, 'cache'), ood: data, write: false });
  const kb = b.trust!.ood_evaluation!.kinds[0]!;
  assert.equal(kb.kind, 'data');
  assert.equal(kb.n, 36);
  // a 2-epoch 32-pixel net tells phantoms apart only roughly (the 112-pixel run of the README does better)
  assert.ok(kb.scores['ood_score']!.auroc.value > 0.6, `phantoms vs cxr-mini: AUROC ${kb.scores['ood_score']!.auroc.value}`);
  assert.ok(b.trust!.ood!.acceptance['ood_score']!.value > 0.8);
});
