import { join } from 'node:path';
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { disposeModel, registerCustomLayers } from '../model/index.js';
import { fileSystemIO } from './modelio.js';
import { RUN_FILES } from './files.js';

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
 * Load a saved model folder, refusing (one coded line, never a stack trace) a folder whose files
 * are missing, truncated or of the wrong shape, and a model whose weights are not all finite (a
 * diverged training, or a weights file overwritten with garbage): such a model would still answer.
 */
export async function loadModelFolder(dir: string, opts: LoadOptions = {}): Promise<tf.LayersModel> {
  registerCustomLayers();
  let model: tf.LayersModel;
  try {
    const io = fileSystemIO(dir, opts.jsonName === undefined ? {} : { jsonName: opts.jsonName });
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
    throw new CovidNetError('E_RUN', `the saved model cannot be loaded (missing, truncated or wrong-shape files?): ${(e as Error).message.split('\n')[0]}`, { file: dir, cause: e });
  }
  const bad = model.weights.find((w) => !(w.read().dataSync() as Float32Array).every(Number.isFinite));
  if (bad) {
    disposeModel(model);
    throw new CovidNetError('E_MODEL_INVALID', `the saved model's weight ${bad.name} holds NaN or infinite values (a diverged training or a corrupted file); retrain it`, { file: dir });
  }
  return model;
}

/** Load the best checkpoint of a run (`RUN/model/model.json`). */
export async function loadRunModel(run: string, opts: Omit<LoadOptions, 'jsonName'> = {}): Promise<tf.LayersModel> {
  return loadModelFolder(join(run, RUN_FILES.model), opts);
}
