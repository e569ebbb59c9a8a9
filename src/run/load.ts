import { join } from 'node:path';
import * as tf from '../tf.js';
import { registerCustomLayers } from '../model/index.js';
import { fileSystemIO } from './modelio.js';
import { RUN_FILES } from './files.js';

/** Load the best checkpoint of a run (`RUN/model/model.json`). */
export async function loadRunModel(run: string): Promise<tf.LayersModel> {
  registerCustomLayers();
  return tf.loadLayersModel(fileSystemIO(join(run, RUN_FILES.model)));
}
