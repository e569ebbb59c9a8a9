/**
 * Is a heat map faithful to the model? The deletion curve (Petsiuk et al., RISE, 2018): blank the
 * map's cells hottest first, in `steps` equal parts, and follow the explained class's score
 * (probability or template similarity); its area (mean over the fractions 0..1, trapezoid) is low
 * when the map points at what the score depends on. The same is done for `orders` random orders
 * of the same cells; `gain` = random area − heat-map area, > 0 when the map beats random deletion.
 * Blank = 0 in the standardised input (the data set's mean intensity), the value the perturbation
 * maps use. Model-agnostic: the model is a function from inputs to class scores.
 */
import * as tf from '../tf.js';
import { createRng } from '../util/rng.js';
import { seedSummary } from '../evaluate/stats.js';

/** [n, size, size, 1] standardised inputs → per image, per class scores. */
export type ScoreFn = (x: tf.Tensor4D) => number[][];

export interface DeletionOptions {
  /** Parts the cells are deleted in (default min(cells², 16)). */
  steps?: number | undefined;
  /** Random orders to compare with (default 3). */
  orders?: number | undefined;
  /** Seed of the random orders (default 1; the image index is added). */
  seed?: number | undefined;
  /** Inputs per forward (default 32). */
  batch?: number | undefined;
}

export interface DeletionResult {
  /** Score after deleting 0, 1/steps, …, all of the cells, hottest first. */
  curve: number[];
  /** The same, averaged over the random orders. */
  random_curve: number[];
  /** Mean of `curve` over the deleted fraction (trapezoid): lower = more faithful. */
  auc: number;
  random_auc: number;
  /** random_auc − auc: > 0 when the heat map beats random deletion. */
  gain: number;
}

/** The map's cells: `grid`×`grid` cells of `stride` input pixels (the last row and column reach the input's edge). */
export interface DeletionMap {
  map: Float32Array;
  grid: number;
  stride: number;
}

/** Deletion curves of one image (`image`: size×size standardised pixels) for class index `target`. */
export function deletionCurve(score: ScoreFn, image: Float32Array, size: number, heat: DeletionMap, target: number, opts: DeletionOptions & { index?: number } = {}): DeletionResult {
  const cells = heat.grid * heat.grid;
  if (heat.map.length !== cells) throw new RangeError(`heat map has ${heat.map.length} values, expected ${cells}`);
  if (image.length !== size * size) throw new RangeError(`image has ${image.length} pixels, expected ${size * size}`);
  const steps = opts.steps ?? Math.min(cells, 16);
  const nOrders = opts.orders ?? 3;
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (!(Number.isInteger(nOrders) && nOrders >= 1)) throw new RangeError(`orders must be a positive integer, got ${nOrders}`);
  const byHeat = Array.from({ length: cells }, (_, k) => k).sort((a, b) => heat.map[b]! - heat.map[a]! || a - b);
  const rng = createRng((opts.seed ?? 1) + 7919 * (opts.index ?? 0));
  const orders = [byHeat];
  for (let r = 0; r < nOrders; r++) {
    const o = Array.from({ length: cells }, (_, k) => k);
    for (let i = o.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [o[i], o[j]] = [o[j]!, o[i]!];
    }
    orders.push(o);
  }
  // every (order, step) input, built incrementally per order
  const inputs: Float32Array[] = [];
  for (const o of orders) {
    const cur = Float32Array.from(image);
    let done = 0;
    for (let s = 0; s <= steps; s++) {
      const upto = Math.round((s * cells) / steps);
      for (; done < upto; done++) blankCell(cur, size, heat, o[done]!);
      inputs.push(Float32Array.from(cur));
    }
  }
  const scores = scoreAll(score, inputs, size, target, opts.batch ?? 32);
  const per = steps + 1;
  const curve = scores.slice(0, per);
  const random_curve = Array.from({ length: per }, (_, s) => {
    let sum = 0;
    for (let r = 1; r <= nOrders; r++) sum += scores[r * per + s]!;
    return sum / nOrders;
  });
  const auc = area(curve);
  const random_auc = area(random_curve);
  return { curve, random_curve, auc, random_auc, gain: random_auc - auc };
}

/** Mean over [0, 1] of a curve sampled at equal steps (trapezoid rule). */
export function area(curve: readonly number[]): number {
  if (curve.length < 2) return curve[0] ?? NaN;
  let s = 0;
  for (let i = 1; i < curve.length; i++) s += (curve[i - 1]! + curve[i]!) / 2;
  return s / (curve.length - 1);
}

export interface FaithfulnessSummary {
  n: number;
  /** Mean deletion area of the heat maps and of random deletion. */
  auc: number;
  random_auc: number;
  /** Mean gain (random − heat map) with its 95% t interval over images: the run's one number. */
  gain: number;
  gain_lo: number;
  gain_hi: number;
  /** Share of images whose map beats random deletion. */
  beats_random: number;
  /** Whether the interval lies above 0. */
  better_than_random: boolean;
}

export function summariseFaithfulness(rs: readonly Pick<DeletionResult, 'auc' | 'random_auc' | 'gain'>[]): FaithfulnessSummary | null {
  if (rs.length === 0) return null;
  const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const g = seedSummary(rs.map((r) => r.gain));
  const lo = rs.length > 1 ? g.lo : NaN;
  return {
    n: rs.length,
    auc: mean(rs.map((r) => r.auc)),
    random_auc: mean(rs.map((r) => r.random_auc)),
    gain: g.mean,
    gain_lo: lo,
    gain_hi: rs.length > 1 ? g.hi : NaN,
    beats_random: rs.filter((r) => r.gain > 0).length / rs.length,
    better_than_random: lo > 0,
  };
}

function blankCell(img: Float32Array, size: number, heat: DeletionMap, k: number): void {
  const i = Math.floor(k / heat.grid);
  const j = k % heat.grid;
  const x0 = j * heat.stride;
  const y0 = i * heat.stride;
  const x1 = j === heat.grid - 1 ? size : Math.min(size, x0 + heat.stride);
  const y1 = i === heat.grid - 1 ? size : Math.min(size, y0 + heat.stride);
  for (let y = y0; y < y1; y++) img.fill(0, y * size + x0, y * size + x1);
}

function scoreAll(score: ScoreFn, inputs: readonly Float32Array[], size: number, target: number, batch: number): number[] {
  const out: number[] = [];
  const px = size * size;
  for (let s = 0; s < inputs.length; s += batch) {
    const part = inputs.slice(s, s + batch);
    const buf = new Float32Array(part.length * px);
    part.forEach((p, i) => buf.set(p, i * px));
    const t = tf.tensor4d(buf, [part.length, size, size, 1]);
    try {
      for (const row of score(t)) out.push(row[target]!);
    } finally {
      t.dispose();
    }
  }
  return out;
}
