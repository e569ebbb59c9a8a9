/**
 * Evaluate a run on a data source. Single net: argmax of the softmax. Siamese net: the class whose
 * template (mean training embedding) is most similar (similarity = 1 − P(different)), or, as an
 * option, the 3-way one-shot protocol against the run's training images.
 *
 * Which images: `selectItems` (src/data/split.ts) — the run's own test split on the run's source,
 * never an image the run trained or validated on.
 *
 * The metrics are those of the raw scores, on every evaluated image (as before the trust files
 * existed). `trust` adds, where the run has ood.json and calibration.json: the detector's
 * acceptance of the evaluated images, ECE before/after calibration, ROC curves, operating points
 * (`operatingPoints`) and AUROC / false-accept rate against out-of-distribution images (`ood`).
 */
import { basename, join, relative, resolve } from 'node:path';
import { loadDataset, prepareImages, selectItems, sourceBase } from '../data/index.js';
import type { DatasetItem, SkippedEntry } from '../data/types.js';
import type { SelectionKind } from '../data/split.js';
import { CovidNetError, optionError } from '../errors.js';
import { classesOf, classIndex, isSplit, RESEARCH_NOTICE, type ClassName, type ModelKind, type Split } from '../types.js';
import { argmax } from '../model/infer.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { readSplits } from '../run/files.js';
import { RunModel } from '../run/run-model.js';
import { computeMetrics, type Metrics } from './metrics.js';
import type { Assessment, ImageAssessment } from '../run/run-model.js';
import { evaluateOod, trustSummary, type EvalTrust } from './trust.js';
import { breakdown, checkGroupColumn, groupValue, type GroupRow } from './breakdown.js';

export type EvalMethod = 'argmax' | 'templates' | 'one-shot';

export interface EvaluateOptions {
  run: string;
  data: string;
  /** Split to evaluate where the source (or the run's splits.json) has splits; default `test`. */
  split?: Split | undefined;
  /** Siamese: use the 3-way one-shot protocol with this many trials instead of templates. */
  oneShot?: number | undefined;
  /** Seed of the one-shot trials and of the F1 bootstrap; default the run's seed. */
  seed?: number | undefined;
  batch?: number | undefined;
  backend?: string | undefined;
  threads?: number | undefined;
  cacheDir?: string | undefined;
  /** Out-of-distribution images (folders, manifests, files): AUROC and false-accept rate per kind and detector signal. */
  ood?: string | readonly string[] | undefined;
  /** Operating points chosen on validation, e.g. `COVID-19:sensitivity=0.90`. */
  operatingPoints?: readonly string[] | undefined;
  /** Break the results down by this column (`source`, or any manifest column). */
  by?: string | undefined;
  /** Write `RUN/eval-<data>-<split>.json` (default true). */
  write?: boolean | undefined;
  onProgress?: (phase: 'prepare' | 'predict', done: number, total: number) => void;
}

export interface Prediction {
  file: string;
  label: ClassName;
  predicted: ClassName;
  /** The image's collection (`unknown` where the source does not say). */
  source?: string;
  /** Per-class scores in the run's `classes` order: probabilities (single) or template similarities (siamese). */
  scores: number[];
  /** Calibrated probabilities (`classes` order), where the run has calibration.json. */
  calibrated?: number[];
  /** The out-of-distribution score and verdict, where the run has ood.json. */
  ood_score?: number | null;
  in_distribution?: boolean;
}

export interface EvalResult extends Metrics {
  run: string;
  model: ModelKind;
  method: EvalMethod;
  data: { root: string; name: string };
  /** `all` when the source has no splits. */
  split: Split | 'all';
  /** How the images were chosen. */
  selection: SelectionKind;
  excluded: {
    training_images: number;
    unreadable: { file: string; reason: string }[];
    /** Images a class was added from (`templates add`): never scored as test images. */
    template_images?: number;
    /** Images of classes the run does not have, per class (a run trained with `--classes`). */
    other_classes?: Record<ClassName, number>;
  };
  predictions: Prediction[];
  /** One-shot trials (only for method `one-shot`). */
  trials?: number;
  /** Results per value of the `by` column (only with `by`). */
  breakdown?: { by: string; groups: GroupRow[] };
  /** Out-of-distribution detection, calibration, ROC curves, operating points (not for one-shot). */
  trust?: EvalTrust;
  file?: string;
  notice: string;
  warnings: string[];
}

