/**
 * The out-of-distribution detector of a run (`ood.json`): is an image like the frontal chest
 * X-rays the run was trained on?
 *
 * Signals, each larger = less like the training images:
 * - `mahalanobis`: distance of the image's embedding (the 256-unit layer) to the closest class
 *   mean under the training images' shared, shrunk covariance (gaussian.ts). Both nets.
 * - `energy`: −log Σ exp(logit) of the single net's logits (Liu et al. 2020). Single net only.
 * - `mahalanobis_stem`: the same Gaussian distance on the first convolution's channel statistics
 *   (mean and standard deviation over the image of each `stem/conv` channel): how the image looks
 *   to the first layer, before the network has learnt to ignore what is not a chest X-ray. The
 *   embedding alone misses noise and smooth ramps (they land near the class means: a ReLU
 *   network's embedding shrinks for unfamiliar inputs), this catches them.
 * Each signal is standardised on the validation images (minus their median, over their robust
 * spread), and `ood_score` is the mean of the standardised signals: "how many spreads above a
 * typical validation image, on average over the signals". The threshold is the validation score
 * that accepts 95% of them (`target_acceptance`). The validation images are never trained on, so
 * they stand for new images of the same kind (training images sit closer to their own means).
 */
import { z } from 'zod';
import { CovidNetError } from '../errors.js';
import { CLASSES, type ClassName, type ModelKind } from '../types.js';
import { fitSharedGaussian, mahalanobis, type SharedGaussian } from './gaussian.js';
import { acceptanceThreshold, logSumExp, median, robustScale } from './stats.js';

export const OOD_FILE = 'ood.json';
export const OOD_FORMAT_VERSION = 1;
/** Share of the validation images the threshold accepts. */
export const DEFAULT_ACCEPTANCE = 0.95;

export const OOD_SIGNALS = ['mahalanobis', 'energy', 'mahalanobis_stem'] as const;
export type OodSignal = (typeof OOD_SIGNALS)[number];

const SignalFit = z.object({
  /** Median and robust spread of the signal over the validation images. */
  median: z.number(),
  scale: z.number().positive(),
  /** The signal's own threshold at `target_acceptance` of the validation images (for per-signal rates). */
  threshold: z.number(),
});

const GaussianSchema = z.object({
  dim: z.number().int().positive(),
  /** Class indices (the file's `classes` order) of `means`. */
  classes: z.array(z.number().int().min(0)),
  means: z.array(z.array(z.number())),
  /** Lower Cholesky factor of the shrunk shared covariance, packed by rows. */
  cholesky: z.array(z.number()),
  shrinkage: z.number().min(0).max(1),
  scale: z.number(),
  n_train: z.number().int().positive(),
});

export const OodFileSchema = z.object({
  format: z.literal('covidnet-ood'),
  version: z.literal(OOD_FORMAT_VERSION),
  model: z.enum(['single', 'siamese']),
  classes: z.array(z.string()),
  /** The layer whose output is the embedding. */
  embedding: z.object({ layer: z.string(), dim: z.number().int().positive() }),
  /** Gaussians of the embedding (`mahalanobis`) and of the stem's channel statistics (`mahalanobis_stem`). */
  gaussians: z.object({ mahalanobis: GaussianSchema, mahalanobis_stem: GaussianSchema }),
  signals: z.object({ mahalanobis: SignalFit, mahalanobis_stem: SignalFit, energy: SignalFit.optional() }),
  /** How the signals make `ood_score`. */
  combine: z.literal('mean-standardised'),
  threshold: z.number(),
  target_acceptance: z.number().gt(0).max(1),
  validation: z.object({ n: z.number().int().min(0), accepted: z.number().int().min(0) }),
  created_at: z.string(),
});
export type OodFile = z.infer<typeof OodFileSchema>;

/** Per image: the verdict and what it is made of. */
export interface OodVerdict {
  /** The largest standardised signal (validation median 0, robust spread 1); non-finite = rejected. */
  ood_score: number;
  threshold: number;
  in_distribution: boolean;
  /** Raw signals: Mahalanobis distances (embedding, stem statistics); energy (single net). */
  signals: OodSignals;
  /** The class whose mean is closest in Mahalanobis distance. */
  closest: ClassName;
}

export interface OodSignals {
  mahalanobis: number;
  mahalanobis_stem: number;
  energy?: number;
}

