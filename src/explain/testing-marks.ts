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
 * "Falls on the mark": the feature cell of the peak (32×32 input pixels, Grad-CAM's resolution at
 * `feature_sum`) overlaps the mark. By chance about 1 to 4 of the 16 cells overlap it (`chance`
 * says how many hits a random peak would score on these very marks).
 */
export function scorePeaks(res: readonly CamResult[], samples: readonly MarkSample[], grid: number): MarkScore {
  const g = makeGeometry(ORIG, ORIG, { left: CROP, top: CROP, width: SIZE, height: SIZE }, SIZE, grid);
  const half = (g.stride * g.box.width) / g.size / 2; // half a cell in original pixels
  const onMark = (p: { x: number; y: number }, m: { x: number; y: number }): boolean =>
    p.x + half > m.x && p.x - half < m.x + MARK && p.y + half > m.y && p.y - half < m.y + MARK;
  const out: MarkScore = { marked: 0, hits: 0, correct: 0, empty: 0, chance: 0 };
  res.forEach((r, i) => {
    const s = samples[i]!;
    if (r.predicted === CLASSES[s.label]) out.correct++;
    if (!s.mark) return;
    out.marked++;
    let cells = 0;
    for (let row = 0; row < grid; row++) {
      for (let col = 0; col < grid; col++) {
        const c = cellCentre(g, row, col); // rounded as camPeak rounds
        if (onMark({ x: Math.round(c.x), y: Math.round(c.y) }, s.mark)) cells++;
      }
    }
    out.chance += cells / (grid * grid);
    // an all-zero map has no peak (camPeak would answer cell 0): a miss
    if (r.cam.every((v) => v === 0)) {
      out.empty++;
      return;
    }
    if (onMark(camPeak(r.cam, g), s.mark)) out.hits++;
  });
  return out;
}
