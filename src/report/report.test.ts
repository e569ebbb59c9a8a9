import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '../tf.js';
import { writeComparisonReport, writeRunReport } from './report.js';
import { makeTinyRun } from './testing.js';
import { renderSpec, trainingCurvesSpec } from './figures.js';
import type { EpochRecord } from '../run/files.js';
import { RESEARCH_NOTICE } from '../types.js';
import { chromiumMissing, launchChromium } from '../util/browser.js';


test('report: a tiny run gives a self-contained HTML page and PNG figures; the page renders in headless Chromium', async (t) => {
  await tf.setBackend('cpu');
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-report-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run } = await makeTinyRun(dir);
  const before = tf.memory().numTensors;
  const r = await writeRunReport(run);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(existsSync(r.html));
  const html = await readFile(r.html, 'utf8');
  assert.ok(html.includes(RESEARCH_NOTICE));
  // self-contained: every image is a data URI, nothing is fetched
  const srcs = [...html.matchAll(/<img [^>]*src="([^"]*)"/g)].map((m) => m[1]!);
  assert.ok(srcs.length >= 3 + 6, `expected curves, confusion, metrics and 6 Grad-CAM samples, got ${srcs.length} images`);
  assert.ok(srcs.every((s) => s.startsWith('data:image/png;base64,')));
  assert.ok(!/(src|href)="https?:/.test(html));
  // the tiny run's history is an old one (no train accuracy / validation loss): said, not fatal
  assert.ok(r.notes.some((n) => /predates train accuracy and validation loss/.test(n)), r.notes.join('; '));
  const names = r.figures.map((f) => f.slice(f.lastIndexOf('/') + 1));
  for (const n of ['training-curves.png', 'confusion-data-test.png', 'metrics-data-test.png']) assert.ok(names.includes(n), `${n} missing`);
  assert.equal(names.filter((n) => n.startsWith('gradcam-')).length, 6);
  for (const f of r.figures) {
    const m = await sharp(f).metadata();
    assert.equal(m.format, 'png');
    assert.ok((m.width ?? 0) > 100 && (m.height ?? 0) > 100);
  }
  // the confusion matrix is not blank (coloured cells and text)
  const st = await sharp(join(run, 'report', 'confusion-data-test.png')).stats();
  assert.ok(st.channels[0]!.stdev > 20);

  const cmp = await writeComparisonReport([run, run], { out: join(dir, 'cmp') });
  const chtml = await readFile(cmp.html, 'utf8');
  assert.ok(chtml.includes('balanced accuracy') && chtml.includes(RESEARCH_NOTICE));

  await t.test('browser check: renders, images load, no console errors, non-blank screenshot', async (tt) => {
    const missing = chromiumMissing();
    if (missing) {
      tt.skip(missing);
      return;
    }
    const ctx = await launchChromium(join(dir, 'chromium-profile'));
    try {
      for (const page of [r.html, cmp.html]) {
        const p = await ctx.newPage();
        const errors: string[] = [];
        p.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        p.on('pageerror', (e) => errors.push(e.message));
        await p.goto(`file://${page}`, { waitUntil: 'load' });
        // (runs in the page; typed structurally, the project compiles without DOM types)
        const imgs = await p.$$eval('img', (els) => els.map((e) => {
          const img = e as unknown as { complete: boolean; naturalWidth: number };
          return { ok: img.complete && img.naturalWidth > 0 };
        }));
        assert.ok(imgs.length > 0 && imgs.every((i) => i.ok), `images not loaded: ${JSON.stringify(imgs)}`);
        assert.deepEqual(errors, []);
        assert.ok((await p.title()).startsWith('covidnet'));
        const shot = join(dir, `${page === r.html ? 'run' : 'comparison'}-screenshot.png`);
        await p.screenshot({ path: shot, fullPage: true });
        const s = await sharp(shot).stats();
        // non-blank: the page has dark text and coloured figures on white
        assert.ok(s.channels.some((c) => c.stdev > 20), 'blank screenshot');
        assert.ok(s.channels[0]!.min < 50);
        await p.close();
      }
    } finally {
      await ctx.close();
    }
  });
});

/** A history line as train writes it now (`extra` adds or overrides fields). */
function epoch(e: number, extra: Partial<EpochRecord> = {}): EpochRecord {
  return { epoch: e, loss: 1.2 - 0.1 * e, val_accuracy: 0.3 + 0.1 * e, val_metric: 'accuracy', best: e === 2, steps: 2, samples: 16, seconds: 1, samples_per_second: 16, lr: 1e-3, batch: 8, ...extra };
}

type CurveRow = { epoch: number; metric: string; series: string; value: number };
const curveRows = (spec: Record<string, unknown>): CurveRow[] => (spec['data'] as { values: CurveRow[] }).values;
const seriesOf = (rows: CurveRow[], metric: string): string[] => [...new Set(rows.filter((r) => r.metric === metric).map((r) => r.series))].sort();

test('training curves: train and validation loss and accuracy; siamese adds one-shot; old histories show what they have', async () => {
  const single = [1, 2, 3].map((e) => epoch(e, { train_accuracy: 0.4 + 0.1 * e, train_metric: 'accuracy', val_loss: 1.1 - 0.05 * e }));
  const rows = curveRows(trainingCurvesSpec(single, 't'));
  assert.deepEqual(seriesOf(rows, 'loss'), ['train', 'validation']);
  assert.deepEqual(seriesOf(rows, 'accuracy'), ['train', 'validation']);
  assert.equal(rows.find((r) => r.metric === 'loss' && r.series === 'validation' && r.epoch === 2)!.value, 1.0);

  const siamese = [1, 2].map((e) =>
    epoch(e, { val_metric: 'one_shot_accuracy', train_accuracy: 0.6, train_metric: 'pair_accuracy', val_loss: 0.7, val_pair_accuracy: 0.55 }),
  );
  const srows = curveRows(trainingCurvesSpec(siamese, 't'));
  assert.deepEqual(seriesOf(srows, 'loss'), ['train', 'validation']);
  // like for like: pair accuracy on both sides; the one-shot accuracy (checkpoint choice) as its own line
  assert.deepEqual(seriesOf(srows, 'accuracy'), ['train', 'validation', 'validation one-shot']);
  assert.equal(srows.find((r) => r.series === 'validation' && r.metric === 'accuracy')!.value, 0.55);

  const old = [1, 2, 3].map((e) => epoch(e));
  const orows = curveRows(trainingCurvesSpec(old, 't'));
  assert.deepEqual(seriesOf(orows, 'loss'), ['train']);
  assert.deepEqual(seriesOf(orows, 'accuracy'), ['validation']);

  for (const h of [single, siamese, old]) {
    const m = await sharp(await renderSpec(trainingCurvesSpec(h, 'Training curves'))).metadata();
    assert.ok(m.format === 'png' && (m.width ?? 0) > 400 && (m.height ?? 0) > 100);
  }
});

test('report: a history with the new fields gives the curves and their caption, without the old-history note', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-report-curves-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run } = await makeTinyRun(dir);
  const lines = [1, 2, 3].map((e) => epoch(e, { train_accuracy: 0.5, train_metric: 'accuracy', val_loss: 1.0 }));
  await writeFile(join(run, 'history.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
  const r = await writeRunReport(run, { gradcam: 0 });
  assert.ok(r.figures.some((f) => f.endsWith('training-curves.png')));
  assert.ok(!r.notes.some((n) => /predates/.test(n)), r.notes.join('; '));
  const html = await readFile(r.html, 'utf8');
  assert.match(html, /categorical cross-entropy, mean over the epoch/);
});
