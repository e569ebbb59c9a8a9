/**
 * Start a siamese encoder (or any model) from a trained single-net run: every layer whose name and
 * weight shapes match a layer of the run's best model gets that layer's weights (the trunk, fc1 and
 * fc2 of COVID-Net carry the same names in both nets). Transfer from a supervised classifier is the
 * usual remedy for metric learning on a few hundred images (docs/siamese.md).
 */
import { join } from 'node:path';
import * as tf from '../../tf.js';
import { CovidNetError } from '../../errors.js';
import { disposeModel } from '../../model/index.js';
import { loadRunModel } from '../../run/load.js';
import { readRunConfig } from '../../run/files.js';

/** Layers of `model` and of the models nested in it (the siamese net's `encoder`), by name. */
function layersByName(model: tf.LayersModel): Map<string, tf.layers.Layer> {
  const out = new Map<string, tf.layers.Layer>();
  for (const l of model.layers) {
    if (l instanceof tf.LayersModel) for (const [k, v] of layersByName(l)) out.set(k, v);
    else out.set(l.name, l);
  }
  return out;
}

/**
 * Copy the weights of every same-named, same-shaped layer of `source` into `target`.
 * Returns the names of the layers copied.
 */
export function copyMatchingWeights(source: tf.LayersModel, target: tf.LayersModel): string[] {
  const src = layersByName(source);
  const copied: string[] = [];
  for (const [name, layer] of layersByName(target)) {
    const s = src.get(name);
    const tw = layer.getWeights();
    if (!s || tw.length === 0) continue;
    const sw = s.getWeights();
    const same = sw.length === tw.length && sw.every((w, i) => w.shape.join() === tw[i]!.shape.join());
    if (same) {
      layer.setWeights(sw);
      copied.push(name);
    }
  }
  return copied;
}

/**
 * Make the convolutional trunk of `model` (every layer up to and including `feature_sum`, in the
 * model and the models nested in it) untrainable, so only the dense head learns. Returns how many
 * layers were frozen; 0 means the model has no `feature_sum` (nothing is changed).
 */
export function freezeTrunk(model: tf.LayersModel): number {
  let frozen = 0;
  const walk = (m: tf.LayersModel): boolean => {
    for (const l of m.layers) {
      if (l instanceof tf.LayersModel) {
        if (walk(l)) return true;
        continue;
      }
      l.trainable = false;
      frozen++;
      if (l.name === 'feature_sum') return true;
    }
    return false;
  };
  const found = walk(model);
  if (!found) {
    for (const l of layersByName(model).values()) l.trainable = true;
    return 0;
  }
  return frozen;
}

/**
 * Initialise `model` from the best model of the single-net run `run`. Throws `E_RUN` when the
 * folder is no single-net run or nothing matches (e.g. another --width).
 */
export async function initFromRun(model: tf.LayersModel, run: string): Promise<string[]> {
  const cfg = await readRunConfig(run).catch(() => {
    throw new CovidNetError('E_RUN', '--init-from needs a run folder with config.json and a trained model', { file: run });
  });
  if (cfg.model !== 'single') throw new CovidNetError('E_RUN', `--init-from needs a single-net run; this is a ${cfg.model} run`, { file: join(run, 'config.json') });
  const source = await loadRunModel(run);
  try {
    const copied = copyMatchingWeights(source, model);
    if (copied.length === 0) {
      throw new CovidNetError('E_RUN', 'no layer of that run matches this model (different --size/--width/--fc?)', { file: join(run, 'config.json') });
    }
    return copied;
  } finally {
    disposeModel(source);
  }
}
