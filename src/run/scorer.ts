/**
 * Scoring with a run's model once it is in memory: the model input, class scores, embeddings,
 * calibrated probabilities and OOD verdicts (`RunModel` in ./run-model.ts adds opening a run folder).
 * No file or native access here: the browser app (src/web) bundles this module and builds a
 * scorer with `RunScorer.fromParts` from the files of an exported site.
 */
import * as tf from '../tf.js';
import { imagesToModelInput, toModelInput } from '../data/norm.js';
import type { NormStats, PreparedSet } from '../data/types.js';
import { CovidNetError, optionError } from '../errors.js';
import { validClassList, type ClassName, type ModelKind } from '../types.js';
import type { BackendChoice, BackendPurpose } from '../backend/index.js';
import { assertModelInput } from '../model/input.js';
import { disposeModel, siameseParts, singleEmbeddingOutput, singleLogits, stemStatistics, trustFeatureModel } from '../model/covidnet.js';
import { argmax, oneShotPredictionsWith, templateSimilarity, templateSimilarityLogits, TFJS_FORWARD, type ModelForward } from '../model/infer.js';

// Every inference forward of a run (scores, embeddings, trust features, Grad-CAM's trunk) goes
// through the scorer's one ModelForward: `RunModel` passes the native compiled plan on onednn.
export { TFJS_FORWARD, type ModelForward };
import { runTrustOf, type RunTrust } from '../trust/run-trust.js';
import type { OodVerdict } from '../trust/detector.js';
import type { CalibrationMethod } from '../trust/calibration.js';
import type { PreprocessInfo, SavedConfig, TemplatesFile } from './files.js';

/** What a row of class scores holds: softmax probabilities (single) or 1 − P(different) to each class template (siamese). */
export type ScoreKind = 'probability' | 'template-similarity';

/** What a model's class scores are: softmax probabilities (single) or template similarities (siamese). */
export function scoreKindOf(model: ModelKind): ScoreKind {
  return model === 'single' ? 'probability' : 'template-similarity';
}

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
  /** Keep the backend that is active now (training hands its run over this way) instead of choosing one. */
  keepBackend?: boolean | undefined;
}

/** Raw scores with the layers under them, from one forward pass. */
export interface ImageFeatures {
  scores: ClassScores;
  /** The 256-unit embedding per image (the single net's input to `logits`; the siamese encoder's output). */
  embeddings: Float32Array[];
  /** Single: the class logits (softmax = the scores); siamese: the logits of the similarity to each class template. */
  logits: Float32Array[];
  /** The stem's channel statistics (mean and standard deviation of each `stem/conv` channel). */
  stem: Float32Array[];
}

/** One image: raw scores, and what the run's trust files say about it. */
export interface ImageAssessment {
  /** Raw class scores, as `scoreImages` gives them. */
  scores: Float32Array;
  /** The class of the raw scores (their argmax); calibration does not change it. */
  predicted: ClassName;
  /** Calibrated probabilities (`classes` order); undefined without calibration.json. */
  calibrated: number[] | undefined;
  /** The out-of-distribution verdict; undefined without ood.json. */
  ood: OodVerdict | undefined;
}

export interface Assessment {
  kind: ScoreKind;
  classes: readonly ClassName[];
  rows: ImageAssessment[];
  /** How `calibrated` was made; undefined without calibration.json. */
  calibration: CalibrationMethod | undefined;
  /** Why there is no verdict or no calibrated probability (e.g. a run trained before they existed). */
  notes: string[];
}

/** Default images per inference batch where neither the caller nor the run's config says. */
const DEFAULT_BATCH = 32;

/** What `RunScorer.fromParts` needs: the run's files as parsed JSON and its loaded model. */
export interface RunParts {
  /** The run's name or folder (for messages). */
  run: string;
  config: SavedConfig;
  preprocess: PreprocessInfo;
  /** templates.json (siamese), or the CovidNetError saying why it could not be read. */
  templatesJson: TemplatesFile | CovidNetError | undefined;
  /** ood.json and calibration.json as parsed JSON, or the CovidNetError saying why each could not be read. */
  trustJson: { ood: unknown; calibration: unknown };
  backend: BackendChoice;
  model: tf.LayersModel;
  /** How models run forward (default `TFJS_FORWARD`). */
  forward?: ModelForward | undefined;
}

export class RunScorer {
  private disposed = false;
  /** The model with the stem and the embedding as outputs too (built on first use; shares the weights). */
  private featureNet: tf.LayersModel | undefined;

