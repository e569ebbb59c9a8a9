/**
 * Classes of a run: a siamese run trained on tiny generated phantoms gains a 4th class (stripes,
 * labelled `tuberculosis` in the manifest, unknown to the training) from five examples, predicts
 * it for held-out stripe images, lists / removes it; a single-net run refuses with the reason;
 * `--classes` trains on a subset; `--shots` and `templates add --shots` draw the same images.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { shotSubset, writeSynthDataset } from '../data/index.js';
import { parseRunConfig } from '../config.js';
import { train } from '../train/train.js';
import { predictFiles } from '../predict/predict.js';
import { evaluateRun } from '../evaluate/evaluate.js';
import { explainRun } from '../explain/explain.js';
import { readPreprocess, readSplits, readTemplates } from './files.js';
import { addClass, listClasses, removeClass } from './templates.js';

let dir = '';
let data = '';
const tb: string[] = [];
const opts = () => ({ data, size: 32, width: 4, fc: 8, evalBatch: 16, cacheDir: join(dir, 'cache'), threads: 1, seed: 5 });

/** A 48² image of broad bright horizontal stripes with pixel noise (seeded by i): nothing like the phantoms. */
async function stripes(file: string, i: number): Promise<void> {
  const n = 48;
  const px = Buffer.alloc(n * n);
  let r = 1 + i * 7919;
  const noise = () => ((r = (r * 48271) % 2147483647) / 2147483647 - 0.5) * 40;
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) px[y * n + x] = Math.max(0, Math.min(255, Math.round((Math.floor(y / 8) % 2 ? 220 : 30) + noise())));
  await sharp(px, { raw: { width: n, height: n, channels: 1 } }).png().toFile(file);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-templates-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 12, imageSize: 48, seed: 3, shortcuts: false });
  await mkdir(join(data, 'images', 'tb'), { recursive: true });
  const rows: string[] = [];
  for (let i = 0; i < 14; i++) {
    const f = join(data, 'images', 'tb', `tb-${i}.png`);
    await stripes(f, i);
    tb.push(f);
    rows.push(`images/tb/tb-${i}.png,tuberculosis,tb-${i},web,${i < 8 ? 'train' : 'test'}`);
  }
  await appendFile(join(data, 'labels.csv'), rows.join('\n') + '\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('templates: a 4th class from five examples is then predicted; list, remove; a single-net run refuses', async () => {
  const run = join(dir, 'siamese');
  // the manifest's tuberculosis rows are unknown labels for this training: skipped, listed
  await train(parseRunConfig({ ...opts(), model: 'siamese', out: run, epochs: 2, batch: 8 }));
  assert.deepEqual((await readTemplates(run)).classes, ['normal', 'pneumonia', 'COVID-19']);

  const added = await addClass(run, 'tuberculosis', { data, label: 'tuberculosis', shots: 5, seed: 2 });
  assert.equal(added.files.length, 5);
  assert.deepEqual(added.classes, ['normal', 'pneumonia', 'COVID-19', 'tuberculosis']);
  // the examples are the manifest's training rows, never its test rows
  for (const f of added.files) assert.ok(tb.slice(0, 8).includes(f), `example ${f} is not a training image`);
  const t = await readTemplates(run);
  assert.equal(t.version, 2);
  assert.equal(t.templates.length, 4);
  assert.equal(t.added?.[0]?.files.length, 5);
  assert.match(t.added![0]!.files[0]!.sha256, /^[0-9a-f]{64}$/);
  const list = await listClasses(run);
  assert.deepEqual(list.map((c) => [c.class, c.origin, c.images]), [['normal', 'trained', list[0]!.images], ['pneumonia', 'trained', list[1]!.images], ['COVID-19', 'trained', list[2]!.images], ['tuberculosis', 'added', 5]]);
  await assert.rejects(addClass(run, 'tuberculosis', { files: [tb[0]!] }), { code: 'E_OPTION', message: /--replace/ });
  await assert.rejects(addClass(run, 'normal', { files: [tb[0]!], replace: true }), { code: 'E_OPTION', message: /trained class/ });

  // held-out stripe images are predicted as the new class
  const held = tb.slice(8);
  const p = await predictFiles(run, held);
  const hits = p.predictions.filter((r) => r.ok && r.predicted === 'tuberculosis').length;
  assert.ok(hits >= held.length - 1, `only ${hits}/${held.length} held-out stripe images predicted tuberculosis: ${JSON.stringify(p.predictions.map((r) => (r.ok ? r.predicted : r.code)))}`);
  const first = p.predictions[0]!;
  assert.ok(first.ok && Object.keys(first.scores).join() === 'normal,pneumonia,COVID-19,tuberculosis');
  assert.ok(p.notes.some((n) => /tuberculosis added from a few examples/.test(n)), `no note on the added class: ${p.notes.join(' | ')}`);

  // evaluate on a source with its own split: the new class is scored, its examples never
  const csv = join(data, 'eval.csv');
  const lines = (await readFile(join(data, 'labels.csv'), 'utf8')).trim().split('\n');
  await writeFile(csv, [lines[0], ...lines.slice(1).map((l) => l.replace(/,train$/, ',test'))].join('\n') + '\n');
  const ev = await evaluateRun({ run, data: csv, split: 'test', write: false, cacheDir: join(dir, 'cache'), threads: 1 });
  assert.deepEqual(ev.classes, ['normal', 'pneumonia', 'COVID-19', 'tuberculosis']);
  assert.equal(ev.excluded.template_images, 5);
  assert.equal(ev.per_class['tuberculosis']!.support, 9);
  assert.ok(ev.predictions.every((q) => !added.files.includes(resolve(data, q.file))));

  // explain: the added class can be explained and contrasted; an unknown one is refused
  const ex = await explainRun({ run, files: [held[0]!], out: join(dir, 'explain'), target: 'tuberculosis', contrast: 'normal', threads: 1 });
  const rec = ex.records[0]!;
  assert.ok(rec.ok && rec.target === 'tuberculosis' && rec.classes.length === 4, JSON.stringify(rec));
  await assert.rejects(explainRun({ run, files: [held[0]!], out: join(dir, 'explain2'), target: 'leprosy', threads: 1 }), { code: 'E_OPTION', message: /tuberculosis/ });

  const removed = await removeClass(run, 'tuberculosis');
  assert.equal(removed.origin, 'added');
  assert.deepEqual((await readTemplates(run)).classes, ['normal', 'pneumonia', 'COVID-19']);
  await assert.rejects(removeClass(run, 'tuberculosis'), { code: 'E_OPTION' });

  const single = join(dir, 'single');
  await train(parseRunConfig({ ...opts(), model: 'single', out: single, epochs: 1, batch: 8 }));
  await assert.rejects(addClass(single, 'tuberculosis', { files: tb.slice(0, 2) }), (e: Error & { code?: string }) => e.code === 'E_RUN' && /single-net run cannot gain a class/.test(e.message) && /needs retraining/.test(e.message));
  await assert.rejects(listClasses(single), { code: 'E_RUN' });
});

