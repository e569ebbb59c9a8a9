/**
 * A trained run, opened once for inference: config.json, preprocess.json, templates.json
 * (siamese), the backend and the best checkpoint. Predict, evaluate, explain, serve and the
 * report's Grad-CAM go through it, so every model input is built (and checked) one way and class
 * scores mean one thing per kind of run.
 *
 *   const rm = await RunModel.open('runs/siamese');
 *   const { kind, rows } = await rm.scoreImages(images);   // 'template-similarity', one row per image
 *   rm.dispose();
 */
import * as tf from '../tf.js';
import { imagesToModelInput, toModelInput } from '../data/norm.js';
import type { NormStats, PreparedSet } from '../data/types.js';
import { CovidNetError, optionError } from '../errors.js';
import { CLASSES, type ClassName, type ModelKind } from '../types.js';
import { initBackend, type BackendChoice, type BackendPurpose } from '../backend/index.js';
import { assertModelInput } from '../model/input.js';
import { disposeModel, siameseParts } from '../model/covidnet.js';
import { oneShotPredictionsWith, templateSimilarity } from '../model/infer.js';
import { readPreprocess, readRunConfig, readTemplates, type PreprocessInfo, type SavedConfig, type TemplatesFile } from './files.js';
import { loadRunModel } from './load.js';

/** What a row of class scores holds: softmax probabilities (single) or 1 − P(different) to each class template (siamese). */
export type ScoreKind = 'probability' | 'template-similarity';

export interface ClassScores {
  kind: ScoreKind;
  classes: readonly ClassName[];
  /** One row per image, in `classes` order; the predicted class is the row's argmax. */
  rows: Float32Array[];
}

/**
 * Images for the model: 8-bit images after crop and resize (preprocess.json's size² pixels each),
 * or images of a prepared set (all of it, or `indices` in that order).
 */
export type RunImages = readonly Uint8Array[] | { set: PreparedSet; indices?: readonly number[] | undefined };

export interface RunModelOptions {
  /** Force a backend (`onednn`, `wasm`, `cpu`); default COVIDNET_BACKEND or the fastest available. */
  backend?: string | undefined;
  threads?: number | undefined;
  /** Which backends rank first (default `infer`). */
  purpose?: BackendPurpose | undefined;
}

/** Default images per inference batch where neither the caller nor the run's config says. */
const DEFAULT_BATCH = 32;

export class RunModel {
  private disposed = false;

  private constructor(
    /** The run folder as given. */
    readonly run: string,
    readonly config: SavedConfig,
    readonly preprocess: PreprocessInfo,
    /**
     * Siamese: the class templates (mean training embeddings, CLASSES order); undefined for a
     * single run, or where templates.json is missing or invalid (`requireTemplates` says why).
     */
    readonly templates: TemplatesFile | undefined,
    private readonly templatesError: CovidNetError | undefined,
    readonly backend: BackendChoice,
    /** The best checkpoint (for Grad-CAM, which splits it at its feature layer). */
    readonly model: tf.LayersModel,
  ) {}

  static async open(run: string, opts: RunModelOptions = {}): Promise<RunModel> {
    const config = await readRunConfig(run);
    const preprocess = await readPreprocess(run);
    if (config.model !== preprocess.model) {
      throw new CovidNetError('E_RUN', `config.json says ${config.model} but preprocess.json says ${preprocess.model}`, { file: run });
    }
    let templates: TemplatesFile | undefined;
    let templatesError: CovidNetError | undefined;
    if (preprocess.model === 'siamese') {
      // read now, required only by what needs them (one-shot evaluation does not)
      try {
        templates = checkTemplates(await readTemplates(run), run);
      } catch (e) {
        if (!(e instanceof CovidNetError)) throw e;
        templatesError = e;
      }
    }
    const backend = await initBackend({ backend: opts.backend, purpose: opts.purpose ?? 'infer', threads: opts.threads });
    const model = await loadRunModel(run);
    try {
      checkModel(model, preprocess, run);
    } catch (e) {
      disposeModel(model);
      throw e;
    }
    return new RunModel(run, config, preprocess, templates, templatesError, backend, model);
  }

