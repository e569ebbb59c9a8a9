/**
 * Batched inference over prepared images (validation, templates, evaluation, prediction).
 * Inputs are built per batch from the 8-bit `PreparedSet`, so memory stays at one batch.
 */
import * as tf from '../tf.js';
import type { NormStats, PreparedSet } from '../data/types.js';
// the modules themselves, not the data barrel: this one is bundled for the browser (src/web)
import { toModelInput } from '../data/norm.js';
import { oneShotTrials } from '../data/samplers.js';
import { classesOf, classIndex, type ClassName } from '../types.js';
import { createRng } from '../util/rng.js';
import { logitDifferent, probabilityDifferent, siameseParts } from './covidnet.js';

/**
 * Runs a one-input model forward for inference: its outputs as a list (the caller disposes them).
 * `TFJS_FORWARD` is `model.predict`; on the onednn backend callers in Node pass the native compiled
 * plan (src/backend/plan.ts `PlanRunner`), which gives the same values (1e-5). This module stays
 * browser-safe: it never imports the plan itself.
 */
export interface ModelForward {
  run(model: tf.LayersModel, x: tf.Tensor4D): tf.Tensor[];
  dispose?(): void;
}

export const TFJS_FORWARD: ModelForward = {
  run(model, x) {
    const y = model.predict(x);
    return Array.isArray(y) ? y : [y];
  },
};

/** Run `model` (one image input, output [n, k]) over `indices` of `set`; returns n rows of k values. */
export async function predictRows(
  model: tf.LayersModel,
  set: PreparedSet,
  indices: readonly number[],
  stats: NormStats,
  batch: number,
  forward: ModelForward = TFJS_FORWARD,
): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (let i = 0; i < indices.length; i += batch) {
    const idx = indices.slice(i, i + batch);
    const data = toModelInput(set, idx as number[], stats);
    const out = tf.tidy(() => forward.run(model, tf.tensor4d(data, [idx.length, set.size, set.size, 1]))[0] as tf.Tensor2D);
    const vals = await out.data();
    const k = out.shape[1];
    out.dispose();
    for (let r = 0; r < idx.length; r++) rows.push(Float32Array.from(vals.subarray(r * k, (r + 1) * k)));
  }
  return rows;
}

/** Embeddings of a siamese model's encoder for `indices` of `set`. */
export function embedImages(
  siamese: tf.LayersModel,
  set: PreparedSet,
  indices: readonly number[],
  stats: NormStats,
  batch: number,
  forward: ModelForward = TFJS_FORWARD,
): Promise<Float32Array[]> {
  return predictRows(siameseParts(siamese).encoder, set, indices, stats, batch, forward);
}

/**
 * P(different) for pairs of embeddings (left[i], right[i]) with the siamese net's learned head
 * σ(Σ αᵢ|aᵢ − bᵢ| + β), in one batch.
 */
export function pairProbabilityDifferent(siamese: tf.LayersModel, left: readonly Float32Array[], right: readonly Float32Array[]): Float32Array {
  const { distance } = siameseParts(siamese);
  const n = left.length;
  if (n === 0) return new Float32Array(0);
  const dim = left[0]!.length;
  const a = new Float32Array(n * dim);
  const b = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    a.set(left[i]!, i * dim);
    b.set(right[i]!, i * dim);
  }
  const d = tf.tidy(() => tf.reshape(probabilityDifferent(distance, tf.tensor2d(a, [n, dim]), tf.tensor2d(b, [n, dim])), [-1]));
  const out = d.dataSync() as Float32Array;
  d.dispose();
  return out;
}

/** rows[i][j] = P(different) between embedding i and reference j (e.g. class templates). */
export function probabilityDifferentTable(siamese: tf.LayersModel, embeddings: readonly Float32Array[], refs: readonly Float32Array[]): Float32Array[] {
  const left: Float32Array[] = [];
  const right: Float32Array[] = [];
  for (const e of embeddings) for (const r of refs) {
    left.push(e);
    right.push(r);
  }
  const d = pairProbabilityDifferent(siamese, left, right);
  return embeddings.map((_, i) => d.slice(i * refs.length, (i + 1) * refs.length));
}

/** Index of the largest value (the first on ties): the predicted class of a row of scores. */
export function argmax(r: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < r.length; j++) if (r[j]! > r[best]!) best = j;
  return best;
}

/**
 * Similarity 1 − P(different) of each embedding to each class template: the siamese net's class
 * scores, as evaluate, predict and the template validation read them (argmax = closest template).
 */
export function templateSimilarity(siamese: tf.LayersModel, embeddings: readonly Float32Array[], templates: readonly ArrayLike<number>[]): Float32Array[] {
  return probabilityDifferentTable(siamese, embeddings, templates.map((t) => Float32Array.from(t))).map((r) => r.map((v) => 1 - v));
}

/**
 * The logits of the template similarities: u = −z, z the pre-sigmoid output of the distance head
 * (σ(u) = 1 − P(different) = the similarity), rows[i][j] for embedding i and template j. The
 * siamese calibration works on u: the similarity itself saturates at 1 in float32.
 */
