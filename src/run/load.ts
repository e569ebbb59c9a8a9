import { join } from 'node:path';
import * as tf from '../tf.js';
import { loadModelFrom, type LoadOptions } from './artifacts.js';
import { fileSystemIO } from './modelio.js';
import { RUN_FILES } from './files.js';

export type { LoadOptions };

/**
 * Load a saved model folder, refusing (one coded line, never a stack trace) a folder whose files
 * are missing, truncated or of the wrong shape, and a model whose weights are not all finite (a
 * diverged training, or a weights file overwritten with garbage): such a model would still answer.
 */
export async function loadModelFolder(dir: string, opts: LoadOptions = {}): Promise<tf.LayersModel> {
  return loadModelFrom(fileSystemIO(dir, opts.jsonName === undefined ? {} : { jsonName: opts.jsonName }), dir, opts);
}

/** Load the best checkpoint of a run (`RUN/model/model.json`). */
export async function loadRunModel(run: string, opts: Omit<LoadOptions, 'jsonName'> = {}): Promise<tf.LayersModel> {
  return loadModelFolder(join(run, RUN_FILES.model), opts);
}