test('train --classes: a subset (both nets), its images only; the split as on every class; --shots draws what templates add --shots draws', async () => {
  const full = join(dir, 'full-split');
  await train(parseRunConfig({ ...opts(), model: 'single', out: full, epochs: 1, batch: 8 }));
  for (const model of ['single', 'siamese'] as const) {
    const run = join(dir, `sub-${model}`);
    await train(parseRunConfig({ ...opts(), model, out: run, epochs: 1, batch: 8, classes: 'normal,pneumonia' }));
    assert.deepEqual((await readPreprocess(run)).classes, ['normal', 'pneumonia']);
    const s = await readSplits(run);
    assert.ok(s.splits.train.every((e) => e.label !== 'COVID-19'));
    assert.ok((s.otherClasses?.train.length ?? 0) > 0, 'the left-out class is recorded');
    // the test split is the one a run on every class has
    assert.deepEqual(s.splits.test.map((e) => e.file).sort(), (await readSplits(full)).splits.test.map((e) => e.file).sort());
    const ev = await evaluateRun({ run, data, write: false, cacheDir: join(dir, 'cache'), threads: 1 });
    assert.deepEqual(ev.classes, ['normal', 'pneumonia']);
    assert.ok((ev.excluded.other_classes?.['COVID-19'] ?? 0) > 0);
  }
  assert.throws(() => parseRunConfig({ ...opts(), model: 'single', out: join(dir, 'bad'), epochs: 1, classes: 'normal' }), { code: 'E_OPTION', message: /--classes/ });

  const shots = join(dir, 'shots');
  await train(parseRunConfig({ ...opts(), model: 'single', out: shots, epochs: 1, batch: 8, shots: 'COVID-19:2' }));
  const s = await readSplits(shots);
  const mine = s.splits.train.filter((e) => e.label === 'COVID-19').map((e) => resolve(s.base, e.file)).sort();
  assert.equal(mine.length, 2);
  const pool = [...mine, ...(s.unused ?? []).filter((e) => e.label === 'COVID-19').map((e) => resolve(s.base, e.file))].map((file) => ({ file }));
  assert.deepEqual(shotSubset(pool, 2, 5).map((f) => f.file).sort(), mine);
});