export function templateSimilarityLogits(siamese: tf.LayersModel, embeddings: readonly Float32Array[], templates: readonly ArrayLike<number>[]): Float32Array[] {
  const { distance } = siameseParts(siamese);
  const n = embeddings.length;
  const k = templates.length;
  if (n === 0) return [];
  const dim = embeddings[0]!.length;
  const a = new Float32Array(n * k * dim);
  const b = new Float32Array(n * k * dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) {
    a.set(embeddings[i]!, (i * k + j) * dim);
    b.set(Float32Array.from(templates[j]!), (i * k + j) * dim);
  }
  const z = tf.tidy(() => tf.neg(tf.reshape(logitDifferent(distance, tf.tensor2d(a, [n * k, dim]), tf.tensor2d(b, [n * k, dim])), [-1])));
  const out = z.dataSync() as Float32Array;
  z.dispose();
  return embeddings.map((_, i) => out.slice(i * k, (i + 1) * k));
}

/** Class templates: the mean embedding of each class's images, in `classes` order, with the counts. */
export function classTemplates(embeddings: readonly Float32Array[], labels: readonly ClassName[], classes: readonly ClassName[]): { templates: Float32Array[]; counts: number[] } {
  const templates: Float32Array[] = [];
  const counts: number[] = [];
  for (const c of classes) {
    const rows = embeddings.filter((_, i) => labels[i] === c);
    counts.push(rows.length);
    templates.push(meanRow(rows));
  }
  return { templates, counts };
}

/** Mean of rows (a class template). */
export function meanRow(rows: readonly Float32Array[]): Float32Array {
  const m = new Float32Array(rows[0]?.length ?? 0);
  for (const r of rows) for (let j = 0; j < m.length; j++) m[j] += r[j]!;
  for (let j = 0; j < m.length; j++) m[j] /= Math.max(rows.length, 1);
  return m;
}

/** Embeddings of `indices` of `set` (in that order), however the caller makes model inputs. */
export type ImageEmbedder = (set: PreparedSet, indices: readonly number[]) => Promise<Float32Array[]>;

/**
 * n-way one-shot trials (3-way for the study's classes): each query (an evaluated image) is compared with one training image of
 * each class; the closest (smallest P(different)) gives the predicted class.
 */
export function oneShotPredictions(
  model: tf.LayersModel,
  query: PreparedSet,
  support: PreparedSet,
  stats: NormStats,
  n: number,
  seed: number,
  batch: number,
  forward: ModelForward = TFJS_FORWARD,
): Promise<{ truth: number[]; pred: number[] }> {
  return oneShotPredictionsWith(model, (set, idx) => embedImages(model, set, idx, stats, batch, forward), query, support, n, seed);
}

/** `oneShotPredictions` with the embeddings from `embed` (a loaded run's own input path). */
export async function oneShotPredictionsWith(
  model: tf.LayersModel,
  embed: ImageEmbedder,
  query: PreparedSet,
  support: PreparedSet,
  n: number,
  seed: number,
): Promise<{ truth: number[]; pred: number[] }> {
  const qLabels = query.items.map((it) => it.label);
  const sLabels = support.items.map((it) => it.label);
  const ts = oneShotTrials(qLabels, sLabels, n, createRng(seed));
  // only the images the trials use are embedded
  const qIdx = [...new Set(ts.map((t) => t.query))];
  const sIdx = [...new Set(ts.flatMap((t) => [...t.support]))];
  const qEmb: Float32Array[] = [];
  const sEmb: Float32Array[] = [];
  (await embed(query, qIdx)).forEach((e, i) => (qEmb[qIdx[i]!] = e));
  (await embed(support, sIdx)).forEach((e, i) => (sEmb[sIdx[i]!] = e));
  return scoreTrials(model, ts, qLabels, sLabels, qEmb, sEmb);
}

/**
 * `oneShotPredictions` on embeddings already computed: `qEmb[i]` / `sEmb[i]` belong to the i-th
 * query / support image (for callers that embed the whole sets anyway, like training validation).
 */
export function oneShotFromEmbeddings(
  model: tf.LayersModel,
  qLabels: readonly ClassName[],
  sLabels: readonly ClassName[],
  qEmb: readonly Float32Array[],
  sEmb: readonly Float32Array[],
  n: number,
  seed: number,
): { truth: number[]; pred: number[] } {
  return scoreTrials(model, oneShotTrials(qLabels, sLabels, n, createRng(seed)), qLabels, sLabels, qEmb, sEmb);
}

function scoreTrials(
  model: tf.LayersModel,
  ts: ReturnType<typeof oneShotTrials>,
  qLabels: readonly ClassName[],
  sLabels: readonly ClassName[],
  qEmb: readonly Float32Array[],
  sEmb: readonly Float32Array[],
): { truth: number[]; pred: number[] } {
  // the trials' class order (a support per class); truth and prediction are indices into it
  const classes = classesOf(sLabels);
  const left: Float32Array[] = [];
  const right: Float32Array[] = [];
  for (const t of ts) for (const si of t.support) {
    left.push(qEmb[t.query]!);
    right.push(sEmb[si]!);
  }
  const d = pairProbabilityDifferent(model, left, right);
  const truth: number[] = [];
  const pred: number[] = [];
  let k = 0;
  for (const t of ts) {
    let best = 0;
    for (let j = 1; j < t.support.length; j++) if (d[k + j]! < d[k + best]!) best = j;
    k += t.support.length;
    truth.push(classIndex(qLabels[t.query]!, classes));
    pred.push(classIndex(sLabels[t.support[best]!]!, classes));
  }
  return { truth, pred };
}
