/**
 * Helpers for the planted-mark localisation tests (single and siamese Grad-CAM): generated images
 * in which only a small planted mark decides the class (normal: no mark, pneumonia: a bright
 * square, COVID-19: a dark square, anywhere in the crop box over a random smooth background), and
 * the "peak on the mark" count. Originals are 160² with a 10% crop (box 16..144 = the 128² input),
 * so the crop mapping is exercised without resampling the mark away. Not exported from the package
 * index.
 */
import * as tf from '../tf.js';
import { CLASSES } from '../types.js';
import { cellCentre, makeGeometry } from './geometry.js';
import { camPeak } from './stats.js';
import type { CamResult } from './gradcam.js';
import { covidNet } from '../model/covidnet.js';
import { argmax, classTemplates, siameseParts, templateSimilarity } from '../model/index.js';
import { CONTRASTIVE_RECIPE } from '../train/siamese/contrastive.js';
import { balancedEpoch } from '../data/index.js';
import { createRng } from '../util/rng.js';

export const ORIG = 160;
export const CROP = 16;
export const SIZE = 128;
export const MARK = 12;

export interface MarkSample {
  orig: Float32Array;
  /** CLASSES index. */
  label: number;
  /** Mark box corner in original pixels, undefined for class 0. */
  mark?: { x: number; y: number };
}

export function makeSample(rng: () => number, label: number): MarkSample {
  const img = new Float32Array(ORIG * ORIG);
  // smooth background: a few broad random blobs plus pixel noise
  const blobs = Array.from({ length: 4 }, () => ({ x: rng() * ORIG, y: rng() * ORIG, s: 20 + rng() * 40, a: (rng() - 0.5) * 0.4 }));
  for (let y = 0; y < ORIG; y++) {
    for (let x = 0; x < ORIG; x++) {
      let v = 0.45;
      for (const b of blobs) v += b.a * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.s * b.s));
      img[y * ORIG + x] = v + (rng() - 0.5) * 0.1;
    }
  }
  if (label === 0) return { orig: img, label };
  const mx = CROP + 4 + Math.floor(rng() * (SIZE - MARK - 8));
  const my = CROP + 4 + Math.floor(rng() * (SIZE - MARK - 8));
  const val = label === 1 ? 1 : 0;
  for (let y = my; y < my + MARK; y++) for (let x = mx; x < mx + MARK; x++) img[y * ORIG + x] = val;
  return { orig: img, label, mark: { x: mx, y: my } };
}

/** n samples with classes 0, 1, 2, 0, 1, 2, … (balanced). */
export function makeSamples(rng: () => number, n: number): MarkSample[] {
  return Array.from({ length: n }, (_, i) => makeSample(rng, i % 3));
}

/** The crop box of the original, standardised: the network input [n, SIZE, SIZE, 1]. */
export function toInput(samples: readonly MarkSample[]): tf.Tensor4D {
  const buf = new Float32Array(samples.length * SIZE * SIZE);
  samples.forEach((s, i) => {
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) buf[i * SIZE * SIZE + y * SIZE + x] = (s.orig[(y + CROP) * ORIG + x + CROP]! - 0.45) / 0.2;
    }
  });
  return tf.tensor4d(buf, [samples.length, SIZE, SIZE, 1]);
}

/** Float one-hot rows built in JS: mixing int32 tensors into float maths is avoided on purpose. */
export function oneHotF32(labels: readonly number[]): tf.Tensor2D {
  const a = new Float32Array(labels.length * 3);
  labels.forEach((l, i) => (a[i * 3 + l] = 1));
  return tf.tensor2d(a, [labels.length, 3]);
}

export interface MarkScore {
  /** Marked test images (classes 1 and 2). */
  marked: number;
  /** Marked images whose heat-map peak cell overlaps the mark. */
  hits: number;
  /** Images (all classes) whose predicted class is the true one. */
  correct: number;
  /** Marked images whose map is all zero (no positive evidence; counted as misses). */
  empty: number;
  /** Expected `hits` of a peak cell drawn uniformly at random: Σ over marked images of (cells overlapping the mark) / cells. */
  chance: number;
}

