/**
 * Reproducible dropout. TF.js's Dropout layer draws its mask from `Math.random` unless it has a
 * fixed `seed`, and a fixed seed gives the same mask at every step. During a training step we
 * give every Dropout layer a seed that changes at each call, drawn from the run's seeded RNG, so
 * a run (and a resumed run) is reproducible while masks still differ between steps, layers and
 * the two branches of the siamese net. Outside `withSeededDropout` the layers are untouched, so
 * saved models carry no seed.
 */
import * as tf from '../tf.js';
import type { Rng } from '../util/rng.js';

function dropoutLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  for (const l of model.layers) {
    if (l instanceof tf.LayersModel) out.push(...dropoutLayers(l));
    else if (l.getClassName() === 'Dropout') out.push(l);
  }
  return out;
}

/** Run `fn` with every Dropout layer of `model` seeded from `rng` at each call. */
export function withSeededDropout<T>(model: tf.LayersModel, rng: Rng, fn: () => T): T {
  const layers = dropoutLayers(model);
  for (const l of layers) {
    // `seed` is a plain (TS-private) property read in Dropout.call(); a getter makes it per call.
    Object.defineProperty(l, 'seed', { configurable: true, enumerable: true, get: () => rng.int(2 ** 31) });
  }
  try {
    return fn();
  } finally {
    for (const l of layers) {
      Object.defineProperty(l, 'seed', { configurable: true, enumerable: true, writable: true, value: undefined });
    }
  }
}