  protected constructor(
    /** The run folder as given. */
    readonly run: string,
    readonly config: SavedConfig,
    readonly preprocess: PreprocessInfo,
    /**
     * Siamese: the class templates (mean embedding per class, `classes` order); undefined for a
     * single run, or where templates.json is missing or invalid (`requireTemplates` says why).
     */
    readonly templates: TemplatesFile | undefined,
    protected readonly templatesError: CovidNetError | undefined,
    readonly backend: BackendChoice,
    /** The best checkpoint (for Grad-CAM, which splits it at its feature layer). */
    readonly model: tf.LayersModel,
    /** ood.json and calibration.json, where the run has them (src/trust). */
    readonly trust: RunTrust,
    private readonly forwardPath: ModelForward = TFJS_FORWARD,
  ) {}

  /**
   * `model.predict(x)` as a list, through this scorer's forward path (the compiled plan where
   * `RunModel` chose it): for models sharing the run model's weights (Grad-CAM's trunk).
   */
  runForward(model: tf.LayersModel, x: tf.Tensor4D): tf.Tensor[] {
    this.alive();
    return this.forwardPath.run(model, x);
  }

  /**
   * A scorer of a run already in memory: the loaded model and the parsed run files (the browser
   * app fetches them; `RunModel.open` reads them from the run folder). Checks the model against
   * preprocess.json and the templates as `open` does.
   */
  static fromParts(p: RunParts): RunScorer {
    const { templates, templatesError } = templatesOf(p);
    checkModel(p.model, p.preprocess, p.run);
    return new RunScorer(p.run, p.config, p.preprocess, templates, templatesError, p.backend, p.model, runTrustOf(p.trustJson, p.preprocess.model, embeddingDim(p.model, p.preprocess.model)), p.forward);
  }

  get kind(): ModelKind {
    return this.preprocess.model;
  }

  /**
   * Every class the run scores, in output order: the trained classes (preprocess.json), and for a
   * siamese run those of its templates (which may include classes added from a few examples).
   */
  get classes(): readonly ClassName[] {
    return this.templates?.classes ?? this.preprocess.classes;
  }

  /** Classes added to a siamese run after training (`templates add`). */
  get addedClasses(): readonly ClassName[] {
    return (this.templates?.added ?? []).map((a) => a.class);
  }

  get scoreKind(): ScoreKind {
    return scoreKindOf(this.kind);
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
    const rows = this.kind === 'single' ? await this.predictBatch(this.model, input) : this.similarity(await this.embed(input));
    return { kind: this.scoreKind, classes: this.classes, rows };
  }

  /** Siamese: the encoder's embeddings of a batch of model inputs. */
  async embed(input: tf.Tensor4D): Promise<Float32Array[]> {
    this.alive();
    if (this.kind !== 'siamese') throw optionError('run', 'a siamese run (embeddings)', `a ${this.kind} run`);
    return this.predictBatch(siameseParts(this.model).encoder, input);
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
    const rows = this.kind === 'single' ? await this.batched(images, batch, (x) => this.predictBatch(this.model, x)) : this.similarity(await this.embedImages(images, batch));
    return { kind: this.scoreKind, classes: this.classes, rows };
  }

  /** Siamese: embeddings of many images, `batch` at a time. */
  async embedImages(images: RunImages, batch?: number): Promise<Float32Array[]> {
    this.alive();
    if (this.kind !== 'siamese') throw optionError('run', 'a siamese run (embeddings)', `a ${this.kind} run`);
    const encoder = siameseParts(this.model).encoder;
    return this.batched(images, batch, (x) => this.predictBatch(encoder, x));
  }

  /**
   * Siamese: the n-way one-shot protocol, `trials` trials with queries from `query` and one
   * support image per class from `support` (seeded); class indices (in `classesOf` the support's
   * labels) of truth and prediction.
   */
  oneShot(query: PreparedSet, support: PreparedSet, trials: number, seed: number, batch?: number): Promise<{ truth: number[]; pred: number[] }> {
    this.alive();
    if (this.kind !== 'siamese') throw optionError('--one-shot', 'a siamese run', `a ${this.kind} run`);
    return oneShotPredictionsWith(this.model, (set, indices) => this.embedImages({ set, indices }, batch), query, support, trials, seed);
  }

  /** Units of the embedding (the 256-unit layer). */
  get embeddingDim(): number {
    return embeddingDim(this.model, this.kind);
  }

  /** Raw scores, embeddings, logits and stem statistics of a batch of model inputs (`toInput`), one forward pass. */
  async featuresOf(input: tf.Tensor4D): Promise<ImageFeatures> {
    this.alive();
    if (this.kind === 'siamese') this.requireTemplates();
    return this.completeFeatures([await this.forward(input)]);
  }

