/**
 * Calibrated class probabilities (`calibration.json`), fitted on the validation images only.
 *
 * - Single net: temperature scaling (Guo et al. 2017): p = softmax(z / T) with the logits z; one
 *   parameter T > 0 minimising the validation negative log-likelihood. The predicted class (the
 *   argmax) does not change.
 * - Siamese net: logistic calibration of template similarity. With uᶜ = logit of the similarity to
 *   class c's template (the negated pre-sigmoid output of the distance head),
 *   p_c = σ(a·uᶜ + b) / Σ_j σ(a·uʲ + b), a > 0, b fitted by the validation negative
 *   log-likelihood. Monotone in uᶜ, so again the argmax does not change.
 *
 * Expected calibration error (ECE): the top-class confidence in 15 equal-width bins, the mean
 * |accuracy − confidence| weighted by the bin's share of images. "Before" reads the raw scores as
 * probabilities (softmax; siamese: the similarity of the closest template, as predict shows it).
 */
import { z } from 'zod';
import { CovidNetError } from '../errors.js';
import type { ModelKind } from '../types.js';
import { bootstrap, softmax, type BootstrapInterval } from './stats.js';

export const CALIBRATION_FILE = 'calibration.json';
export const CALIBRATION_FORMAT_VERSION = 1;
export const ECE_BINS = 15;

export type CalibrationMethod = 'temperature' | 'similarity-logistic';

export const CalibrationFileSchema = z.object({
  format: z.literal('covidnet-calibration'),
  version: z.literal(CALIBRATION_FORMAT_VERSION),
  model: z.enum(['single', 'siamese']),
  method: z.enum(['temperature', 'similarity-logistic']),
  /** temperature: { temperature }; similarity-logistic: { a, b }. */
  parameters: z.object({ temperature: z.number().positive().optional(), a: z.number().positive().optional(), b: z.number().optional() }),
  validation: z.object({
    n: z.number().int().min(0),
    nll_before: z.number().nullable(),
    nll_after: z.number().nullable(),
    ece_before: z.number().nullable(),
    ece_after: z.number().nullable(),
    bins: z.number().int().positive(),
  }),
  /**
   * The validation images' class indices and calibrated probabilities (the trained classes' order), kept so an
   * operating point (`--operating-point`) is chosen on validation without scoring it again.
   */
  validation_scores: z.object({ labels: z.array(z.number().int().min(0)), calibrated: z.array(z.array(z.number())) }),
  created_at: z.string(),
});
export type CalibrationFile = z.infer<typeof CalibrationFileSchema>;

const EPS = 1e-12;

/** Negative log-likelihood (mean) of probability rows for the true classes. */
export function meanNll(probs: readonly ArrayLike<number>[], labels: readonly number[]): number {
  if (probs.length === 0) return NaN;
  let s = 0;
  probs.forEach((p, i) => (s -= Math.log(Math.max(p[labels[i]!]!, EPS))));
  return s / probs.length;
}

/** Minimise a unimodal f on [lo, hi] (golden-section search). */
function golden(f: (x: number) => number, lo: number, hi: number, iters = 80): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let a = lo;
  let b = hi;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < iters; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