  get kind(): ModelKind {
    return this.preprocess.model;
  }

  get classes(): readonly ClassName[] {
    return this.preprocess.classes;
  }

  get scoreKind(): ScoreKind {
    return this.kind === 'single' ? 'probability' : 'template-similarity';
  }

  /** Input side in pixels. */
  get size(): number {
    return this.preprocess.size;
  }

  /** The training split's standardisation (preprocess.json). */
  get stats(): NormStats {
    return { mean: this.preprocess.mean, std: this.preprocess.std };
  }

  /** The class templates, or the reason there are none (a single run, templates.json missing or invalid). */
  requireTemplates(): TemplatesFile {
    if (this.templates) return this.templates;
    throw this.templatesError ?? optionError('run', 'a siamese run (class templates)', `a ${this.kind} run`);
  }

  /**
   * The model input [n, size, size, 1]: (pixel/255 − mean)/std with the run's statistics, checked
   * by `assertModelInput`. The caller disposes the tensor.
   */
  toInput(images: RunImages): tf.Tensor4D {
    this.alive();
    const size = this.size;
    let data: Float32Array;
    let n: number;
    if (isImageList(images)) {
      data = imagesToModelInput(images, size, this.stats);
      n = images.length;
    } else {
      const idx = images.indices ?? images.set.items.map((_, i) => i);
      if (images.set.size !== size) throw optionError('images', `a set prepared at ${size}×${size} (preprocess.json)`, images.set.size);
      data = toModelInput(images.set, idx, this.stats);
      n = idx.length;
    }
    if (n === 0) throw optionError('images', 'at least one image', 0);
    assertModelInput(data, size, `model input of run ${this.run}`);
    return tf.tensor4d(data, [n, size, size, 1]);
  }

  /** Class scores of a batch of model inputs (`toInput`). */
  async scores(input: tf.Tensor4D): Promise<ClassScores> {
    this.alive();
    const rows = this.kind === 'single' ? await predictBatch(this.model, input, this.run) : this.similarity(await this.embed(input));
    return { kind: this.scoreKind, classes: this.classes, rows };
  }

  /** Siamese: the encoder's embeddings of a batch of model inputs. */
  async embed(input: tf.Tensor4D): Promise<Float32Array[]> {
    this.alive();
    if (this.kind !== 'siamese') throw optionError('run', 'a siamese run (embeddings)', `a ${this.kind} run`);
    return predictBatch(siameseParts(this.model).encoder, input, this.run);
  }

  /**
   * Siamese: similarity 1 − P(different) of each embedding to each template (default: the run's
   * class templates), all pairs in one batch of the head.
   */
  similarity(embeddings: readonly Float32Array[], templates?: readonly ArrayLike<number>[]): Float32Array[] {
    this.alive();
    if (this.kind !== 'siamese') throw optionError('run', 'a siamese run (similarity)', `a ${this.kind} run`);
    return assertFiniteRows(templateSimilarity(this.model, embeddings, templates ?? this.requireTemplates().templates), this.run);
  }

  /**
   * Class scores of many images, `batch` at a time (default: the run's evalBatch). Siamese: the
   * embeddings are made per batch and compared with the templates in one pass at the end.
   */
  async scoreImages(images: RunImages, batch?: number): Promise<ClassScores> {
    this.alive();
    if (this.kind === 'siamese') this.requireTemplates();
    const rows = this.kind === 'single' ? await this.batched(images, batch, (x) => predictBatch(this.model, x, this.run)) : this.similarity(await this.embedImages(images, batch));
    return { kind: this.scoreKind, classes: this.classes, rows };
  }

  /** Siamese: embeddings of many images, `batch` at a time. */
  async embedImages(images: RunImages, batch?: number): Promise<Float32Array[]> {
    this.alive();
    if (this.kind !== 'siamese') throw optionError('run', 'a siamese run (embeddings)', `a ${this.kind} run`);
    const encoder = siameseParts(this.model).encoder;
    return this.batched(images, batch, (x) => predictBatch(encoder, x, this.run));
  }

