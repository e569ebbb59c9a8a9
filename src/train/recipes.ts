/**
 * Siamese training recipes: the model options, the pair sampler and the loss, kept pluggable so a
 * better recipe can be added next to the study's (`RunConfig.recipe`, default `study`).
 */
import * as tf from '../tf.js';
import { optionError } from '../errors.js';
import { pairEpoch, type Pair } from '../data/index.js';
import type { ClassName } from '../types.js';
import type { Rng } from '../util/rng.js';
import { siameseCovidNet, type CovidNetConfig } from '../model/index.js';
import { CONTRASTIVE_RECIPE } from './siamese/contrastive.js';

export interface SiameseRecipe {
  name: string;
  description: string;
  buildModel(config: CovidNetConfig): tf.LayersModel;
  /** The pairs of one epoch, as indices into the training images. */
  pairs(labels: readonly ClassName[], n: number, rng: Rng): Pair[];
  /** Scalar loss from the model output [B, 1] (P(different)) and targets [B, 1] (same 0, different 1). */
  loss(pDifferent: tf.Tensor, target: tf.Tensor): tf.Scalar;
  /**
   * Optional (issue 6): train on class-balanced batches of `--batch` images instead of pairs, the
   * loss taken over every pair inside the batch (`classes` are CLASSES indices). When present the
   * loop ignores `pairs`/`loss` and an epoch is one balanced epoch of images.
   */
  batchLoss?(model: tf.LayersModel, images: tf.Tensor4D, classes: readonly number[], observe?: PairObserver): tf.Scalar;
  /**
   * Optional: the recipe's loss on explicit pairs, from the two images' embeddings and the model's
   * distance head (the validation loss). Absent: `loss` on the head's P(different) of |a − b|.
   */
  pairLoss?(head: tf.layers.Layer, a: tf.Tensor2D, b: tf.Tensor2D, different: tf.Tensor1D): tf.Scalar;
}

/**
 * Called inside a batch loss with the head's P(different) of every pair it forms ([P, 1], pairs
 * i < j in `allPairs` order), so the loop can count pair accuracy without a second forward pass.
 * The tensor is disposed with the loss's intermediates unless the observer keeps it (`tf.keep`).
 */
export type PairObserver = (pDifferent: tf.Tensor) => void;

/** The recipe's loss on pairs (a[i], b[i]) of embeddings with `different[i]` (1 = different classes). */
export function recipePairLoss(recipe: SiameseRecipe, head: tf.layers.Layer, a: tf.Tensor2D, b: tf.Tensor2D, different: tf.Tensor1D): tf.Scalar {
  if (recipe.pairLoss) return recipe.pairLoss(head, a, b, different);
  return tf.tidy(() => recipe.loss(head.apply(tf.abs(tf.sub(a, b))) as tf.Tensor, tf.reshape(different, [-1, 1])));
}

/** Binary cross-entropy on probabilities, clipped as Keras does (epsilon 1e-7). */
export function binaryCrossEntropy(p: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const eps = 1e-7;
    const q = tf.clipByValue(p, eps, 1 - eps);
    const l = tf.add(tf.mul(y, tf.log(q)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, q))));
    return tf.neg(tf.mean(l)) as tf.Scalar;
  });
}

/** The study: Adam + BCE on balanced same/different pairs spread over the class combinations. */
export const STUDY_RECIPE: SiameseRecipe = {
  name: 'study',
  description: 'published recipe: BCE on half same / half different pairs, classes spread evenly',
  buildModel: (c) => siameseCovidNet(c),
  pairs: (labels, n, rng) => pairEpoch(labels as ClassName[], n, rng),
  loss: binaryCrossEntropy,
};

const recipes = new Map<string, SiameseRecipe>([
  [STUDY_RECIPE.name, STUDY_RECIPE],
  [CONTRASTIVE_RECIPE.name, CONTRASTIVE_RECIPE],
]);

/** Add a recipe (e.g. from issue 6's improved training); the name selects it in `RunConfig.recipe`. */
export function registerRecipe(r: SiameseRecipe): void {
  recipes.set(r.name, r);
}

export function getRecipe(name: string): SiameseRecipe {
  const r = recipes.get(name);
  if (!r) throw optionError('--recipe', `one of ${[...recipes.keys()].join(', ')}`, name);
  return r;
}

export function recipeNames(): string[] {
  return [...recipes.keys()];
}
