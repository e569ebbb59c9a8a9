/** The pieces every training task shares: batching, one optimizer step, keeping one output for the tally. */
import * as tf from '../tf.js';
import { toModelInput } from '../data/index.js';
import type { NormStats, PreparedSet } from '../data/types.js';
import type { Rng } from '../util/rng.js';
import { withSeededDropout } from './dropout.js';

export function chunk<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** The model input of images `idx` of a prepared set. */
export function batchTensor(set: PreparedSet, idx: number[], stats: NormStats): tf.Tensor4D {
  return tf.tensor4d(toModelInput(set, idx, stats), [idx.length, set.size, set.size, 1]);
}

/** One optimizer step on a loss; returns the loss. */
export type Optimize = (lossFn: () => tf.Scalar) => number;

/** One optimizer step on `lossFn`; returns the loss. Gradients are applied in the model's weight order. */
export function optimizerStep(model: tf.LayersModel, opt: tf.AdamOptimizer, rng: Rng, lossFn: () => tf.Scalar): number {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return withSeededDropout(model, rng, () => {
    const { value, grads } = tf.variableGrads(lossFn, vars);
    opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
    tf.dispose(grads);
    // weight constraints (e.g. the metric distance head's non-negative kernel) hold after each update, as in Keras
    for (const w of model.trainableWeights) if (w.constraint) tf.tidy(() => (w.read() as tf.Variable).assign(w.constraint.apply(w.read())));
    const loss = value.dataSync()[0]!;
    value.dispose();
    return loss;
  });
}

/** Holds one tensor made inside a loss function (the gradient tape disposes the rest) until read after the step. */
export class Kept {
  private t: tf.Tensor | undefined;
  keep(t: tf.Tensor): void {
    this.t?.dispose();
    this.t = tf.keep(t);
  }
  /** The values, then disposes the tensor. */
  take(): Float32Array {
    const t = this.t;
    this.t = undefined;
    if (!t) return new Float32Array(0);
    const v = t.dataSync() as Float32Array;
    t.dispose();
    return v;
  }
}