export async function evaluateRun(opts: EvaluateOptions): Promise<EvalResult> {
  if (opts.split !== undefined && !isSplit(opts.split)) throw optionError('--split', 'train, val or test', opts.split);
  const rm = await RunModel.open(opts.run, { backend: opts.backend, threads: opts.threads });
  try {
    return await evaluateWith(rm, opts);
  } finally {
    rm.dispose();
  }
}

async function evaluateWith(rm: RunModel, opts: EvaluateOptions): Promise<EvalResult> {
  const { config, preprocess: pre, kind } = rm;
  const splits = await readSplits(opts.run).catch(() => undefined);
  if (opts.oneShot !== undefined && kind !== 'siamese') throw optionError('--one-shot', 'a siamese run', `a ${kind} run`);
  const method: EvalMethod = kind === 'single' ? 'argmax' : opts.oneShot !== undefined ? 'one-shot' : 'templates';
  if (method === 'templates') rm.requireTemplates();
  if (method === 'one-shot' && !splits) throw new CovidNetError('E_RUN', 'one-shot evaluation needs the run\'s splits.json', { file: opts.run });
  const oodSources = opts.ood === undefined ? [] : typeof opts.ood === 'string' ? [opts.ood] : [...opts.ood];
  if (method === 'one-shot' && (oodSources.length > 0 || opts.operatingPoints?.length)) throw optionError(oodSources.length ? '--ood' : '--operating-point', 'an evaluation by templates or argmax (not --one-shot)', 'one-shot');

  const dataset = await loadDataset(opts.data, { extraClasses: rm.classes });
  const base = await sourceBase(dataset.root);
  const s = selectItems(dataset.items, dataset.root, base, splits, opts.split);
  const leftOut = leaveOut(s.items, rm.templates?.added ?? [], method === 'one-shot' ? classesOf((splits?.splits.train ?? []).map((e) => e.label)) : rm.classes);
  s.items = leftOut.items;
  s.warnings.push(...leftOut.warnings);
  if (s.items.length === 0) throw new CovidNetError('E_SOURCE', `no images to evaluate in split ${s.split}`, { file: opts.data });
  if (opts.by !== undefined) {
    if (method === 'one-shot') throw optionError('--by', 'an evaluation by templates or argmax (not --one-shot)', 'one-shot');
    checkGroupColumn(s.items, opts.by);
  }
  const batch = opts.batch ?? config.evalBatch ?? 32;
  const prepOpts = {
    ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    onProgress: (d: number, t: number) => opts.onProgress?.('prepare', d, t),
  };
  const set = await prepareImages(s.items, { size: pre.size, crop: pre.crop }, prepOpts);
  const truth: number[] = [];
  const pred: number[] = [];
  const predictions: Prediction[] = [];
  let trials: number | undefined;
  let assessed: Assessment | undefined;
  if (method === 'one-shot') {
    const support = await prepareImages(
      splits!.splits.train.map((e) => ({ file: resolve(splits!.base, e.file), label: e.label, patientId: e.patientId, source: 'unknown' })),
      { size: pre.size, crop: pre.crop },
      prepOpts,
    );
    trials = opts.oneShot!;
    const r = await rm.oneShot(set, support, trials, opts.seed ?? config.seed, batch);
    truth.push(...r.truth);
    pred.push(...r.pred);
  } else {
    assessed = await rm.assessImages({ set }, batch);
    assessed.rows.forEach((r, i) => add(set.items[i]!, r.scores, r));
  }
  function add(it: DatasetItem, scores: ArrayLike<number>, a?: ImageAssessment): void {
    const p = argmax(scores);
    truth.push(classIndex(it.label, leftOut.classes));
    pred.push(p);
    const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
    const entry: Prediction = { file: relative(base, it.file), label: it.label, predicted: leftOut.classes[p]!, source: it.source, scores: Array.from(scores, r6) };
    if (a?.calibrated) entry.calibrated = a.calibrated.map(r6);
    if (a?.ood) {
      entry.ood_score = Number.isFinite(a.ood.ood_score) ? r6(a.ood.ood_score) : null;
      entry.in_distribution = a.ood.in_distribution;
    }
    predictions.push(entry);
  }
  let trust: EvalTrust | undefined;
  if (assessed) {
    const seed = opts.seed ?? config.seed;
    trust = trustSummary(rm, assessed, truth, { seed, operatingPoints: opts.operatingPoints });
    if (oodSources.length > 0) {
      trust.ood_evaluation = await evaluateOod(rm, assessed.rows, oodSources, { seed, batch, cacheDir: opts.cacheDir, threads: opts.threads });
    }
  }

  const metrics = computeMetrics(truth, pred, leftOut.classes, { seed: opts.seed ?? config.seed });
  const result: EvalResult = {
    run: resolve(opts.run),
    model: kind,
    method,
    data: { root: resolve(dataset.root), name: dataset.name },
    split: s.split,
    selection: s.selection,
    ...metrics,
    excluded: {
      training_images: s.excludedTraining,
      unreadable: set.failed.map((f: SkippedEntry) => ({ file: relative(base, f.file), reason: f.reason })),
      ...(leftOut.templateImages > 0 ? { template_images: leftOut.templateImages } : {}),
      ...(Object.keys(leftOut.otherClasses).length > 0 ? { other_classes: leftOut.otherClasses } : {}),
    },
    predictions,
    ...(trials !== undefined ? { trials } : {}),
    ...(opts.by !== undefined ? { breakdown: { by: opts.by, groups: breakdown(predictions.map((p, i) => ({ label: p.label, predicted: p.predicted, group: groupValue(set.items[i]!, opts.by!) ?? 'unknown' }))) } } : {}),
    ...(trust ? { trust } : {}),
    notice: RESEARCH_NOTICE,
    warnings: s.warnings,
  };
  if (opts.write ?? true) {
    const file = join(opts.run, `eval-${safeName(dataset.name)}-${s.split}${method === 'one-shot' ? '-oneshot' : ''}.json`);
    result.file = file;
    await writeJsonAtomic(file, result);
  }
  return result;
}

