/**
 * Validation metrics of both nets, computed on in-memory models during training (a run folder's
 * model is scored through RunModel instead). Single net: argmax accuracy and cross-entropy from one
 * inference pass. Siamese net: 3-way one-shot accuracy (the study's), closest-template accuracy
 * (the rule evaluate and predict use) and the recipe's loss on fixed validation pairs, all from one
 * embedding pass over the training and validation images.
 */
import * as tf from '../tf.js';
import { pairEpoch } from '../data/index.js';
import type { NormStats, PreparedSet } from '../data/types.js';
import { classIndex, type ClassName } from '../types.js';
import { TEMPLATES_FORMAT_VERSION } from '../run/files.js';
import { createRng } from '../util/rng.js';
import { argmax, classTemplates, embedImages, oneShotFromEmbeddings, oneShotPredictions, predictRows, probabilityDifferent, siameseParts, templateSimilarity, type ModelForward } from '../model/index.js';
import { PlanRunner } from '../backend/plan.js';
import type { TemplatesFile } from '../run/files.js';
import type { SiameseRecipe } from './recipe.js';
import { PairTally } from './tally.js';

/**
 * `f` with the inference forward of covidnet's Node side: the compiled native plan on onednn
 * (src/backend/plan.ts; it reads the weights as they are now, so it is exact mid-training), freed after.
 */
async function withPlan<T>(f: (forward: ModelForward) => Promise<T>): Promise<T> {
  const runner = new PlanRunner();
  try {
    return await f(runner);
  } finally {
    runner.dispose();
  }
}

/**
 * Validation accuracy (argmax) and mean categorical cross-entropy (Keras clipping, 1e-7) of the
 * single net, both from one inference pass over `set`.
 */
export async function singleValidation(model: tf.LayersModel, set: PreparedSet, stats: NormStats, batch: number, classes: readonly ClassName[]): Promise<{ accuracy: number; loss: number }> {
  const idx = set.items.map((_, i) => i);
  const rows = await withPlan((fw) => predictRows(model, set, idx, stats, batch, fw));
  let ok = 0;
  let ce = 0;
  rows.forEach((r, i) => {
    const t = classIndex(set.items[i]!.label, classes);
    if (argmax(r) === t) ok++;
    ce -= Math.log(Math.min(Math.max(r[t]!, 1e-7), 1 - 1e-7));
  });
  return rows.length ? { accuracy: ok / rows.length, loss: ce / rows.length } : { accuracy: 0, loss: NaN };
}

/** Validation accuracy of the single net (argmax). */
export async function singleAccuracy(model: tf.LayersModel, set: PreparedSet, stats: NormStats, batch: number, classes: readonly ClassName[]): Promise<number> {
  return (await singleValidation(model, set, stats, batch, classes)).accuracy;
}

/** Validation pairs per epoch for the siamese validation loss (drawn once per run, seeded). */
export const VAL_PAIRS = 512;

/**
 * The recipe's loss and the pair accuracy on `nPairs` fixed pairs of a set (half same, half
 * different, from the pair sampler with its own seed, so every epoch sees the same pairs and the
 * training RNG is untouched), from the embeddings of the set's images (`emb[i]` for image i, with
 * `labels[i]`). NaN when the set gives no pairs.
 */
