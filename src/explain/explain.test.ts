import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '../tf.js';
import { makeTinyRun } from '../report/testing.js';
import { explainRun, jsonLine } from './explain.js';

test('explainRun: files and --data, overlay + 16-bit heat map + JSON per image, --json line format, bad file reported', async (t) => {
  await tf.setBackend('cpu');
  const dir = await mkdtemp(join(tmpdir(), 'covidnet-explain-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { run, data, images } = await makeTinyRun(dir);
  const bad = join(dir, 'broken.png');
  await writeFile(bad, 'not an image');
  const before = tf.memory().numTensors;
  const lines: Record<string, unknown>[] = [];
  const r = await explainRun({ run, files: [images[0]!, bad, images[3]!], out: join(dir, 'out1'), target: 'pneumonia', onRecord: (rec) => lines.push(jsonLine(rec)) });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(r.records.length, 3);
  assert.equal(r.records[1]!.ok, false);
  // the fields, then the trust fields (null here: the tiny run has no ood.json / calibration.json)
  // (no deletion check for files unless asked: no deletion_auc keys)
  assert.deepEqual(Object.keys(lines[0]!), ['file', 'predicted', 'target', 'score', 'method', 'versus', 'flat', 'peak', 'border_mass', 'calibrated', 'ood_score', 'ood_threshold', 'in_distribution']);
  assert.equal(lines[0]!['method'], 'insertion');
  assert.deepEqual(Object.keys(lines[1]!), ['file', 'error', 'code']);
  const rec = r.records[0]!;
  assert.ok(rec.ok);
  if (!rec.ok) return;
  assert.equal(rec.target, 'pneumonia');
  // the first image is 90×80: peak inside it, heat map PNG in its geometry, 16 bits
  // an untrained net may give an all-zero map (peak null); otherwise the peak lies inside the image
  if (rec.peak) assert.ok(rec.peak.x >= 0 && rec.peak.x < 90 && rec.peak.y >= 0 && rec.peak.y < 80);
  else assert.ok(rec.flat && rec.border_mass === null);
  const heat = await sharp(rec.heatmap).metadata();
  assert.deepEqual([heat.width, heat.height, heat.depth, heat.channels], [90, 80, 'ushort', 1]);
  const ov = await sharp(rec.overlay).metadata();
  assert.ok((ov.width ?? 0) > 384 && ov.channels === 3);
  const hj = JSON.parse(await readFile(rec.heatmap_json, 'utf8')) as { geometry: { box: { left: number; width: number } }; cam: number[] };
  assert.deepEqual(hj.geometry.box, { left: 9, top: 8, width: 72, height: 64 });
  assert.equal(hj.cam.length, 64); // insertion map: 8×8 cells of 8 input pixels
  const g = await explainRun({ run, files: [images[0]!], out: join(dir, 'out3'), method: 'gradcam', faithfulness: true });
  const gr = g.records[0]!;
  assert.ok(gr.ok && gr.method === 'gradcam' && gr.deletion !== null);
  if (gr.ok) assert.equal((JSON.parse(await readFile(gr.heatmap_json, 'utf8')) as { cam: number[] }).cam.length, 4); // 64² input → 2×2 feature grid

  const d = await explainRun({ run, data: join(data, 'labels.csv'), split: 'test', limit: 4, out: join(dir, 'out2') });
  assert.equal(d.records.length, 4);
  assert.ok(d.sheet && d.summary && d.summaryFile);
  // the deletion check runs by default with --data: one number for the run
  assert.equal(d.faithfulness?.n, 4);
  assert.ok(d.records.every((x) => !x.ok || x.deletion !== null));
  assert.ok(Number.isFinite(d.faithfulness.gain));
  assert.equal(d.summary.overall.n + d.records.filter((x) => x.ok && x.border_mass === null).length, 4);
  assert.equal(d.summary.by_outcome.correct.n + d.summary.by_outcome.incorrect.n, d.summary.overall.n);
  const sheet = await sharp(d.sheet).metadata();
  assert.ok((sheet.width ?? 0) > 400);
});