/**
 * The images to score: not one a class template was made from (they are that class's training
 * images), and only of the classes the run scores (`classes`); the rest counted, with a warning.
 */
function leaveOut(
  items: DatasetItem[],
  added: readonly { class: ClassName; files: readonly { file: string }[] }[],
  classes: readonly ClassName[],
): { items: DatasetItem[]; classes: readonly ClassName[]; templateImages: number; otherClasses: Record<ClassName, number>; warnings: string[] } {
  const warnings: string[] = [];
  const fromTemplates = new Set(added.flatMap((a) => a.files.map((f) => resolve(f.file))));
  const kept = items.filter((it) => !fromTemplates.has(resolve(it.file)));
  const templateImages = items.length - kept.length;
  if (templateImages > 0) warnings.push(`${templateImages} images that class templates were made from were left out`);
  const otherClasses: Record<ClassName, number> = {};
  for (const it of kept) if (!classes.includes(it.label)) otherClasses[it.label] = (otherClasses[it.label] ?? 0) + 1;
  const others = Object.entries(otherClasses);
  if (others.length > 0) warnings.push(`images of classes the run does not have were left out: ${others.map(([c, n]) => `${c} ${n}`).join(', ')}`);
  return { items: kept.filter((it) => classes.includes(it.label)), classes, templateImages, otherClasses, warnings };
}

function safeName(s: string): string {
  return basename(s).replace(/[^A-Za-z0-9._-]+/g, '_') || 'data';
}