/** Temperature scaling: T minimising the mean NLL of softmax(z / T); the NLL is convex in 1/T. */
export function fitTemperature(logits: readonly ArrayLike<number>[], labels: readonly number[]): number {
  if (logits.length === 0) return 1;
  const nll = (logBeta: number) => meanNll(logits.map((z) => softmax(z, Math.exp(-logBeta))), labels);
  // over log(1/T) in [log 1/100, log 100]: a convex function of 1/T is unimodal in its log
  return Math.exp(-golden(nll, Math.log(0.01), Math.log(100)));
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Logistic calibration of similarity logits: p_c ∝ σ(a·u_c + b). */
export function similarityProbabilities(u: ArrayLike<number>, a: number, b: number): number[] {
  const q = Array.from(u, (v) => sigmoid(a * v + b));
  const s = q.reduce((x, y) => x + y, 0);
  return s > 0 ? q.map((v) => v / s) : q.map(() => 1 / q.length);
}

/** Nelder–Mead on two parameters (small, robust, no gradients). */
function nelderMead2(f: (x: number, y: number) => number, start: [number, number], step: number, iters = 400): [number, number] {
  let s: { p: [number, number]; v: number }[] = [start, [start[0] + step, start[1]], [start[0], start[1] + step]].map((p) => ({ p: p as [number, number], v: f(p[0]!, p[1]!) }));
  for (let i = 0; i < iters; i++) {
    s.sort((a, b) => a.v - b.v);
    const [best, mid, worst] = s as [(typeof s)[0], (typeof s)[0], (typeof s)[0]];
    if (Math.abs(worst.v - best.v) < 1e-12 && Math.hypot(worst.p[0] - best.p[0], worst.p[1] - best.p[1]) < 1e-9) break;
    const c: [number, number] = [(best.p[0] + mid.p[0]) / 2, (best.p[1] + mid.p[1]) / 2];
    const at = (t: number): { p: [number, number]; v: number } => {
      const p: [number, number] = [c[0] + t * (worst.p[0] - c[0]), c[1] + t * (worst.p[1] - c[1])];
      return { p, v: f(p[0], p[1]) };
    };
    const r = at(-1);
    if (r.v < best.v) {
      const e = at(-2);
      s = [best, mid, e.v < r.v ? e : r];
    } else if (r.v < mid.v) {
      s = [best, mid, r];
    } else {
      const k = at(r.v < worst.v ? -0.5 : 0.5);
      if (k.v < Math.min(r.v, worst.v)) s = [best, mid, k];
      else {
        // shrink towards the best point
        const sh = (q: { p: [number, number] }) => {
          const p: [number, number] = [(q.p[0] + best.p[0]) / 2, (q.p[1] + best.p[1]) / 2];
          return { p, v: f(p[0], p[1]) };
        };
        s = [best, sh(mid), sh(worst)];
      }
    }
  }
  s.sort((a, b) => a.v - b.v);
  return s[0]!.p;
}

/** Fit (a, b) of the similarity calibration by the validation NLL; a = exp(α) keeps it positive. */
export function fitSimilarityLogistic(u: readonly ArrayLike<number>[], labels: readonly number[]): { a: number; b: number } {
  if (u.length === 0) return { a: 1, b: 0 };
  const nll = (alpha: number, b: number) => {
    const a = Math.exp(Math.max(-20, Math.min(20, alpha)));
    return meanNll(u.map((r) => similarityProbabilities(r, a, b)), labels);
  };
  const [alpha, b] = nelderMead2(nll, [0, 0], 0.5);
  return { a: Math.exp(Math.max(-20, Math.min(20, alpha))), b };
}

export interface ReliabilityBin {
  lo: number;
  hi: number;
  n: number;
  /** Mean top-class confidence and accuracy in the bin (NaN where empty). */
  confidence: number;
  accuracy: number;
}

/** ECE over `bins` equal-width confidence bins, with the bins (the reliability diagram's data). */
export function calibrationError(probs: readonly ArrayLike<number>[], labels: readonly number[], bins = ECE_BINS, idx?: ArrayLike<number>): { ece: number; bins: ReliabilityBin[] } {
  const n = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const acc = new Array<number>(bins).fill(0);
  const m = idx ? idx.length : probs.length;
  for (let s = 0; s < m; s++) {
    const i = idx ? idx[s]! : s;
    const p = probs[i]!;
    let top = 0;
    for (let j = 1; j < p.length; j++) if (p[j]! > p[top]!) top = j;
    const c = Math.min(1, Math.max(0, p[top]!));
    const b = Math.min(bins - 1, Math.floor(c * bins));
    n[b]!++;
    conf[b]! += c;
    acc[b]! += top === labels[i] ? 1 : 0;
  }
  let ece = 0;
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    if (n[b]! > 0) ece += (n[b]! / m) * Math.abs(acc[b]! / n[b]! - conf[b]! / n[b]!);
    out.push({ lo: b / bins, hi: (b + 1) / bins, n: n[b]!, confidence: n[b]! ? conf[b]! / n[b]! : NaN, accuracy: n[b]! ? acc[b]! / n[b]! : NaN });
  }
  return { ece: m > 0 ? ece : NaN, bins: out };
}