/** What the detector reads of one image. */
export interface OodInput {
  /** The 256-unit embedding. */
  embedding: ArrayLike<number>;
  /** The stem's channel statistics (`stemStatistics`). */
  stem: ArrayLike<number>;
  /** The single net's class logits (for the energy). */
  logits?: ArrayLike<number> | undefined;
}

/** Energy −log Σ exp(zᵢ) of a row of logits (larger = less familiar). */
export function energy(logits: ArrayLike<number>): number {
  return -logSumExp(logits);
}

export interface FitOodInput {
  model: ModelKind;
  embeddingLayer: string;
  /** The run's trained classes, the order of `train.labels` (default the study's). */
  classes?: readonly ClassName[] | undefined;
  /** Training images: embeddings and stem statistics (the Gaussians), class indices. */
  train: { embeddings: readonly ArrayLike<number>[]; stem: readonly ArrayLike<number>[]; labels: readonly number[] };
  /** Validation images (standardisation and threshold); logits for the single net's energy. */
  val: { embeddings: readonly ArrayLike<number>[]; stem: readonly ArrayLike<number>[]; logits?: readonly ArrayLike<number>[] | undefined };
  acceptance?: number | undefined;
}

function gaussianJson(g: SharedGaussian): OodFile['gaussians']['mahalanobis'] {
  return { dim: g.dim, classes: g.classes, means: g.means.map((m) => Array.from(m)), cholesky: Array.from(g.cholesky), shrinkage: g.shrinkage, scale: g.scale, n_train: g.n };
}

function gaussianOf(j: OodFile['gaussians']['mahalanobis'], what: string): SharedGaussian {
  const d = j.dim;
  if (j.means.length === 0 || j.means.length !== j.classes.length || j.means.some((r) => r.length !== d) || j.cholesky.length !== (d * (d + 1)) / 2) {
    throw new CovidNetError('E_RUN', `ood.json: the ${what} means and covariance do not match their size ${d}`);
  }
  return { dim: d, means: j.means.map((r) => Float64Array.from(r)), classes: j.classes, cholesky: Float64Array.from(j.cholesky), shrinkage: j.shrinkage, scale: j.scale, n: j.n_train };
}

/** Fit the detector: Gaussians on the training images, standardisation and threshold on validation. */
export function fitOodDetector(input: FitOodInput): OodFile {
  const acceptance = input.acceptance ?? DEFAULT_ACCEPTANCE;
  if (!(acceptance > 0 && acceptance <= 1)) throw new CovidNetError('E_OPTION', `acceptance must be in (0, 1], got ${acceptance}`);
  const nVal = input.val.embeddings.length;
  if (nVal === 0) throw new CovidNetError('E_RUN', 'the out-of-distribution threshold needs validation images; the run has none');
  const labels = input.train.labels;
  const classes = input.classes ?? CLASSES;
  const ge = fitSharedGaussian(input.train.embeddings, labels, classes.length);
  const gs = fitSharedGaussian(input.train.stem, labels, classes.length);
  const withEnergy = input.model === 'single' && input.val.logits !== undefined;
  const raw: OodSignals[] = input.val.embeddings.map((e, i) => ({
    mahalanobis: mahalanobis(ge, e).distance,
    mahalanobis_stem: mahalanobis(gs, input.val.stem[i]!).distance,
    ...(withEnergy ? { energy: energy(input.val.logits![i]!) } : {}),
  }));
  const fitOf = (v: number[]) => ({ median: median(v), scale: robustScale(v), threshold: acceptanceThreshold(v, acceptance) });
  const signals: OodFile['signals'] = {
    mahalanobis: fitOf(raw.map((r) => r.mahalanobis)),
    mahalanobis_stem: fitOf(raw.map((r) => r.mahalanobis_stem)),
    ...(withEnergy ? { energy: fitOf(raw.map((r) => r.energy!)) } : {}),
  };
  const scores = raw.map((r) => combined(signals, r));
  const threshold = acceptanceThreshold(scores, acceptance);
  return {
    format: 'covidnet-ood',
    version: OOD_FORMAT_VERSION,
    model: input.model,
    classes: [...classes],
    embedding: { layer: input.embeddingLayer, dim: ge.dim },
    gaussians: { mahalanobis: gaussianJson(ge), mahalanobis_stem: gaussianJson(gs) },
    signals,
    combine: 'mean-standardised',
    threshold,
    target_acceptance: acceptance,
    validation: { n: scores.length, accepted: scores.filter((s) => s <= threshold).length },
    created_at: new Date().toISOString(),
  };
}

