/**
 * `RUN/last/`: the state after the last finished epoch (weights, Adam state, RNG state, best so
 * far), so `--resume` continues a killed run exactly. `checkpoint.json` is the commit point: it is
 * written (atomically) after the files it names, and files it no longer names are removed after.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { fileTag, writeFileAtomic, writeJsonAtomic } from '../run/atomic.js';
import { fileSystemIO } from '../run/modelio.js';
import { disposeModel } from '../model/index.js';
import { loadModelFolder } from '../run/load.js';
import { getAdamState, setAdamState } from './optimizer.js';

export const CHECKPOINT_JSON = 'checkpoint.json';

export interface TrainState {
  /** Epochs finished. */
  epoch: number;
  /** The training RNG after that epoch. */
  rngState: number;
  bestEpoch: number;
  bestValAccuracy: number;
}

interface CheckpointFile extends TrainState {
  modelJson: string;
  optimizerFile: string;
  optimizerSpecs: tf.io.WeightsManifestEntry[];
  savedAt: string;
}

export async function saveLast(dir: string, model: tf.LayersModel, opt: tf.AdamOptimizer, state: TrainState): Promise<void> {
  const tag = fileTag();
  const modelJson = `model.${tag}.json`;
  await model.save(fileSystemIO(dir, { jsonName: modelJson, cleanup: false }));
  const adam = await getAdamState(opt);
  const optimizerFile = `optimizer.${tag}.bin`;
  await writeFileAtomic(join(dir, optimizerFile), new Uint8Array(adam.data));
  const ck: CheckpointFile = { ...state, modelJson, optimizerFile, optimizerSpecs: adam.specs, savedAt: new Date().toISOString() };
  await writeJsonAtomic(join(dir, CHECKPOINT_JSON), ck);
  // clean up what the new checkpoint does not reference
  const json = JSON.parse(await readFile(join(dir, modelJson), 'utf8')) as tf.io.ModelJSON;
  const keep = new Set([CHECKPOINT_JSON, modelJson, optimizerFile, ...json.weightsManifest.flatMap((g) => g.paths)]);
  for (const f of await readdir(dir)) if (!keep.has(f) && !f.startsWith('.')) await rm(join(dir, f), { force: true });
}

export interface LoadedCheckpoint {
  state: TrainState;
  model: tf.LayersModel;
  /** Restore the Adam state into a fresh optimizer (after the model's variables exist). */
  restoreOptimizer(opt: tf.AdamOptimizer): Promise<void>;
}

/** Read `last/`, or undefined when there is no checkpoint yet. */
export async function loadLast(dir: string): Promise<LoadedCheckpoint | undefined> {
  let ck: CheckpointFile;
  try {
    ck = JSON.parse(await readFile(join(dir, CHECKPOINT_JSON), 'utf8')) as CheckpointFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CovidNetError('E_RUN', `unreadable checkpoint (${(e as Error).message})`, { file: join(dir, CHECKPOINT_JSON) });
  }
  const model = await loadModelFolder(dir, { jsonName: ck.modelJson });
  const unreadable = (what: string, e: unknown) => {
    disposeModel(model);
    return new CovidNetError('E_RUN', `the resume state is damaged (${what}: ${(e as Error).message.split('\n')[0]}); the best model in model/ is intact, but this run cannot be resumed`, { file: dir, cause: e });
  };
  let data: ArrayBuffer;
  try {
    const buf = await readFile(join(dir, ck.optimizerFile));
    data = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
    const need = ck.optimizerSpecs.reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
    if (data.byteLength !== need) throw new Error(`${ck.optimizerFile} has ${data.byteLength} bytes, expected ${need}`);
  } catch (e) {
    throw unreadable('optimizer state', e);
  }
  const state: TrainState = { epoch: ck.epoch, rngState: ck.rngState, bestEpoch: ck.bestEpoch, bestValAccuracy: ck.bestValAccuracy };
  return {
    state,
    model,
    restoreOptimizer: async (opt) => {
      try {
        await setAdamState(opt, { data, specs: ck.optimizerSpecs });
      } catch (e) {
        throw unreadable('optimizer state', e);
      }
    },
  };
}
