/**
 * Test helper: a tiny, untrained but complete run folder (model, preprocess, config, history,
 * splits, an evaluation with predictions) over a few generated PNG images. Not exported.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '../tf.js';
import { covidNet, disposeModel } from '../model/index.js';
import { saveModel } from '../run/modelio.js';
import { CLASSES } from '../types.js';

export async function makeTinyRun(dir: string, opts: { size?: number; crop?: number } = {}): Promise<{ run: string; data: string; images: string[] }> {
  const size = opts.size ?? 64;
  const crop = opts.crop ?? 0.1;
  const data = join(dir, 'data');
  const run = join(dir, 'run');
  const images: string[] = [];
  const rows = ['file,label,patient'];
  for (const [ci, c] of CLASSES.entries()) {
    await mkdir(join(data, c), { recursive: true });
    for (let k = 0; k < 2; k++) {
      const w = 90 + 10 * k;
      const h = 80;
      const px = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px[y * w + x] = (x * 3 + y * 2 + ci * 40 + k * 17) % 256;
      const rel = `${c}/img${k}.png`;
      await sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toFile(join(data, rel));
      images.push(join(data, rel));
      rows.push(`${rel},${c},p${ci}${k}`);
    }
  }
  await writeFile(join(data, 'labels.csv'), rows.join('\n') + '\n');
  await mkdir(run, { recursive: true });
  const model = covidNet({ size, width: 4, fc: 8, seed: 1 });
  await saveModel(model, join(run, 'model'));
  disposeModel(model);
  tf.disposeVariables();
  const json = (name: string, v: unknown) => writeFile(join(run, name), JSON.stringify(v, null, 2));
  await json('preprocess.json', { model: 'single', size, crop, mean: 0.5, std: 0.25, classes: CLASSES });
  await json('config.json', {
    model: 'single', recipe: 'study', data, out: run, size, width: 4, fc: 8, crop, epochs: 3, batch: 8, lr: 1e-3, pairs: 12000,
    valFraction: 0.2, testFraction: 0.2, oneShotTrials: 129, seed: 1, evalBatch: 32, dataRoot: data, dataName: 'data', dataHash: 'x',
    backendUsed: 'cpu', versions: {}, createdAt: '2026-01-01T00:00:00.000Z',
  });
  await writeFile(
    join(run, 'history.jsonl'),
    [1, 2, 3].map((e) => JSON.stringify({ epoch: e, loss: 1.1 - 0.1 * e, val_accuracy: [0.3, 0.5, 0.4][e - 1], val_metric: 'accuracy', best: e === 2, steps: 2, samples: 16, seconds: 1, samples_per_second: 16, lr: 1e-3, batch: 8 })).join('\n') + '\n',
  );
  const files = images.map((f) => f.slice(data.length + 1));
  await json('splits.json', { dataRoot: data, base: data, dataHash: 'x', origin: 'generated', seed: 1, splits: { train: [], val: [], test: files.map((f, i) => ({ file: f, label: CLASSES[Math.floor(i / 2)], patientId: `p${i}` })) }, failed: [] });
  const iv = (v: number | null, n: number) => ({ value: v, lo: v === null ? null : Math.max(0, v - 0.3), hi: v === null ? null : Math.min(1, v + 0.3), x: 0, n });
  const pc = () => ({ support: 2, sensitivity: iv(0.5, 2), specificity: iv(0.75, 4), ppv: iv(0.5, 2), f1: iv(0.5, 4) });
  await json('eval-data-test.json', {
    run, model: 'single', method: 'argmax', data: { root: data, name: 'data' }, split: 'test', selection: 'run-splits', n: 6,
    accuracy: iv(0.5, 6), balanced_accuracy: 0.5, classes: CLASSES,
    confusion: [[1, 1, 0], [0, 1, 1], [1, 0, 1]], per_class: { normal: pc(), pneumonia: pc(), 'COVID-19': pc() },
    predictions: files.map((f, i) => ({ file: f, label: CLASSES[Math.floor(i / 2)], predicted: CLASSES[(Math.floor(i / 2) + (i % 2)) % 3], scores: [0.3, 0.3, 0.4] })),
  });
  return { run, data, images };
}