/** ECE with a seeded percentile-bootstrap interval over the images. */
export function eceInterval(probs: readonly ArrayLike<number>[], labels: readonly number[], opts: { seed?: number | undefined; replicates?: number | undefined; bins?: number | undefined } = {}): BootstrapInterval {
  return bootstrap(probs.length, (idx) => calibrationError(probs, labels, opts.bins ?? ECE_BINS, idx).ece, opts);
}

/** A loaded `calibration.json`: raw outputs → calibrated probabilities. */
export class Calibrator {
  constructor(readonly file: CalibrationFile) {
    const p = file.parameters;
    if (file.method === 'temperature' ? p.temperature === undefined : p.a === undefined || p.b === undefined) {
      throw new CovidNetError('E_RUN', `calibration.json: method ${file.method} lacks its parameters`);
    }
  }

  get method(): CalibrationMethod {
    return this.file.method;
  }

  /**
   * Calibrated probabilities from a row of logits: the single net's class logits, or the siamese
   * net's similarity logits (one per class template).
   */
  probabilities(logits: ArrayLike<number>): number[] {
    const p = this.file.parameters;
    return this.file.method === 'temperature' ? softmax(logits, p.temperature!) : similarityProbabilities(logits, p.a!, p.b!);
  }
}

export interface FitCalibrationInput {
  model: ModelKind;
  /** Validation images: logits (single: class logits; siamese: similarity logits), raw scores, labels. */
  logits: readonly ArrayLike<number>[];
  raw: readonly ArrayLike<number>[];
  labels: readonly number[];
}

/** Fit the run's calibration on its validation images. */
export function fitCalibration(input: FitCalibrationInput): CalibrationFile {
  const { model, logits, raw, labels } = input;
  const method: CalibrationMethod = model === 'single' ? 'temperature' : 'similarity-logistic';
  const parameters = method === 'temperature' ? { temperature: fitTemperature(logits, labels) } : fitSimilarityLogistic(logits, labels);
  const draft: CalibrationFile = {
    format: 'covidnet-calibration',
    version: CALIBRATION_FORMAT_VERSION,
    model,
    method,
    parameters,
    validation: { n: labels.length, nll_before: null, nll_after: null, ece_before: null, ece_after: null, bins: ECE_BINS },
    validation_scores: { labels: [...labels], calibrated: [] },
    created_at: new Date().toISOString(),
  };
  const cal = new Calibrator(draft);
  const after = logits.map((z) => cal.probabilities(z));
  const num = (v: number) => (Number.isFinite(v) ? v : null);
  draft.validation = {
    n: labels.length,
    // "before" for the siamese net: similarities normalised to sum 1 for the NLL; the raw top similarity for the ECE
    nll_before: num(meanNll(raw.map((r) => normalise(r)), labels)),
    nll_after: num(meanNll(after, labels)),
    ece_before: num(calibrationError(raw, labels).ece),
    ece_after: num(calibrationError(after, labels).ece),
    bins: ECE_BINS,
  };
  draft.validation_scores.calibrated = after.map((r) => r.map((v) => Math.round(v * 1e6) / 1e6));
  return draft;
}

function normalise(r: ArrayLike<number>): number[] {
  const s = Array.from(r).reduce((a, b) => a + b, 0);
  return Array.from(r, (v) => (s > 0 ? v / s : 1 / r.length));
}

/** Validate a parsed `calibration.json` for a run of `model`. */
export function parseCalibrationFile(json: unknown, model: ModelKind, file?: string): CalibrationFile {
  const r = CalibrationFileSchema.safeParse(json);
  const at = file !== undefined ? { file } : {};
  if (!r.success) {
    const v = (json as { version?: unknown } | null)?.version;
    const why = v !== undefined && v !== CALIBRATION_FORMAT_VERSION ? `version ${JSON.stringify(v)} is not ${CALIBRATION_FORMAT_VERSION} (refit it: covidnet ood fit --run RUN)` : `invalid (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`;
    throw new CovidNetError('E_RUN', `calibration.json ${why}`, at);
  }
  if (r.data.model !== model) throw new CovidNetError('E_RUN', `calibration.json was fitted for a ${r.data.model} run, this is a ${model} run`, at);
  return r.data;
}
