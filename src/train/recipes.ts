/**
 * Siamese training recipes: the model options, the pair sampler and the loss, kept pluggable so a
 * better recipe can be added next to the study's (`RunConfig.recipe`; the types are in recipe.ts).
 */
import * as tf from '../tf.js';
import { optionError } from '../errors.js';
import { pairEpoch } from '../data/index.js';
import type { ClassName } from '../types.js';
import { probabilityDifferent, siameseCovidNet } from '../model/index.js';
import type { PairRecipe, SiameseRecipe } from './recipe.js';
import { CONTRASTIVE_RECIPE } from './siamese/contrastive.js';

export type { BatchRecipe, PairObserver, PairRecipe, SiameseRecipe } from './recipe.js';

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
export const STUDY_RECIPE: PairRecipe = {
  kind: 'pairs',
  name: 'study',
  description: 'published recipe: BCE on half same / half different pairs, classes spread evenly',
  buildModel: (c) => siameseCovidNet(c),
  pairs: (labels, n, rng) => pairEpoch(labels as ClassName[], n, rng),
  headLoss: binaryCrossEntropy,
  pairLoss: (head, a, b, different) => tf.tidy(() => binaryCrossEntropy(probabilityDifferent(head, a, b), tf.reshape(different, [-1, 1]))),
};

const recipes = new Map<string, SiameseRecipe>([
  [STUDY_RECIPE.name, STUDY_RECIPE],
  [CONTRASTIVE_RECIPE.name, CONTRASTIVE_RECIPE],
]);

/** Add a recipe; its name selects it in `RunConfig.recipe`. */
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