  /** `featuresOf` for many images, `batch` at a time (default: the run's evalBatch). */
  async featureImages(images: RunImages, batch?: number): Promise<ImageFeatures> {
    this.alive();
    if (this.kind === 'siamese') this.requireTemplates();
    const parts: Forward[] = [];
    await this.batched(images, batch, async (x) => {
      parts.push(await this.forward(x));
      return [];
    });
    return this.completeFeatures(parts);
  }

  /** Why there is no OOD verdict or no calibrated probability (empty when the run has both files). */
  get trustNotes(): string[] {
    const notes: string[] = [];
    if (!this.trust.ood) notes.push(`no out-of-distribution check: ${this.trust.problems.ood?.reason ?? 'ood.json unavailable'}`);
    if (!this.trust.calibration) notes.push(`no calibrated probabilities: ${this.trust.problems.calibration?.reason ?? 'calibration.json unavailable'}`);
    const added = this.addedClasses;
    if (added.length > 0) {
      notes.push(`class${added.length === 1 ? '' : 'es'} ${added.join(', ')} added from a few examples after training: ${this.trust.calibration ? 'the calibration was fitted without them and ' : ''}the out-of-distribution check knows only the trained classes`);
    }
    return notes;
  }

  /** Calibrated probabilities and OOD verdicts for features (what the run's trust files give). */
  assessFeatures(f: ImageFeatures): Assessment {
    const { ood, calibration } = this.trust;
    const notes = this.trustNotes;
    const rows = f.scores.rows.map((r, i): ImageAssessment => ({
      scores: r,
      predicted: this.classes[argmax(r)]!,
      calibrated: calibration?.probabilities(f.logits[i]!),
      ood: ood?.verdict({ embedding: f.embeddings[i]!, stem: f.stem[i]!, logits: this.kind === 'single' ? f.logits[i] : undefined }),
    }));
    return { kind: this.scoreKind, classes: this.classes, rows, calibration: calibration?.method, notes };
  }

  /** `assessFeatures(await featuresOf(input))`. */
  async assess(input: tf.Tensor4D): Promise<Assessment> {
    return this.assessFeatures(await this.featuresOf(input));
  }

  /** Raw scores, calibrated probabilities and OOD verdicts of many images, `batch` at a time. */
  async assessImages(images: RunImages, batch?: number): Promise<Assessment> {
    return this.assessFeatures(await this.featureImages(images, batch));
  }

  /** Frees the model (idempotent). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.forwardPath.dispose?.();
    disposeModel(this.model);
  }

  /** One forward pass of the feature model: stem statistics, embeddings, and (single) probabilities and logits. */
  private async forward(input: tf.Tensor4D): Promise<Forward> {
    const net = (this.featureNet ??= trustFeatureModel(this.model, this.kind));
    const single = this.kind === 'single';
    const outs = tf.tidy(() => {
      const [stem, e, p] = this.forwardPath.run(net, input) as [tf.Tensor4D, tf.Tensor2D, tf.Tensor2D?];
      return single ? [stem, e, p!, singleLogits(this.model, e)] : [stem, e];
    });
    try {
      const stem = stemStatistics(await outs[0]!.data(), outs[0]!.shape);
      const rows = await Promise.all(outs.slice(1).map((t) => tensorRows(t as tf.Tensor2D)));
      return { stem, embeddings: rows[0]!, probs: rows[1], logits: rows[2] };
    } finally {
      for (const t of outs) t.dispose();
    }
  }

  /** Forward passes joined; siamese: the similarities of all embeddings in one pass of the head, as scoreImages does. */
  private completeFeatures(parts: readonly Forward[]): ImageFeatures {
    const embeddings = parts.flatMap((p) => p.embeddings);
    const stem = parts.flatMap((p) => p.stem);
    if (this.kind === 'single') {
      return { scores: { kind: this.scoreKind, classes: this.classes, rows: parts.flatMap((p) => p.probs!) }, embeddings, logits: parts.flatMap((p) => p.logits!), stem };
    }
    const templates = this.requireTemplates().templates;
    return {
      scores: { kind: this.scoreKind, classes: this.classes, rows: this.similarity(embeddings) },
      embeddings,
      logits: templateSimilarityLogits(this.model, embeddings, templates),
      stem,
    };
  }

