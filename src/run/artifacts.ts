/**
 * A saved TF.js Layers model from any IOHandler, checked: the part of ./load.ts without files, so
 * the browser app (src/web) loads an exported model through exactly these checks.
 */
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { disposeModel } from '../model/covidnet.js';
import { registerCustomLayers } from '../model/layers.js';

export interface LoadOptions {
  /** The model's JSON file in the folder (default model.json). */
  jsonName?: string;
  /**
   * For inference only: weight constraints (the metric siamese head's non-negative kernel) are
   * left out of the topology. They act on training updates only, the saved weights already satisfy
   * them, and tfjs-layers 4.22 leaks one tensor per constrained weight it loads.
   */
  inference?: boolean;
}

/** `*_constraint` entries of a Keras model topology set to null. */
function withoutConstraints(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutConstraints);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k.endsWith('_constraint') ? null : withoutConstraints(x)]));
}

/**
 * Load a model through `io`, refusing (one coded line, never a stack trace) files that are
 * missing, truncated or of the wrong shape, and a model whose weights are not all finite (a
 * diverged training, or a weights file overwritten with garbage): such a model would still answer.
 * `where` names the model in errors.
 */
export async function loadModelFrom(io: tf.io.IOHandler, where: string, opts: Pick<LoadOptions, 'inference'> = {}): Promise<tf.LayersModel> {
  registerCustomLayers();
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(
      opts.inference
        ? {
            load: async () => {
              const a = await io.load!();
              return { ...a, modelTopology: withoutConstraints(a.modelTopology) as tf.io.ModelArtifacts['modelTopology'] };
            },
          }
        : io,
    );
  } catch (e) {
    if (e instanceof CovidNetError) throw e;
    throw new CovidNetError('E_RUN', `the saved model cannot be loaded (missing, truncated or wrong-shape files?): ${(e as Error).message.split('\n')[0]}`, { file: where, cause: e });
  }
  const bad = model.weights.find((w) => !(w.read().dataSync() as Float32Array).every(Number.isFinite));
  if (bad) {
    disposeModel(model);
    throw new CovidNetError('E_MODEL_INVALID', `the saved model's weight ${bad.name} holds NaN or infinite values (a diverged training or a corrupted file); retrain it`, { file: where });
  }
  return model;
}
