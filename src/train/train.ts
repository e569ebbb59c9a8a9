/**
 * The training loop for both models, written by hand (no `model.fit`) so batches come from the
 * study's samplers (balanced epochs, same/different pairs), memory stays at one batch, and a run
 * can be checkpointed and resumed exactly.
 *
 * Single net: Adam, categorical cross-entropy on the softmax (as Keras computes it), validation
 * accuracy and loss each epoch. Siamese net: Adam, the recipe's loss (study: BCE, same = 0,
 * different = 1) on the recipe's pairs, 3-way one-shot validation each epoch (queries from the
 * validation split, one support image per class from the training split; the same trials every
 * epoch) and the recipe's loss on fixed validation pairs.
 *
 * Training accuracy is counted from the outputs the training steps already compute (dropout on, as
 * Keras reports it during fit), so it costs no forward pass and leaves the numerics untouched.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as tf from '../tf.js';
import { balancedEpoch, pairEpoch, toModelInput } from '../data/index.js';
import type { PreparedSet } from '../data/types.js';
import { initBackend, withTrainingFusion, type BackendChoice } from '../backend/index.js';
import { CovidNetError, optionError } from '../errors.js';
import { CLASSES, classIndex, type ClassName } from '../types.js';
import { createRng, rngFromState, type Rng } from '../util/rng.js';
import type { RunConfig } from '../config.js';
import { argmax, classTemplates, covidNet, embedImages, oneShotFromEmbeddings, oneShotPredictions, predictRows, disposeModel, siameseParts, templateSimilarity } from '../model/index.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { saveModel } from '../run/modelio.js';
import { loadRunModel } from '../run/load.js';
import {
  readHistory,
  readRunConfig,
  runPath,
  writeHistory,
  type EpochRecord,
  type PreprocessInfo,
  type SavedConfig,
  type TemplatesFile,
} from '../run/files.js';
import { prepareTrainingData, splitsFile, type PrepareProgress, type TrainingData } from './data.js';
import { getRecipe, recipePairLoss, type SiameseRecipe } from './recipes.js';
import { loadLast, saveLast, type TrainState } from './checkpoint.js';
import { withSeededDropout } from './dropout.js';
import { initFromRun } from './siamese/init.js';
import { allPairs } from './siamese/contrastive.js';

export type TrainEvent =
  | ({ type: 'prepare' } & PrepareProgress)
  | { type: 'ready'; backend: BackendChoice; counts: Record<'train' | 'val' | 'test', number>; failed: number; resumedFrom: number; epochs: number }
  | { type: 'epoch-start'; epoch: number; epochs: number; steps: number; samples: number }
  | { type: 'step'; epoch: number; step: number; steps: number; samples: number; loss: number; tensors: number }
  | { type: 'validating'; epoch: number }
  | { type: 'epoch'; record: EpochRecord }
  | { type: 'templates'; counts: number[] };

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
  history: EpochRecord[];
  /** False when stopped early by `stopAfter` (resume to finish). */
  complete: boolean;
  backend: BackendChoice;
}

/** Options whose change on --resume would make a different run. */
const FIXED_ON_RESUME = ['model', 'recipe', 'size', 'width', 'fc', 'crop', 'batch', 'lr', 'pairs', 'valFraction', 'testFraction', 'seed', 'selectBy'] as const;

