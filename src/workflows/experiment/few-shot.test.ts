/**
 * The few-shot experiment on tiny generated phantoms: every cell, the same K images for the
 * templates and the fine-tuning, the validation choice recorded, the statistics and the report;
 * a second run skips every finished cell.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeSynthDataset } from '../../data/index.js';
import { readSplits, readTemplates } from '../../run/files.js';
import { runFewShot, type FewShotEvent } from './few-shot.js';

let dir = '';
let data = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'covidnet-fewshot-'));
  data = join(dir, 'data');
  await writeSynthDataset({ out: data, perClass: 12, imageSize: 48, seed: 4, shortcuts: false });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('experiment few-shot: cells, the same K images for every method, validation choice, statistics, report, resume', async () => {
  const out = join(dir, 'exp');
  const opts = {
    data,
    out,
    newClass: 'COVID-19',
    shots: [1, 2],
    seeds: [1, 2],
    train: { size: 32, width: 4, fc: 8, batch: 8, evalBatch: 16 },
    epochs: { single: 1, siamese: 1, fineTune: 1 },
    threads: 1,
    cacheDir: join(dir, 'cache'),
  };
  const r = await runFewShot(opts);
  assert.deepEqual(r.baseClasses, ['normal', 'pneumonia']);
  assert.equal(r.points.length, 3 * 2);
  for (const p of r.points) {
    assert.equal(p.cells.length, 2);
    for (const s of [p.new_class_sensitivity, p.new_class_specificity, p.balanced_accuracy]) assert.ok(s.n === 2 && s.values.every((v) => v >= 0 && v <= 1));
    if (p.method === 'single fine-tuned') assert.ok(p.chosen?.every((c) => c === 'all' || c === 'head'));
  }
  // every method of a seed sees the same K images of the new class
  for (const seed of [1, 2]) {
    for (const k of [1, 2]) {
      const t = await readTemplates(join(out, 'cells', 'siamese', `k-${k}`, `seed-${seed}`));
      const fromTemplates = t.added![0]!.files.map((f) => f.file).sort();
      const s = await readSplits(join(out, 'cells', 'ft-all', `k-${k}`, `seed-${seed}`));
      const fromFineTune = s.splits.train.filter((e) => e.label === 'COVID-19').map((e) => resolve(s.base, e.file)).sort();
      assert.deepEqual(fromTemplates, fromFineTune, `seed ${seed}, K ${k}`);
      assert.equal(fromTemplates.length, k);
    }
  }
  // the base nets never saw the class; the reference did
  assert.ok((await readSplits(join(out, 'cells', 'base', 'single', 'seed-1'))).splits.train.every((e) => e.label !== 'COVID-19'));
  assert.ok((await readSplits(join(out, 'cells', 'full', 'single', 'seed-1'))).splits.train.some((e) => e.label === 'COVID-19'));
  assert.ok(r.stats.comparisons.length === 2 * 2 && r.stats.comparisons.every((c) => /with K = \d+ examples of COVID-19/.test(c.reading)));
  await access(r.report);
  assert.match(await readFile(r.report, 'utf8'), /few-shot-sensitivity\.png|sensitivity COVID-19/);
  const saved = JSON.parse(await readFile(join(out, 'few-shot.json'), 'utf8')) as { status: string; points: unknown[] };
  assert.equal(saved.status, 'done');

  const events: FewShotEvent[] = [];
  const again = await runFewShot({ ...opts, onEvent: (e) => events.push(e) });
  assert.ok(events.filter((e) => e.type === 'cell' && /^(base|full|ft-)/.test(e.id)).every((e) => e.type === 'cell' && e.status === 'skipped'), 'a second run retrains nothing');
  assert.deepEqual(again.points.map((p) => p.balanced_accuracy.values), r.points.map((p) => p.balanced_accuracy.values));
});
