/**
 * The `contrastive` siamese recipe. Why the study recipe stalls and what this changes is
 * in docs/siamese.md; in short:
 * - every pair inside a class-balanced batch of B images is used (B(B−1)/2 pairs for B encoder
 *   passes instead of B/2), so the encoder sees far more same/different comparisons per second;
 * - the embedding is L2-normalised and has no dropout, so a pair's distance is bounded and an
 *   image is at distance 0 from itself (with dropout on the embedding, two passes of the same image
 *   differ as much as two images do);
 * - a contrastive margin loss (Hadsell, Chopra & LeCun 2006) on the Euclidean distance of the
 *   embeddings gives the encoder a direct signal from the first step, whatever the head's weights;
 * - the distance head is `metric` (non-negative kernel), so P(different) increases
 *   with |a − b| from the start instead of after its random-sign kernel has been relearned; a
 *   balanced BCE on it keeps the model's contract (output = P(different) from `distance` on
 *   |a − b|), so templates, one-shot validation, evaluate and predict work unchanged.
 */
import * as tf from '../../tf.js';
import { probabilityDifferent, siameseCovidNet, siameseParts, type CovidNetConfig } from '../../model/index.js';
import type { BatchRecipe, PairObserver } from '../recipe.js';

/** Margin on the Euclidean distance of unit embeddings (range [0, √2] for non-negative ones). */
export const CONTRASTIVE_MARGIN = 1.0;
/** Weight of the contrastive term against the head's BCE. */
export const CONTRASTIVE_WEIGHT = 1.0;

/** The model options of the recipe, on top of size/width/fc/seed. */
export function contrastiveModelConfig(c: CovidNetConfig): CovidNetConfig {
  const d = c.dropout ?? [0.5, 0.2, 0.2];
  return { ...c, dropout: [d[0], d[1], 0], normalizeEmbedding: true, distanceHead: 'metric' };
}

/** Index pairs i < j of a batch of n, with 1 where the classes differ. */
export function allPairs(classes: readonly number[]): { a: number[]; b: number[]; different: number[] } {
  const a: number[] = [];
  const b: number[] = [];
  const different: number[] = [];
  for (let i = 0; i < classes.length; i++) {
    for (let j = i + 1; j < classes.length; j++) {
      a.push(i);
      b.push(j);
      different.push(classes[i] === classes[j] ? 0 : 1);
    }
  }
  return { a, b, different };
}

/** Mean of `v` over the entries where `mask` is 1, and over those where it is 0, averaged (classes balanced). */
function balancedMean(v: tf.Tensor1D, mask: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const inv = tf.sub(1, mask);
    const m1 = tf.div(tf.sum(tf.mul(v, mask)), tf.maximum(tf.sum(mask), 1));
    const m0 = tf.div(tf.sum(tf.mul(v, inv)), tf.maximum(tf.sum(inv), 1));
    // 1 when the batch has such pairs (masks are 0/1); float arithmetic only: the onednn backend
    // returned a bool→float32 cast's bytes unconverted when this was written
    const has1 = tf.minimum(tf.sum(mask), 1);
    const has0 = tf.minimum(tf.sum(inv), 1);
    return tf.div(tf.add(tf.mul(m1, has1), tf.mul(m0, has0)), tf.maximum(tf.add(has1, has0), 1)) as tf.Scalar;
  });
}

/**
 * Contrastive loss on distances d with targets y (1 = different): same pairs pay d², different
 * pairs pay max(0, margin − d)²; same and different pairs weigh equally.
 */
export function contrastiveLoss(d: tf.Tensor, different: tf.Tensor, margin = CONTRASTIVE_MARGIN): tf.Scalar {
  return tf.tidy(() => {
    const dd = tf.reshape(d, [-1]) as tf.Tensor1D;
    const y = tf.reshape(different, [-1]) as tf.Tensor1D;
    const per = tf.add(tf.mul(tf.sub(1, y), tf.square(dd)), tf.mul(y, tf.square(tf.relu(tf.sub(margin, dd))))) as tf.Tensor1D;
    return balancedMean(per, y);
  });
}

/** BCE on P(different) with same and different pairs weighted equally (Keras clipping, 1e-7). */
export function balancedBce(p: tf.Tensor, different: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const q = tf.reshape(tf.clipByValue(p, 1e-7, 1 - 1e-7), [-1]);
    const y = tf.reshape(different, [-1]) as tf.Tensor1D;
    const per = tf.neg(tf.add(tf.mul(y, tf.log(q)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, q))))) as tf.Tensor1D;
    return balancedMean(per, y);
  });
}

/** The values of `x` with no gradient flowing back (TF.js has no stop_gradient op). */
function detach(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor;
    return { value: tf.clone(t), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return f(x);
}

/**
 * Loss of one batch of images: the encoder runs once, every pair (i < j) is formed from the
 * embeddings, the head gives P(different); BCE on it plus the contrastive term on ‖eᵢ − eⱼ‖₂.
 */
export function contrastiveBatchLoss(model: tf.LayersModel, images: tf.Tensor4D, classes: readonly number[], observe?: PairObserver): tf.Scalar {
  const { encoder, distance } = siameseParts(model);
  const { a, b, different } = allPairs(classes);
  return tf.tidy(() => {
    const e = encoder.apply(images, { training: true }) as tf.Tensor2D;
    const ia = tf.tensor1d(a, 'int32');
    const ib = tf.tensor1d(b, 'int32');
    const y = tf.tensor1d(different);
    const delta = tf.sub(tf.gather(e, ia), tf.gather(e, ib));
    // the head is fitted on detached distances: its BCE only calibrates P(different); the encoder
    // learns from the contrastive term alone (a miscalibrated head would otherwise pull every pair together)
    const p = distance.apply(detach(tf.abs(delta))) as tf.Tensor;
    observe?.(p, different);
    const d = tf.sqrt(tf.add(tf.sum(tf.square(delta), -1), 1e-12));
    return tf.add(balancedBce(p, y), tf.mul(CONTRASTIVE_WEIGHT, contrastiveLoss(d, y))) as tf.Scalar;
  });
}

/**
 * The same loss on explicit pairs of embeddings (validation pairs): balanced BCE on the head's
 * P(different) plus the contrastive term on ‖a − b‖₂, as `contrastiveBatchLoss` puts it on a batch's pairs.
 */
export function contrastivePairLoss(head: tf.layers.Layer, a: tf.Tensor2D, b: tf.Tensor2D, different: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const p = probabilityDifferent(head, a, b);
    const d = tf.sqrt(tf.add(tf.sum(tf.square(tf.sub(a, b)), -1), 1e-12));
    return tf.add(balancedBce(p, different), tf.mul(CONTRASTIVE_WEIGHT, contrastiveLoss(d, different))) as tf.Scalar;
  });
}

export const CONTRASTIVE_RECIPE: BatchRecipe = {
  kind: 'batch',
  name: 'contrastive',
  description:
    'all pairs of class-balanced image batches, L2-normalised embedding without dropout, non-negative distance head, balanced BCE + contrastive margin loss',
  buildModel: (c) => siameseCovidNet(contrastiveModelConfig(c)),
  headLoss: balancedBce,
  batchLoss: contrastiveBatchLoss,
  pairLoss: contrastivePairLoss,
};