  /** Rows of a one-input model's output [n, k] for a batch. */
  private async predictBatch(model: tf.LayersModel, x: tf.Tensor4D): Promise<Float32Array[]> {
    const out = tf.tidy(() => this.forwardPath.run(model, x)[0] as tf.Tensor2D);
    const vals = await out.data();
    const [n, k] = out.shape;
    out.dispose();
    const rows: Float32Array[] = [];
    for (let r = 0; r < n; r++) rows.push(Float32Array.from(vals.subarray(r * k, (r + 1) * k)));
    return assertFiniteRows(rows, this.run);
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

interface Forward {
  stem: Float32Array[];
  embeddings: Float32Array[];
  probs: Float32Array[] | undefined;
  logits: Float32Array[] | undefined;
}

function isImageList(images: RunImages): images is readonly Uint8Array[] {
  return Array.isArray(images);
}

/** A model that answers NaN or ±Inf has no answer: refuse it rather than report a class for it. */
function assertFiniteRows(rows: Float32Array[], what: string): Float32Array[] {
  if (rows.some((r) => !r.every(Number.isFinite))) {
    throw new CovidNetError('E_MODEL_INVALID', `the model's outputs are not finite numbers (NaN or infinite): its weights are corrupt or its training diverged; retrain it`, { file: what });
  }
  return rows;
}

async function tensorRows(t: tf.Tensor2D): Promise<Float32Array[]> {
  const vals = (await t.data()) as Float32Array;
  const [n, k] = t.shape;
  const rows: Float32Array[] = [];
  for (let r = 0; r < n; r++) rows.push(Float32Array.from(vals.subarray(r * k, (r + 1) * k)));
  return rows;
}

/** Units of a run model's embedding layer. */
export function embeddingDim(model: tf.LayersModel, kind: ModelKind): number {
  const shape = kind === 'single' ? singleEmbeddingOutput(model).shape : siameseParts(model).encoder.outputs[0]!.shape;
  return shape[shape.length - 1] ?? 0;
}

/** A siamese run's templates, checked, or why there are none. */
export function templatesOf(p: Pick<RunParts, 'run' | 'preprocess' | 'templatesJson'>): { templates: TemplatesFile | undefined; templatesError: CovidNetError | undefined } {
  if (p.preprocess.model !== 'siamese') return { templates: undefined, templatesError: undefined };
  try {
    if (p.templatesJson === undefined) throw new CovidNetError('E_RUN', 'templates.json is missing', { file: p.run });
    if (p.templatesJson instanceof CovidNetError) throw p.templatesJson;
    return { templates: checkTemplates(p.templatesJson, p.preprocess.classes, p.run), templatesError: undefined };
  } catch (e) {
    if (!(e instanceof CovidNetError)) throw e;
    return { templates: undefined, templatesError: e };
  }
}

/**
 * templates.json checked: a class list (the trained classes where an old file has none), one finite
 * embedding of one length per class, a count per class.
 */
function checkTemplates(t: TemplatesFile, trained: readonly ClassName[], run: string): TemplatesFile {
  const classes = t.classes ?? trained;
  const ok =
    validClassList(classes) &&
    Array.isArray(t.templates) &&
    t.templates.length === classes.length &&
    t.templates.every((r) => Array.isArray(r) && r.length === t.templates[0]!.length && r.every(Number.isFinite)) &&
    (t.counts === undefined || (Array.isArray(t.counts) && t.counts.length === classes.length));
  if (!ok) throw new CovidNetError('E_RUN', `templates.json must hold at least two distinct classes and one finite embedding of one length per class (classes: ${JSON.stringify(classes).slice(0, 200)})`, { file: run });
  return { ...t, classes };
}

export function checkModel(model: tf.LayersModel, pre: PreprocessInfo, run: string): void {
  const inputs = pre.model === 'siamese' ? 2 : 1;
  if (model.inputs.length !== inputs) throw new CovidNetError('E_RUN', `model/ holds a model with ${model.inputs.length} inputs, not a ${pre.model} COVID-Net`, { file: run });
  const shape = model.inputs[0]!.shape;
  if (pre.model === 'single') {
    const out = model.outputs[0]!.shape;
    if (out[out.length - 1] !== pre.classes.length) {
      throw new CovidNetError('E_RUN', `model/ outputs ${String(out[out.length - 1])} class scores but preprocess.json lists ${pre.classes.length} classes`, { file: run });
    }
  }
  if (shape[1] !== pre.size || shape[2] !== pre.size || shape[3] !== 1) {
    throw new CovidNetError('E_RUN', `model input ${shape[1]} differs from preprocess.json size ${pre.size}`, { file: run });
  }
}