async function versions(): Promise<Record<string, string>> {
  let pkg = 'unknown';
  try {
    pkg = (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    // running from an unusual layout: the version is informative only
  }
  return { covidnet: pkg, node: process.version, 'tfjs-core': tf.version_core, 'tfjs-layers': tf.version_layers };
}

async function resolveConfig(config: RunConfig, resume: boolean, given: Partial<RunConfig>): Promise<RunConfig> {
  if (!resume) return config;
  let saved: SavedConfig;
  try {
    saved = await readRunConfig(config.out);
  } catch {
    return config; // nothing to resume: a fresh run
  }
  for (const k of FIXED_ON_RESUME) {
    if (given[k] !== undefined && given[k] !== saved[k]) {
      throw optionError(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`, `${String(saved[k])} (the value of the run being resumed)`, given[k]);
    }
  }
  const { dataRoot: _r, dataName: _n, dataHash: _h, backendUsed: _b, versions: _v, createdAt: _c, ...base } = saved;
  return {
    ...base,
    // runs saved before --select-by existed picked their checkpoint by one-shot accuracy
    selectBy: saved.selectBy ?? 'one-shot',
    out: config.out,
    epochs: given.epochs ?? saved.epochs,
    backend: config.backend,
    threads: config.threads,
    stopAfter: config.stopAfter,
  };
}

function chunk<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

function batchTensor(set: PreparedSet, idx: number[], stats: TrainingData['stats']): tf.Tensor4D {
  return tf.tensor4d(toModelInput(set, idx, stats), [idx.length, set.size, set.size, 1]);
}

/** One optimizer step on `lossFn`; returns the loss. Gradients are applied in the model's weight order. */
function step(model: tf.LayersModel, opt: tf.AdamOptimizer, rng: Rng, lossFn: () => tf.Scalar): number {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return withSeededDropout(model, rng, () => {
    const { value, grads } = tf.variableGrads(lossFn, vars);
    opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
    tf.dispose(grads);
    // weight constraints (e.g. the metric distance head's non-negative kernel) hold after each update, as in Keras
    for (const w of model.trainableWeights) if (w.constraint) tf.tidy(() => (w.read() as tf.Variable).assign(w.constraint.apply(w.read())));
    const loss = value.dataSync()[0]!;
    value.dispose();
    return loss;
  });
}

/** Holds one tensor made inside a loss function (the gradient tape disposes the rest) until read after the step. */
class Kept {
  private t: tf.Tensor | undefined;
  keep(t: tf.Tensor): void {
    this.t?.dispose();
    this.t = tf.keep(t);
  }
  /** The values, then disposes the tensor. */
  take(): Float32Array {
    const t = this.t;
    this.t = undefined;
    if (!t) return new Float32Array(0);
    const v = t.dataSync() as Float32Array;
    t.dispose();
    return v;
  }
}

/** Argmax accuracy counted over an epoch's training batches. */
export class ClassTally {
  private ok = 0;
  private n = 0;
  /** `probs` is [B, classes] row-major; `truth` the B class indices. */
  add(probs: ArrayLike<number>, truth: readonly number[]): void {
    const k = truth.length ? probs.length / truth.length : 0;
    truth.forEach((t, i) => {
      let best = 0;
      for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
      if (best === t) this.ok++;
    });
    this.n += truth.length;
  }
  value(): number {
    return this.n ? this.ok / this.n : NaN;
  }
}

/**
 * Pair accuracy: a pair is called different when P(different) > 0.5 (the head's output, which the
 * one-shot validation ranks). Same and different pairs weigh equally (the mean of the two rates),
 * so an all-"different" answer scores 0.5 also on the contrastive recipe's batches, where about
 * two pairs in three are different; on balanced pairs (study recipe, validation pairs) this is
 * the plain accuracy.
 */
export class PairTally {
  private okSame = 0;
  private nSame = 0;
  private okDiff = 0;
  private nDiff = 0;
  add(pDifferent: ArrayLike<number>, different: readonly number[]): void {
    different.forEach((d, i) => {
      const said = pDifferent[i]! > 0.5;
      if (d) {
        this.nDiff++;
        if (said) this.okDiff++;
      } else {
        this.nSame++;
        if (!said) this.okSame++;
      }
    });
  }
  value(): number {
    const rates = [this.nSame ? this.okSame / this.nSame : undefined, this.nDiff ? this.okDiff / this.nDiff : undefined].filter((r): r is number => r !== undefined);
    return rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : NaN;
  }
}

/** Categorical cross-entropy on softmax probabilities, clipped like Keras (epsilon 1e-7). */
export function categoricalCrossEntropy(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(probs, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar);
}

/**
 * Validation accuracy (argmax) and mean categorical cross-entropy (Keras clipping, 1e-7) of the
 * single net, both from one inference pass over `set`.
 */
export async function singleValidation(model: tf.LayersModel, set: PreparedSet, stats: TrainingData['stats'], batch: number): Promise<{ accuracy: number; loss: number }> {
  const idx = set.items.map((_, i) => i);
  const rows = await predictRows(model, set, idx, stats, batch);
  let ok = 0;
  let ce = 0;
  rows.forEach((r, i) => {
    const t = classIndex(set.items[i]!.label);
    if (argmax(r) === t) ok++;
    ce -= Math.log(Math.min(Math.max(r[t]!, 1e-7), 1 - 1e-7));
  });
  return rows.length ? { accuracy: ok / rows.length, loss: ce / rows.length } : { accuracy: 0, loss: NaN };
}

/** Validation accuracy of the single net (argmax). */
export async function singleAccuracy(model: tf.LayersModel, set: PreparedSet, stats: TrainingData['stats'], batch: number): Promise<number> {
  return (await singleValidation(model, set, stats, batch)).accuracy;
}

/** Validation pairs per epoch for the siamese validation loss (drawn once per run, seeded). */
export const VAL_PAIRS = 512;

/**
 * The recipe's loss and the pair accuracy on `nPairs` fixed pairs of a set (half same, half
 * different, from the pair sampler with its own seed, so every epoch sees the same pairs and the
 * training RNG is untouched), from the embeddings of the set's images (`emb[i]` for image i, with
 * `labels[i]`). NaN when the set gives no pairs.
 */
export function siamesePairValidation(
  model: tf.LayersModel,
  recipe: SiameseRecipe,
  labels: readonly ClassName[],
  emb: readonly Float32Array[],
  nPairs: number,
  seed: number,
): { loss: number; pairAccuracy: number } {
  const pairs = pairEpoch(labels, nPairs, createRng(seed));
  if (pairs.length === 0) return { loss: NaN, pairAccuracy: NaN };
  const dim = emb[0]!.length;
  const a = new Float32Array(pairs.length * dim);
  const b = new Float32Array(pairs.length * dim);
  pairs.forEach((p, i) => {
    a.set(emb[p.a]!, i * dim);
    b.set(emb[p.b]!, i * dim);
  });
  const different = pairs.map((p) => (p.same ? 0 : 1));
  const { distance } = siameseParts(model);
  const [loss, pd] = tf.tidy(() => {
    const ta = tf.tensor2d(a, [pairs.length, dim]);
    const tb = tf.tensor2d(b, [pairs.length, dim]);
    return [recipePairLoss(recipe, distance, ta, tb, tf.tensor1d(different)), distance.apply(tf.abs(tf.sub(ta, tb))) as tf.Tensor];
  });
  const lossValue = loss.dataSync()[0]!;
  const tally = new PairTally();
  tally.add(pd.dataSync(), different);
  tf.dispose([loss, pd]);
  return { loss: lossValue, pairAccuracy: tally.value() };
}

export interface SiameseValidation {
  /** 3-way one-shot accuracy (the study's). */
  oneShot: number;
  /** Accuracy of the closest class template (the rule evaluate and predict use). */
  template: number;
  /** The recipe's loss and pair accuracy on the fixed validation pairs. */
  loss: number;
  pairAccuracy: number;
}

/**
 * All siamese validation metrics of an epoch from one embedding pass over the training and the
 * validation images (the one-shot supports and the templates come from the training images,
 * queries and pairs from the validation images).
 */
export async function siameseValidation(
  model: tf.LayersModel,
  recipe: SiameseRecipe,
  data: Pick<TrainingData, 'train' | 'val' | 'stats'>,
  opts: { trials: number; oneShotSeed: number; pairSeed: number; batch: number },
): Promise<SiameseValidation> {
  const all = (set: PreparedSet): number[] => set.items.map((_, i) => i);
  const valLabels = data.val.items.map((it) => it.label);
  const trainLabels = data.train.items.map((it) => it.label);
  const valEmb = await embedImages(model, data.val, all(data.val), data.stats, opts.batch);
  const trainEmb = await embedImages(model, data.train, all(data.train), data.stats, opts.batch);
  const os = oneShotFromEmbeddings(model, valLabels, trainLabels, valEmb, trainEmb, opts.trials, opts.oneShotSeed);
  const { templates } = classTemplates(trainEmb, trainLabels);
  const sim = templateSimilarity(model, valEmb, templates);
  const pairs = siamesePairValidation(model, recipe, valLabels, valEmb, VAL_PAIRS, opts.pairSeed);
  return {
    oneShot: os.truth.length ? os.truth.filter((t, i) => t === os.pred[i]).length / os.truth.length : 0,
    template: sim.length ? sim.filter((r, i) => CLASSES[argmax(r)] === valLabels[i]).length / sim.length : NaN,
    ...pairs,
  };
}

/**
 * 3-way one-shot accuracy: each trial compares a query with one support image per class and
 * predicts the class of the closest (smallest P(different)).
 */
export async function oneShotAccuracy(
  model: tf.LayersModel,
  query: PreparedSet,
  support: PreparedSet,
  stats: TrainingData['stats'],
  trials: number,
  seed: number,
  batch: number,
): Promise<number> {
  const { truth, pred } = await oneShotPredictions(model, query, support, stats, trials, seed, batch);
  return truth.length ? truth.filter((t, i) => t === pred[i]).length / truth.length : 0;
}

/** Mean embedding per class over all training images, with the run's best model. */
export async function computeTemplates(model: tf.LayersModel, train: PreparedSet, stats: TrainingData['stats'], batch: number): Promise<TemplatesFile> {
  const idx = train.items.map((_, i) => i);
  const emb = await embedImages(model, train, idx, stats, batch);
  const { templates, counts } = classTemplates(emb, train.items.map((it) => it.label));
  return { classes: CLASSES, templates: templates.map((t) => Array.from(t)), counts };
}

/**
 * Train a run into `config.out`. `given` are the options the user set explicitly (for checking
 * them against a resumed run); defaults to `config`.
 */
export async function train(input: RunConfig, opts: TrainOptions = {}, given: Partial<RunConfig> = input): Promise<TrainResult> {
  return withTrainingFusion(() => trainRun(input, opts, given)); // fused training kernels, on only while this runs
}

async function trainRun(input: RunConfig, opts: TrainOptions, given: Partial<RunConfig>): Promise<TrainResult> {
  const emit = opts.onEvent ?? (() => {});
  const config = await resolveConfig(input, opts.resume ?? false, given);
  const run = config.out;
  const backend = await initBackend({ backend: config.backend, purpose: 'train', threads: config.threads });
  const recipe: SiameseRecipe | undefined = config.model === 'siamese' ? getRecipe(config.recipe) : undefined;
  if (!opts.resume && (await readRunConfig(run).then(() => true, () => false))) {
    throw new CovidNetError('E_RUN', 'this folder already holds a run: continue it with --resume, or choose another --out (or delete it)', { file: run });
  }
  const data = opts.data ?? (await prepareTrainingData(config, { onProgress: (p) => emit({ type: 'prepare', ...p }) }));

  await mkdir(run, { recursive: true });
  const last = opts.resume ? await loadLast(runPath(run, 'last')) : undefined;
  let saved: SavedConfig;
  if (last) {
    saved = await readRunConfig(run);
    if (saved.dataHash !== data.hash) {
      disposeModel(last.model);
      throw new CovidNetError('E_RUN', `the data source changed since this run started (content hash ${data.hash.slice(0, 12)} vs ${saved.dataHash.slice(0, 12)}); cannot resume`, { file: runPath(run, 'config') });
    }
    saved = { ...saved, epochs: config.epochs, backendUsed: backend.name };
  } else {
    saved = {
      ...config,
      dataRoot: resolve(data.dataset.root),
      dataName: data.dataset.name,
      dataHash: data.hash,
      backendUsed: backend.name,
      versions: await versions(),
      createdAt: new Date().toISOString(),
    };
  }
  delete (saved as Partial<RunConfig>).stopAfter;
  await writeJsonAtomic(runPath(run, 'config'), saved);
  const preprocess: PreprocessInfo = { model: config.model, size: config.size, crop: config.crop, mean: data.stats.mean, std: data.stats.std, classes: CLASSES };
  await writeJsonAtomic(runPath(run, 'preprocess'), preprocess);
  await writeJsonAtomic(runPath(run, 'splits'), splitsFile(data, config.seed));

  const modelConfig = { size: config.size, width: config.width, fc: config.fc, seed: config.seed };
  const model = last?.model ?? (recipe ? recipe.buildModel(modelConfig) : covidNet(modelConfig));
  if (!last && config.initFrom !== undefined) await initFromRun(model, config.initFrom);
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
    resumedFrom: state.epoch,
    epochs: config.epochs,
  });

  const labels: ClassName[] = data.train.items.map((it) => it.label);
  let epochsThisProcess = 0;
  try {
    while (state.epoch < config.epochs) {
      if (config.stopAfter !== undefined && epochsThisProcess >= config.stopAfter) break;
      const epoch = state.epoch + 1;
      const rng = rngFromState(state.rngState);
      const t0 = performance.now();
      let lossSum = 0;
      let samples = 0;
      let imageBatchSteps: number | undefined; // batch recipes: samples counts pairs, not steps × batch
      const kept = new Kept();
      const classTally = new ClassTally();
      const pairTally = new PairTally();
      if (config.model === 'single') {
        const order = balancedEpoch(labels, rng);
        const batches = chunk(order, config.batch);
        emit({ type: 'epoch-start', epoch, epochs: config.epochs, steps: batches.length, samples: order.length });
        for (const [i, idx] of batches.entries()) {
          const x = batchTensor(data.train, idx, data.stats);
          const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(idx.map((j) => classIndex(labels[j]!)), 'int32'), CLASSES.length), 'float32'));
          const loss = step(model, opt, rng, () => {
            const probs = model.apply(x, { training: true }) as tf.Tensor;
            kept.keep(probs);
            return categoricalCrossEntropy(probs, y);
          });
          tf.dispose([x, y]);
          classTally.add(kept.take(), idx.map((j) => classIndex(labels[j]!)));
          lossSum += loss * idx.length;
          samples += idx.length;
          emit({ type: 'step', epoch, step: i + 1, steps: batches.length, samples, loss: lossSum / samples, tensors: tf.memory().numTensors });
        }
      } else if (recipe!.batchLoss) {
        // every pair inside a balanced batch of images: B(B−1)/2 pairs for B encoder passes
        const batches = chunk(balancedEpoch(labels, rng), config.batch).filter((b) => b.length > 1);
        const nPairs = batches.reduce((n, b) => n + (b.length * (b.length - 1)) / 2, 0);
        emit({ type: 'epoch-start', epoch, epochs: config.epochs, steps: batches.length, samples: nPairs });
        imageBatchSteps = batches.length;
        for (const [i, idx] of batches.entries()) {
          const x = batchTensor(data.train, idx, data.stats);
          const cls = idx.map((j) => classIndex(labels[j]!));
          const loss = step(model, opt, rng, () => recipe!.batchLoss!(model, x, cls, (p) => kept.keep(p)));
          x.dispose();
          pairTally.add(kept.take(), allPairs(cls).different);
          const n = (idx.length * (idx.length - 1)) / 2;
          lossSum += loss * n;
          samples += n;
          emit({ type: 'step', epoch, step: i + 1, steps: batches.length, samples, loss: lossSum / samples, tensors: tf.memory().numTensors });
        }
      } else {
        const pairs = recipe!.pairs(labels, config.pairs, rng);
        const batches = chunk(pairs, config.batch);
        emit({ type: 'epoch-start', epoch, epochs: config.epochs, steps: batches.length, samples: pairs.length });
        for (const [i, ps] of batches.entries()) {
          const xa = batchTensor(data.train, ps.map((p) => p.a), data.stats);
          const xb = batchTensor(data.train, ps.map((p) => p.b), data.stats);
          const y = tf.tensor2d(ps.map((p) => (p.same ? 0 : 1)), [ps.length, 1]);
          const loss = step(model, opt, rng, () => {
            const p = model.apply([xa, xb], { training: true }) as tf.Tensor;
            kept.keep(p);
            return recipe!.loss(p, y);
          });
          tf.dispose([xa, xb, y]);
          pairTally.add(kept.take(), ps.map((p) => (p.same ? 0 : 1)));
          lossSum += loss * ps.length;
          samples += ps.length;
          emit({ type: 'step', epoch, step: i + 1, steps: batches.length, samples, loss: lossSum / samples, tensors: tf.memory().numTensors });
        }
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      emit({ type: 'validating', epoch });
      let valAcc: number;
      let valLoss: number;
      let valPairAcc: number | undefined;
      let valOneShot: number | undefined;
      let valTemplate: number | undefined;
      if (config.model === 'single') {
        ({ accuracy: valAcc, loss: valLoss } = await singleValidation(model, data.val, data.stats, config.evalBatch));
      } else {
        const v = await siameseValidation(model, recipe!, data, { trials: config.oneShotTrials, oneShotSeed: config.seed ^ 0x0e5a07, pairSeed: config.seed ^ 0x5a1d, batch: config.evalBatch });
        ({ oneShot: valOneShot, template: valTemplate, loss: valLoss, pairAccuracy: valPairAcc } = v);
        valAcc = config.selectBy === 'one-shot' ? valOneShot : valTemplate;
      }
      const trainAcc = config.model === 'single' ? classTally.value() : pairTally.value();
      // new fields only when defined: JSON would turn NaN into null
      const finite = (k: string, v: number | undefined): Record<string, number> => (v !== undefined && Number.isFinite(v) ? { [k]: v } : {});
      const best = valAcc > state.bestValAccuracy;
      if (best) await saveModel(model, runPath(run, 'model'));
      const seconds = (performance.now() - t0) / 1000;
      const record: EpochRecord = {
        epoch,
        loss: samples ? lossSum / samples : NaN,
        ...finite('train_accuracy', trainAcc),
        ...(Number.isFinite(trainAcc) ? { train_metric: config.model === 'single' ? ('accuracy' as const) : ('pair_accuracy' as const) } : {}),
        ...finite('val_loss', valLoss),
        val_accuracy: valAcc,
        val_metric: config.model === 'single' ? 'accuracy' : config.selectBy === 'one-shot' ? 'one_shot_accuracy' : 'template_accuracy',
        ...finite('val_one_shot_accuracy', valOneShot),
        ...finite('val_template_accuracy', valTemplate),
        ...finite('val_pair_accuracy', valPairAcc),
        best,
        steps: imageBatchSteps ?? Math.ceil(samples / config.batch),
        samples,
        seconds: Math.round(seconds * 100) / 100,
        samples_per_second: Math.round((samples / trainSeconds) * 100) / 100,
        lr: config.lr,
        batch: config.batch,
      };
      history.push(record);
      await writeHistory(run, history);
      state = {
        epoch,
        rngState: rng.state(),
        bestEpoch: best ? epoch : state.bestEpoch,
        bestValAccuracy: best ? valAcc : state.bestValAccuracy,
      };
      await saveLast(runPath(run, 'last'), model, opt, state);
      epochsThisProcess++;
      emit({ type: 'epoch', record });
    }
  } finally {
    opt.dispose();
    disposeModel(model);
  }

  const complete = state.epoch >= config.epochs;
  if (complete && config.model === 'siamese') {
    const bestModel = await loadRunModel(run);
    try {
      const t = await computeTemplates(bestModel, data.train, data.stats, config.evalBatch);
      await writeJsonAtomic(runPath(run, 'templates'), t);
      emit({ type: 'templates', counts: t.counts });
    } finally {
      disposeModel(bestModel);
    }
  }
  return { run, config: saved, epochsDone: state.epoch, bestEpoch: state.bestEpoch, bestValAccuracy: state.bestValAccuracy, history, complete, backend };
}

