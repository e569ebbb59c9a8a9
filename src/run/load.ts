import { join } from 'node:path';
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { disposeModel, registerCustomLayers } from '../model/index.js';
import { fileSystemIO } from './modelio.js';
import { RUN_FILES } from './files.js';

/**
 * Load a saved model folder, refusing (one coded line, never a stack trace) a folder whose files
 * are missing, truncated or of the wrong shape, and a model whose weights are not all finite (a
 * diverged training, or a weights file overwritten with garbage): such a model would still answer.
 */
export async function loadModelFolder(dir: string, jsonName?: string): Promise<tf.LayersModel> {
  registerCustomLayers();
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(fileSystemIO(dir, jsonName === undefined ? {} : { jsonName }));
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
export async function loadRunModel(run: string): Promise<tf.LayersModel> {
  return loadModelFolder(join(run, RUN_FILES.model));
}