/**
 * "Falls on the mark": the map cell of the peak (its `stride` input pixels: 32 for Grad-CAM at
 * `feature_sum`, 16 for the default perturbation maps) overlaps the mark. `chance` says how many
 * hits a random peak would score on these very marks. A flat map (no positive evidence) is a miss.
 */
export function scorePeaks(res: readonly CamResult[], samples: readonly MarkSample[]): MarkScore {
  const out: MarkScore = { marked: 0, hits: 0, correct: 0, empty: 0, chance: 0 };
  res.forEach((r, i) => {
    const s = samples[i]!;
    if (r.predicted === CLASSES[s.label]) out.correct++;
    if (!s.mark) return;
    const grid = r.grid;
    const g = makeGeometry(ORIG, ORIG, { left: CROP, top: CROP, width: SIZE, height: SIZE }, SIZE, grid, r.stride);
    const half = (g.stride * g.box.width) / g.size / 2; // half a cell in original pixels
    const onMark = (p: { x: number; y: number }, m: { x: number; y: number }): boolean =>
      p.x + half > m.x && p.x - half < m.x + MARK && p.y + half > m.y && p.y - half < m.y + MARK;
    out.marked++;
    let cells = 0;
    for (let row = 0; row < grid; row++) {
      for (let col = 0; col < grid; col++) {
        const c = cellCentre(g, row, col); // rounded as camPeak rounds
        if (onMark({ x: Math.round(c.x), y: Math.round(c.y) }, s.mark)) cells++;
      }
    }
    out.chance += cells / (grid * grid);
    if (r.flat) {
      out.empty++;
      return;
    }
    if (onMark(camPeak(r.cam, g), s.mark)) out.hits++;
  });
  return out;
}

export interface TrainedMarks {
  model: tf.LayersModel;
  /** The learning rate of the training that was kept. */
  lr: number;
  /** Siamese: class templates (mean training embedding per class, CLASSES order). */
  templates?: number[][];
  epochs: number;
  trainAcc: number;
  test: MarkSample[];
}

/**
 * A tiny single COVID-Net (128², width 8, fc 32, no dropout) trained on 192 planted-mark images
 * with Adam (3e-3) until 97% training accuracy (at most `maxEpochs`); `seed` draws the data and the
 * weights. A training that has not learnt the task (training accuracy < 90%: seed 5 stalls at 0.69
 * after 20 epochs at 3e-3) is redone from scratch at a third of the rate (seed 5: 0.97 after 11
 * epochs at 1e-3): the tests built on this check heat maps, not the optimiser.
 */
export function trainSingleOnMarks(seed: number, opts: { maxEpochs?: number; lr?: number; verbose?: boolean } = {}): TrainedMarks {
  const lr = opts.lr ?? 3e-3;
  const first = trainSingleOnce(seed, { ...opts, lr });
  if (first.trainAcc >= 0.9) return first;
  first.model.dispose();
  return trainSingleOnce(seed, { ...opts, lr: lr / 3 });
}

function trainSingleOnce(seed: number, opts: { maxEpochs?: number; lr: number; verbose?: boolean }): TrainedMarks {
  const r0 = createRng(20260101 + seed);
  const rng = (): number => r0.next();
  const train = makeSamples(rng, 192);
  const test = makeSamples(rng, 60);
  const model = covidNet({ size: SIZE, width: 8, fc: 32, seed, dropout: [0, 0, 0] });
  const x = toInput(train);
  const opt = tf.train.adam(opts.lr);
  const order = train.map((_, i) => i);
  let trainAcc = 0;
  let epochs = 0;
  while (epochs < (opts.maxEpochs ?? 20) && trainAcc < 0.97) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let right = 0;
    for (let s = 0; s < order.length; s += 16) {
      const ids = order.slice(s, s + 16);
      const idx = tf.tensor1d(ids, 'int32');
      const xb = tf.gather(x, idx);
      const labels = ids.map((i) => train[i]!.label);
      // one-hot targets built as float32 in JS (no integer tensors: see oneHotF32)
      const yb = oneHotF32(labels);
      let probs: Float32Array | undefined;
      const loss = opt.minimize(() => {
        const p = model.apply(xb, { training: true }) as tf.Tensor2D;
        probs = p.dataSync() as Float32Array;
        return tf.neg(tf.mean(tf.sum(tf.mul(yb, tf.log(tf.clipByValue(p, 1e-7, 1))), 1))) as tf.Scalar;
      }, true);
      labels.forEach((l, k) => {
        const row = Array.from(probs!.subarray(3 * k, 3 * k + 3));
        if (row.indexOf(Math.max(...row)) === l) right++;
      });
      tf.dispose([idx, xb, yb, loss!]);
    }
    trainAcc = right / order.length;
    epochs++;
    if (opts.verbose) console.log(`# single seed ${seed} epoch ${epochs}: train acc ${trainAcc.toFixed(3)}`);
  }
  opt.dispose();
  x.dispose();
  return { model, lr: opts.lr, epochs, trainAcc, test };
}

