/**
 * `train()`: a run from a config. The training loop is written by hand (no `model.fit`) so batches
 * come from the study's samplers (balanced epochs, same/different pairs), memory stays at one
 * batch, and a run can be checkpointed and resumed exactly. This file sets a run up (resume
 * policy, backend, data, run files, model, optimizer) and finishes it (siamese class templates);
 * the loop is loop.ts, what each model and recipe does is in tasks/.
 *
 * Single net: Adam, categorical cross-entropy on the softmax (as Keras computes it), validation
 * accuracy and loss each epoch. Siamese net: Adam, the recipe's loss on the recipe's pairs, 3-way
 * one-shot and template validation each epoch and the recipe's loss on fixed validation pairs.
 * Training accuracy is counted from the outputs the training steps already compute (dropout on, as
 * Keras reports it during fit), so it costs no forward pass and leaves the numerics untouched.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as tf from '../tf.js';
import { initBackend, resolveThreads, withTrainingFusion, type BackendChoice } from '../backend/index.js';
import { CovidNetError } from '../errors.js';
import { createRng } from '../util/rng.js';
import { flagOf, inapplicableOptions, runClasses, type RunConfig } from '../config.js';
import { disposeModel } from '../model/index.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { loadRunModel } from '../run/load.js';
import { lockRun } from '../run/lock.js';
import { fitRunTrust } from '../run/trust.js';
import { readHistory, readRunConfig, runPath, writeHistory, type EpochRecord, type PreprocessInfo, type SavedConfig } from '../run/files.js';
import { prepareTrainingData, skipSummary, splitsFile, type TrainingData } from './data.js';
import { getRecipe } from './recipes.js';
import { loadLast, type TrainState } from './checkpoint.js';
import { freezeTrunk, initFromRun } from './siamese/init.js';
import { resolveConfig } from './resume.js';
import { runEpochs } from './loop.js';
import { singleTask } from './tasks/single.js';
import { siameseTask } from './tasks/siamese.js';
import { computeTemplates } from './validation.js';
import type { TrainingTask } from './task.js';
import type { TrainEvent } from './events.js';

export type { TrainEvent } from './events.js';

export interface TrainOptions {
  onEvent?: (e: TrainEvent) => void;
  /** Already prepared data (search reuses it across cells). */
  data?: TrainingData;
  /** Continue from `RUN/last/` (the run's saved config wins except for epochs/backend/threads/stopAfter). */
  resume?: boolean;
}

export interface TrainResult {
  run: string;
  config: SavedConfig;
  epochsDone: number;
  bestEpoch: number;
  bestValAccuracy: number;
  /** The validation metric that chose the best checkpoint (`bestValAccuracy` is its value). */
  selectedBy: EpochRecord['val_metric'];
  history: EpochRecord[];
  /** False when stopped early by `stopAfter` (resume to finish). */
  complete: boolean;
  backend: BackendChoice;
}

