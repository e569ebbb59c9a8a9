/** The single net: class-balanced epochs of images, categorical cross-entropy, argmax validation. */
import * as tf from '../../tf.js';
import { balancedEpoch } from '../../data/index.js';
import { classIndex } from '../../types.js';
import { covidNet } from '../../model/index.js';
import { runClasses, type RunConfig } from '../../config.js';
import type { TrainingData } from '../data.js';
import { batchTensor, chunk, Kept } from '../step.js';
import { ClassTally } from '../tally.js';
import { singleValidation } from '../validation.js';
import type { EpochPlan, TrainingTask } from '../task.js';

/** Categorical cross-entropy on softmax probabilities, clipped like Keras (epsilon 1e-7). */
export function categoricalCrossEntropy(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar);
}

export function singleTask(config: RunConfig, data: TrainingData): TrainingTask {
  const labels = data.train.items.map((it) => it.label);
  const classes = runClasses(config);
  return {
    trainMetric: 'accuracy',
    selectionMetric: 'accuracy',
    buildModel: () => covidNet({ size: config.size, width: config.width, fc: config.fc, seed: config.seed, classes: classes.length }),
    planEpoch(model, rng): EpochPlan {
      const order = balancedEpoch(labels, rng);
      const batches = chunk(order, config.batch);
      const kept = new Kept();
      const tally = new ClassTally();
      return {
        steps: batches.length,
        samples: order.length,
        runStep(i, optimize) {
          const idx = batches[i]!;
          const truth = idx.map((j) => classIndex(labels[j]!, classes));
          const x = batchTensor(data.train, idx, data.stats);
          const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(truth, 'int32'), classes.length), 'float32'));
          const loss = optimize(() => {
            const probs = model.apply(x, { training: true }) as tf.Tensor;
            kept.keep(probs);
            return categoricalCrossEntropy(probs, y);
          });
          tf.dispose([x, y]);
          tally.add(kept.take(), truth);
          return { loss, samples: idx.length };
        },
        trainAccuracy: () => tally.value(),
      };
    },
    async validate(model) {
      const v = await singleValidation(model, data.val, data.stats, config.evalBatch, classes);
      return { selection: v.accuracy, metric: 'accuracy', loss: v.loss, extra: {} };
    },
  };
}