/** Mean embedding per class (CLASSES order) of the encoder over `x`, and the embeddings. */
function templatesOf(model: tf.LayersModel, x: tf.Tensor4D, samples: readonly MarkSample[]): { templates: Float32Array[]; embeddings: Float32Array[] } {
  const e = siameseParts(model).encoder.predict(x) as tf.Tensor2D;
  const k = e.shape[1];
  const flat = e.dataSync() as Float32Array;
  e.dispose();
  const embeddings = samples.map((_, i) => flat.slice(i * k, (i + 1) * k));
  const { templates } = classTemplates(embeddings, samples.map((s) => CLASSES[s.label]!), CLASSES);
  return { templates, embeddings };
}

/**
 * A tiny siamese COVID-Net (128², width 8, fc 32, no dropout) trained from scratch with the
 * library's default `contrastive` recipe (its model: L2-normalised embedding, metric distance
 * head; its batch loss over all pairs of class-balanced batches of 16; Adam 3e-3; the weight
 * constraints after each step, as src/train/train.ts) on 144 images until the nearest-template
 * accuracy on them reaches 97%, at most `maxEpochs`. Templates as templates.json.
 */
export function trainSiameseOnMarks(seed: number, opts: { maxEpochs?: number; lr?: number; batch?: number; verbose?: boolean } = {}): TrainedMarks {
  const r0 = createRng(20260101 + seed);
  const rng = (): number => r0.next();
  const train = makeSamples(rng, 144);
  const test = makeSamples(rng, 60);
  const batch = opts.batch ?? 16;
  const model = CONTRASTIVE_RECIPE.buildModel({ size: SIZE, width: 8, fc: 32, seed, dropout: [0, 0, 0] });
  const x = toInput(train);
  const labels = train.map((s) => CLASSES[s.label]!);
  const opt = tf.train.adam(opts.lr ?? 3e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let trainAcc = 0;
  let epochs = 0;
  let tpl = templatesOf(model, x, train);
  while (epochs < (opts.maxEpochs ?? 20) && trainAcc < 0.97) {
    const order = balancedEpoch(labels, r0);
    for (let s = 0; s + 1 < order.length; s += batch) {
      const ids = order.slice(s, s + batch);
      const idx = tf.tensor1d(ids, 'int32');
      const xb = tf.gather(x, idx) as tf.Tensor4D;
      const { value, grads } = tf.variableGrads(() => CONTRASTIVE_RECIPE.batchLoss!(model, xb, ids.map((i) => train[i]!.label)), vars);
      opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      for (const w of model.trainableWeights) if (w.constraint) tf.tidy(() => (w.read() as tf.Variable).assign(w.constraint.apply(w.read())));
      tf.dispose([idx, xb, value, ...Object.values(grads)]);
    }
    epochs++;
    tpl = templatesOf(model, x, train);
    const sim = templateSimilarity(model, tpl.embeddings, tpl.templates);
    trainAcc = sim.filter((row, i) => argmax(row) === train[i]!.label).length / train.length;
    if (opts.verbose) console.log(`# siamese seed ${seed} epoch ${epochs}: template acc ${trainAcc.toFixed(3)}`);
  }
  opt.dispose();
  x.dispose();
  return { model, lr: opts.lr ?? 3e-3, templates: tpl.templates.map((r) => Array.from(r)), epochs, trainAcc, test };
}
