/**
 * What a siamese training recipe is (the types only, so recipes and the registry import them
 * without importing each other). A recipe trains either on pairs of images (`kind: 'pairs'`, the
 * study's) or on class-balanced batches of images with every pair inside a batch (`kind: 'batch'`).
 */
import type * as tf from '../tf.js';
import type { Pair } from '../data/index.js';
import type { ClassName } from '../types.js';
import type { Rng } from '../util/rng.js';
import type { CovidNetConfig } from '../model/index.js';

/**
 * Called inside a batch loss with the head's P(different) of every pair it forms ([P, 1]) and
 * whether each pair is different (1) or same (0), so the loop can count pair accuracy without a
 * second forward pass. The tensor is disposed with the loss's intermediates unless the observer
 * keeps it (`tf.keep`).
 */
export type PairObserver = (pDifferent: tf.Tensor, different: readonly number[]) => void;

interface RecipeBase {
  name: string;
  description: string;
  buildModel(config: CovidNetConfig): tf.LayersModel;
  /** The loss on the head's output [B, 1] (P(different)) against targets [B, 1] (same 0, different 1). */
  headLoss(pDifferent: tf.Tensor, target: tf.Tensor): tf.Scalar;
  /** The recipe's loss on explicit pairs (a[i], b[i]) of embeddings through the distance head: the validation loss. */
  pairLoss(head: tf.layers.Layer, a: tf.Tensor2D, b: tf.Tensor2D, different: tf.Tensor1D): tf.Scalar;
}

/** Trains on `pairs` per epoch: the model's output on each pair, `headLoss` against same/different. */
export interface PairRecipe extends RecipeBase {
  kind: 'pairs';
  /** The pairs of one epoch, as indices into the training images. */
  pairs(labels: readonly ClassName[], n: number, rng: Rng): Pair[];
}

/**
 * Trains on class-balanced batches of `--batch` images, the loss taken over every pair inside the
 * batch (`classes` are CLASSES indices); an epoch is one balanced epoch of images.
 */
export interface BatchRecipe extends RecipeBase {
  kind: 'batch';
  batchLoss(model: tf.LayersModel, images: tf.Tensor4D, classes: readonly number[], observe?: PairObserver): tf.Scalar;
}

export type SiameseRecipe = PairRecipe | BatchRecipe;