/** A signal standardised on the validation images. */
export function standardised(fit: OodFile['signals'], name: OodSignal, v: number): number {
  const f = fit[name];
  return f ? (v - f.median) / f.scale : NaN;
}

function combined(fit: OodFile['signals'], s: OodSignals): number {
  const names = OOD_SIGNALS.filter((k) => fit[k] !== undefined && s[k] !== undefined);
  const mean = names.reduce((a, k) => a + standardised(fit, k, s[k]!), 0) / names.length;
  return Number.isNaN(mean) ? Infinity : mean;
}

/** A loaded `ood.json`, scoring images. */
export class OodDetector {
  private readonly ge: SharedGaussian;
  private readonly gs: SharedGaussian;

  constructor(readonly file: OodFile) {
    this.ge = gaussianOf(file.gaussians.mahalanobis, 'embedding');
    this.gs = gaussianOf(file.gaussians.mahalanobis_stem, 'stem');
    if (this.ge.dim !== file.embedding.dim) throw new CovidNetError('E_RUN', `ood.json: embedding Gaussian of size ${this.ge.dim}, embedding ${file.embedding.dim}`);
  }

  get threshold(): number {
    return this.file.threshold;
  }

  /** Units of the stem statistics the detector expects. */
  get stemDim(): number {
    return this.gs.dim;
  }

  /** Which signals this detector combines. */
  get signalNames(): OodSignal[] {
    return OOD_SIGNALS.filter((k) => this.file.signals[k] !== undefined);
  }

  /** The raw signals of one image. */
  signals(x: OodInput): OodSignals & { closest: number } {
    const { distance, closest } = mahalanobis(this.ge, x.embedding);
    const s: OodSignals & { closest: number } = { mahalanobis: distance, mahalanobis_stem: mahalanobis(this.gs, x.stem).distance, closest };
    if (this.file.signals.energy && x.logits) s.energy = energy(x.logits);
    return s;
  }

  /** The verdict for one image. */
  verdict(x: OodInput): OodVerdict {
    const { closest, ...signals } = this.signals(x);
    const score = combined(this.file.signals, signals);
    return { ood_score: score, threshold: this.threshold, in_distribution: Number.isFinite(score) && score <= this.threshold, signals, closest: this.file.classes[closest] ?? this.file.classes[0] ?? '' };
  }
}

/** Validate a parsed `ood.json` for a run of `model` with embeddings of `dim` units. */
export function parseOodFile(json: unknown, expect: { model: ModelKind; dim?: number | undefined }, file?: string): OodFile {
  const r = OodFileSchema.safeParse(json);
  if (!r.success) {
    const v = (json as { version?: unknown } | null)?.version;
    const why = v !== undefined && v !== OOD_FORMAT_VERSION ? `version ${JSON.stringify(v)} is not ${OOD_FORMAT_VERSION} (refit it: covidnet ood fit --run RUN)` : `invalid (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`;
    throw new CovidNetError('E_RUN', `ood.json ${why}`, file !== undefined ? { file } : {});
  }
  if (r.data.model !== expect.model) throw new CovidNetError('E_RUN', `ood.json was fitted for a ${r.data.model} run, this is a ${expect.model} run`, file !== undefined ? { file } : {});
  if (expect.dim !== undefined && r.data.embedding.dim !== expect.dim) throw new CovidNetError('E_RUN', `ood.json expects ${r.data.embedding.dim}-unit embeddings, the model gives ${expect.dim}`, file !== undefined ? { file } : {});
  return r.data;
}

/** What the text outputs and the page say of an out-of-distribution image. */
export const OOD_MESSAGE = 'does not look like the frontal chest X-rays this run was trained on';

/** `out of distribution: <OOD_MESSAGE> (ood score 3.2 > threshold 1.4)`. */
export function oodLine(score: number | null, threshold: number): string {
  return `out of distribution: ${OOD_MESSAGE} (ood score ${score === null || !Number.isFinite(score) ? '∞' : score.toFixed(2)} > threshold ${threshold.toFixed(2)})`;
}