async function versions(): Promise<Record<string, string>> {
  let pkg = 'unknown';
  try {
    pkg = (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    // running from an unusual layout: the version is informative only
  }
  return { covidnet: pkg, node: process.version, 'tfjs-core': tf.version_core, 'tfjs-layers': tf.version_layers };
}

/** The task of a config: the single net, or the siamese net with its recipe. */
export function trainingTask(config: RunConfig, data: TrainingData): TrainingTask {
  return config.model === 'single' ? singleTask(config, data) : siameseTask(config, data, getRecipe(config.recipe));
}

/**
 * Train a run into `config.out`. `given` are the options the user set explicitly (for checking
 * them against a resumed run); defaults to `config`.
 */
export async function train(input: RunConfig, opts: TrainOptions = {}, given: Partial<RunConfig> = input): Promise<TrainResult> {
  const lock = await lockRun(input.out);
  try {
    // the fused training kernels are on only while this training runs
    return await withTrainingFusion(() => trainLocked(input, opts, given, lock.tookOverFrom ? [`took over the lock of a training that is no longer running (pid ${lock.tookOverFrom.pid}, since ${lock.tookOverFrom.startedAt})`] : []));
  } finally {
    await lock.release();
  }
}

/** Notes on options the run will not use: another model's options, `--pairs` for a batch recipe. */
function ignoredOptionNotes(config: RunConfig, given: Partial<RunConfig>): string[] {
  const notes = inapplicableOptions(config.model, given).map((k) => `${flagOf(k)} does nothing for the ${config.model} net (ignored)`);
  if (config.model === 'siamese' && getRecipe(config.recipe).kind === 'batch' && given.pairs !== undefined && given.pairs !== 12000) {
    notes.push(`--pairs does nothing for the ${config.recipe} recipe, which trains on balanced batches of images (ignored)`);
  }
  return notes;
}

async function trainLocked(input: RunConfig, opts: TrainOptions, given: Partial<RunConfig>, lockNotes: string[]): Promise<TrainResult> {
  const emit = opts.onEvent ?? (() => {});
  const resolved = await resolveConfig(input, opts.resume ?? false, given);
  const config = resolved.config;
  const run = config.out;
  const backend = await initBackend({ backend: config.backend, purpose: 'train', threads: config.threads });
  if (config.model === 'siamese') getRecipe(config.recipe); // a bad --recipe fails before any work
  if (!opts.resume && (await readRunConfig(run).then(() => true, () => false))) {
    throw new CovidNetError('E_RUN', 'this folder already holds a run: continue it with --resume, or choose another --out (or delete it)', { file: run });
  }
  const notes = [...lockNotes, ...resolved.notes, ...ignoredOptionNotes(config, given)];
  const data = opts.data ?? (await prepareTrainingData(config, { onProgress: (p) => emit({ type: 'prepare', ...p }) }));
  const task = trainingTask(config, data);

  await mkdir(run, { recursive: true });
  const last = opts.resume ? await loadLast(runPath(run, 'last')) : undefined;
  let saved: SavedConfig;
  if (last) {
    saved = await readRunConfig(run);
    if (saved.dataHash !== data.hash) {
      disposeModel(last.model);
      throw new CovidNetError('E_RUN', `the data source changed since this run started (content hash ${data.hash.slice(0, 12)} vs ${saved.dataHash.slice(0, 12)}); cannot resume`, { file: runPath(run, 'config') });
    }
    saved = { ...saved, epochs: config.epochs, backendUsed: backend.name, threadsUsed: resolveThreads(config.threads) };
  } else {
    saved = {
      ...config,
      dataRoot: resolve(data.dataset.root),
      dataName: data.dataset.name,
      dataHash: data.hash,
      backendUsed: backend.name,
      threadsUsed: resolveThreads(config.threads),
      versions: await versions(),
      createdAt: new Date().toISOString(),
    };
  }
  delete (saved as Partial<RunConfig>).stopAfter;
  await writeJsonAtomic(runPath(run, 'config'), saved);
  const preprocess: PreprocessInfo = { model: config.model, size: config.size, crop: config.crop, mean: data.stats.mean, std: data.stats.std, classes: [...runClasses(config)] };
  await writeJsonAtomic(runPath(run, 'preprocess'), preprocess);
  await writeJsonAtomic(runPath(run, 'splits'), splitsFile(data, config.splitSeed ?? config.seed));

  const model = last?.model ?? task.buildModel();
  if (!last && config.initFrom !== undefined) await initFromRun(model, config.initFrom);
  // a resumed model keeps its layers' trainable flags from the checkpoint
  if (!last && config.freeze === 'trunk' && freezeTrunk(model) === 0) throw new CovidNetError('E_RUN', '--freeze trunk: the model has no feature_sum layer to freeze up to', { file: run });
  const opt = tf.train.adam(config.lr);
  if (last) await last.restoreOptimizer(opt);
  let state: TrainState = last?.state ?? { epoch: 0, rngState: createRng(config.seed ^ 0x7a11).state(), bestEpoch: 0, bestValAccuracy: -1 };
  const history = (await readHistory(run)).filter((r) => r.epoch <= state.epoch);
  await writeHistory(run, history); // a run killed between history and checkpoint wrote one line too many

  emit({
    type: 'ready',
    backend,
    counts: { train: data.train.items.length, val: data.val.items.length, test: data.items.test.length },
    failed: data.failed.length,
    skipped: { ...skipSummary(data), listedIn: runPath(run, 'splits') },
    resumedFrom: state.epoch,
    epochs: config.epochs,
    notes: last || !opts.resume ? notes : [...notes, 'no finished epoch to resume from: starting at epoch 1'],
  });

  try {
    state = await runEpochs(task, model, opt, state, history, { run, epochs: config.epochs, lr: config.lr, batch: config.batch, stopAfter: config.stopAfter, emit });
  } finally {
    opt.dispose();
    disposeModel(model);
  }

  const complete = state.epoch >= config.epochs;
  if (complete && config.model === 'siamese') {
    const bestModel = await loadRunModel(run);
    try {
      const t = await computeTemplates(bestModel, data.train, data.stats, config.evalBatch, runClasses(config));
      await writeJsonAtomic(runPath(run, 'templates'), t);
      emit({ type: 'templates', counts: t.counts });
    } finally {
      disposeModel(bestModel);
    }
  }
  if (complete) await fitRunTrust(run, { sets: data, keepBackend: true, batch: config.evalBatch });
  return { run, config: saved, epochsDone: state.epoch, bestEpoch: state.bestEpoch, bestValAccuracy: state.bestValAccuracy, selectedBy: task.selectionMetric, history, complete, backend };
}
