/**
 * Adam state for checkpoints: moments, step count and the running powers of beta1/beta2, saved
 * exactly (the library's own `setWeights` recomputes the powers with `pow`, which can differ from
 * the repeated products in the last bit and would make a resumed run drift from an uninterrupted one).
 */
import * as tf from '../tf.js';

/** The fields of tf's AdamOptimizer that are not in its public typings. */
type NamedTensor = { name: string; tensor: tf.Tensor };

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

export interface OptimizerState {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
}

export async function getAdamState(opt: tf.AdamOptimizer): Promise<OptimizerState> {
  const weights = await opt.getWeights();
  const internals = opt as unknown as AdamInternals;
  const all: NamedTensor[] = [
    ...weights,
    { name: 'accBeta1', tensor: internals.accBeta1 },
    { name: 'accBeta2', tensor: internals.accBeta2 },
  ];
  const { data, specs } = await tf.io.encodeWeights(all);
  tf.dispose(weights[0]!.tensor); // the `iter` scalar is created by getWeights
  return { data, specs };
}

export async function setAdamState(opt: tf.AdamOptimizer, state: OptimizerState): Promise<void> {
  const map = tf.io.decodeWeights(state.data, state.specs);
  const names = state.specs.map((s) => s.name);
  const betas = ['accBeta1', 'accBeta2'];
  const list: NamedTensor[] = names.filter((n) => !betas.includes(n)).map((n) => ({ name: n, tensor: map[n]! }));
  await opt.setWeights(list);
  const internals = opt as unknown as AdamInternals;
  internals.accBeta1.assign(map['accBeta1'] as tf.Scalar);
  internals.accBeta2.assign(map['accBeta2'] as tf.Scalar);
  // setWeights copies into new variables; the decoded tensors are ours to free
  tf.dispose(Object.values(map));
}