  /**
   * Siamese: the 3-way one-shot protocol, `trials` trials with queries from `query` and one
   * support image per class from `support` (seeded); class indices of truth and prediction.
   */
  oneShot(query: PreparedSet, support: PreparedSet, trials: number, seed: number, batch?: number): Promise<{ truth: number[]; pred: number[] }> {
    this.alive();
    if (this.kind !== 'siamese') throw optionError('--one-shot', 'a siamese run', `a ${this.kind} run`);
    return oneShotPredictionsWith(this.model, (set, indices) => this.embedImages({ set, indices }, batch), query, support, trials, seed);
  }

  /** Frees the model (idempotent). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeModel(this.model);
  }

  private alive(): void {
    if (this.disposed) throw new CovidNetError('E_RUN', `run ${this.run} was disposed`);
  }

  private async batched(images: RunImages, batch: number | undefined, f: (x: tf.Tensor4D) => Promise<Float32Array[]>): Promise<Float32Array[]> {
    const b = batch ?? this.config.evalBatch ?? DEFAULT_BATCH;
    if (!(Number.isInteger(b) && b > 0)) throw optionError('--batch', 'a positive integer', b);
    const parts: RunImages[] = [];
    if (isImageList(images)) {
      for (let i = 0; i < images.length; i += b) parts.push(images.slice(i, i + b));
    } else {
      const idx = images.indices ?? images.set.items.map((_, i) => i);
      for (let i = 0; i < idx.length; i += b) parts.push({ set: images.set, indices: idx.slice(i, i + b) });
    }
    const rows: Float32Array[] = [];
    for (const part of parts) {
      const x = this.toInput(part);
      try {
        rows.push(...(await f(x)));
      } finally {
        x.dispose();
      }
    }
    return rows;
  }
}

function isImageList(images: RunImages): images is readonly Uint8Array[] {
  return Array.isArray(images);
}

/** Rows of a one-input model's output [n, k] for a batch. */
async function predictBatch(model: tf.LayersModel, x: tf.Tensor4D, run: string): Promise<Float32Array[]> {
  const out = tf.tidy(() => model.predict(x) as tf.Tensor2D);
  const vals = await out.data();
  const [n, k] = out.shape;
  out.dispose();
  const rows: Float32Array[] = [];
  for (let r = 0; r < n; r++) rows.push(Float32Array.from(vals.subarray(r * k, (r + 1) * k)));
  return assertFiniteRows(rows, run);
}

/** A model that answers NaN or ±Inf has no answer: refuse it rather than report a class for it. */
function assertFiniteRows(rows: Float32Array[], what: string): Float32Array[] {
  if (rows.some((r) => !r.every(Number.isFinite))) {
    throw new CovidNetError('E_MODEL_INVALID', `the model's outputs are not finite numbers (NaN or infinite): its weights are corrupt or its training diverged; retrain it`, { file: what });
  }
  return rows;
}

function checkTemplates(t: TemplatesFile, run: string): TemplatesFile {
  const ok =
    Array.isArray(t.templates) &&
    t.templates.length === CLASSES.length &&
    (t.classes ?? CLASSES).join() === CLASSES.join() &&
    t.templates.every((r) => Array.isArray(r) && r.length === t.templates[0]!.length && r.every(Number.isFinite));
  if (!ok) throw new CovidNetError('E_RUN', `templates.json must hold ${CLASSES.length} finite embeddings of one length, classes ${CLASSES.join(', ')}`, { file: run });
  return t;
}

function checkModel(model: tf.LayersModel, pre: PreprocessInfo, run: string): void {
  const inputs = pre.model === 'siamese' ? 2 : 1;
  if (model.inputs.length !== inputs) throw new CovidNetError('E_RUN', `model/ holds a model with ${model.inputs.length} inputs, not a ${pre.model} COVID-Net`, { file: run });
  const shape = model.inputs[0]!.shape;
  if (shape[1] !== pre.size || shape[2] !== pre.size || shape[3] !== 1) {
    throw new CovidNetError('E_RUN', `model input ${shape[1]} differs from preprocess.json size ${pre.size}`, { file: run });
  }
}