export function siamesePairValidation(
  model: tf.LayersModel,
  recipe: SiameseRecipe,
  labels: readonly ClassName[],
  emb: readonly Float32Array[],
  nPairs: number,
  seed: number,
): { loss: number; pairAccuracy: number } {
  const pairs = pairEpoch(labels, nPairs, createRng(seed));
  if (pairs.length === 0) return { loss: NaN, pairAccuracy: NaN };
  const dim = emb[0]!.length;
  const a = new Float32Array(pairs.length * dim);
  const b = new Float32Array(pairs.length * dim);
  pairs.forEach((p, i) => {
    a.set(emb[p.a]!, i * dim);
    b.set(emb[p.b]!, i * dim);
  });
  const different = pairs.map((p) => (p.same ? 0 : 1));
  const { distance } = siameseParts(model);
  const [loss, pd] = tf.tidy(() => {
    const ta = tf.tensor2d(a, [pairs.length, dim]);
    const tb = tf.tensor2d(b, [pairs.length, dim]);
    return [recipe.pairLoss(distance, ta, tb, tf.tensor1d(different)), probabilityDifferent(distance, ta, tb)];
  });
  const lossValue = loss.dataSync()[0]!;
  const tally = new PairTally();
  tally.add(pd.dataSync(), different);
  tf.dispose([loss, pd]);
  return { loss: lossValue, pairAccuracy: tally.value() };
}

export interface SiameseValidation {
  /** 3-way one-shot accuracy (the study's). */
  oneShot: number;
  /** Accuracy of the closest class template (the rule evaluate and predict use). */
  template: number;
  /** The recipe's loss and pair accuracy on the fixed validation pairs. */
  loss: number;
  pairAccuracy: number;
}

/**
 * All siamese validation metrics of an epoch from one embedding pass over the training and the
 * validation images (the one-shot supports and the templates come from the training images,
 * queries and pairs from the validation images).
 */
export async function siameseValidation(
  model: tf.LayersModel,
  recipe: SiameseRecipe,
  data: { train: PreparedSet; val: PreparedSet; stats: NormStats },
  classes: readonly ClassName[],
  opts: { trials: number; oneShotSeed: number; pairSeed: number; batch: number },
): Promise<SiameseValidation> {
  const all = (set: PreparedSet): number[] => set.items.map((_, i) => i);
  const valLabels = data.val.items.map((it) => it.label);
  const trainLabels = data.train.items.map((it) => it.label);
  const [valEmb, trainEmb] = await withPlan(async (fw) => [
    await embedImages(model, data.val, all(data.val), data.stats, opts.batch, fw),
    await embedImages(model, data.train, all(data.train), data.stats, opts.batch, fw),
  ]);
  const os = oneShotFromEmbeddings(model, valLabels, trainLabels, valEmb, trainEmb, opts.trials, opts.oneShotSeed);
  const { templates } = classTemplates(trainEmb, trainLabels, classes);
  const sim = templateSimilarity(model, valEmb, templates);
  const pairs = siamesePairValidation(model, recipe, valLabels, valEmb, VAL_PAIRS, opts.pairSeed);
  return {
    oneShot: os.truth.length ? os.truth.filter((t, i) => t === os.pred[i]).length / os.truth.length : 0,
    template: sim.length ? sim.filter((r, i) => classes[argmax(r)] === valLabels[i]).length / sim.length : NaN,
    ...pairs,
  };
}

/**
 * 3-way one-shot accuracy: each trial compares a query with one support image per class and
 * predicts the class of the closest (smallest P(different)).
 */
export async function oneShotAccuracy(
  model: tf.LayersModel,
  query: PreparedSet,
  support: PreparedSet,
  stats: NormStats,
  trials: number,
  seed: number,
  batch: number,
): Promise<number> {
  const { truth, pred } = await withPlan((fw) => oneShotPredictions(model, query, support, stats, trials, seed, batch, fw));
  return truth.length ? truth.filter((t, i) => t === pred[i]).length / truth.length : 0;
}

/** Mean embedding per class over all training images, with the run's best model. */
export async function computeTemplates(model: tf.LayersModel, train: PreparedSet, stats: NormStats, batch: number, classes: readonly ClassName[]): Promise<TemplatesFile> {
  const idx = train.items.map((_, i) => i);
  const emb = await withPlan((fw) => embedImages(model, train, idx, stats, batch, fw));
  const { templates, counts } = classTemplates(emb, train.items.map((it) => it.label), classes);
  return { version: TEMPLATES_FORMAT_VERSION, classes: [...classes], templates: templates.map((t) => Array.from(t)), counts, added: [] };
}
