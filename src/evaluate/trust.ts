/**
 * What `evaluate` adds about trust (src/trust): the out-of-distribution detector's acceptance of
 * the evaluated (in-distribution) images, expected calibration error before and after calibration
 * with the reliability diagram, one-vs-rest ROC curves with bootstrap AUC intervals, operating
 * points chosen on validation, and, with `--ood`, AUROC and false-accept rate against a set of
 * out-of-distribution images, per kind and per detector signal. Every rate has an interval
 * (Wilson for proportions, a seeded percentile bootstrap for AUC and ECE); nothing here is fitted
 * on the evaluated images.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { prepareImages } from '../data/index.js';
import type { DatasetItem } from '../data/types.js';
import { CovidNetError, optionError } from '../errors.js';
import type { ClassName } from '../types.js';
import type { Assessment, ImageAssessment, RunModel } from '../run/run-model.js';
import type { CalibrationMethod, ReliabilityBin } from '../trust/calibration.js';
import { calibrationError, eceInterval } from '../trust/calibration.js';
import type { OodSignal } from '../trust/detector.js';
import { aurocInterval, chooseThreshold, parseOperatingPoint, rocCurve, type OperatingPointSpec, type RocPoint } from '../trust/roc.js';
import type { BootstrapInterval } from '../trust/stats.js';
import { REFIT_HINT } from '../trust/files.js';
import { wilson, type Interval } from './metrics.js';

/** The combined score (`ood_score`) or one of the detector's signals. */
export type OodScoreName = 'ood_score' | OodSignal;

export interface OodAcceptance {
  threshold: number;
  target_acceptance: number;
  /** Detector signals, and the combined `ood_score` first. */
  scores: OodScoreName[];
  /** Share of the evaluated images accepted as in-distribution, by `ood_score` and by each signal at its own threshold. */
  acceptance: Record<string, Interval>;
  /** Accuracy on the accepted and on the rejected images (by `ood_score`). */
  accuracy_accepted: Interval;
  accuracy_rejected: Interval;
}

export interface CalibrationSummary {
  method: CalibrationMethod;
  parameters: Record<string, number | undefined>;
  /** As fitted (calibration.json): on the validation images. */
  validation: { n: number; ece_before: number | null; ece_after: number | null; nll_before: number | null; nll_after: number | null };
  /** On the evaluated images, with bootstrap intervals. */
  ece_before: BootstrapInterval;
  ece_after: BootstrapInterval;
  bins: number;
  reliability: { before: ReliabilityBin[]; after: ReliabilityBin[] };
}

export interface RocSummary {
  /** Which scores the curves rank: calibrated probabilities where the run has them, else the raw scores. */
  scores: 'calibrated' | 'raw';
  per_class: Record<string, { auc: BootstrapInterval; positives: number; negatives: number; curve: RocPoint[] }>;
}

export interface OperatingPointResult {
  /** As given, e.g. `COVID-19:sensitivity=0.90`. */
  spec: string;
  cls: ClassName;
  metric: 'sensitivity' | 'specificity';
  target: number;
  /** Positive iff P(cls) ≥ threshold (calibrated probability), chosen on the validation images. */
  threshold: number | null;
  validation: { sensitivity: Interval; specificity: Interval };
  /** On the evaluated images. */
  test: { sensitivity: Interval; specificity: Interval };
  note?: string;
}

export interface OodKindResult {
  kind: string;
  n: number;
  /** Per score: AUROC against the evaluated in-distribution images, and the share accepted at its threshold. */
  scores: Record<string, { auroc: BootstrapInterval; false_accept: Interval; threshold: number }>;
}

export interface OodEvaluation {
  sources: string[];
  n: number;
  unreadable: { file: string; reason: string }[];
  /** The in-distribution side: the evaluated images. */
  in_distribution: { n: number; acceptance: Record<string, Interval> };
  kinds: OodKindResult[];
}

export interface EvalTrust {
  ood?: OodAcceptance;
  calibration?: CalibrationSummary;
  roc: RocSummary;
  operating_points?: OperatingPointResult[];
  ood_evaluation?: OodEvaluation;
  /** What is missing and why (e.g. no ood.json: a run trained before it existed). */
  notes: string[];
}

const ROC_POINTS = 300;

function thin(curve: RocPoint[]): RocPoint[] {
  if (curve.length <= ROC_POINTS) return curve;
  const step = (curve.length - 1) / (ROC_POINTS - 1);
  return Array.from({ length: ROC_POINTS }, (_, i) => curve[Math.round(i * step)]!);
}

/** The score of an image under a name: the combined `ood_score` or a raw signal. */
export function scoreOf(a: ImageAssessment, name: OodScoreName): number {
  if (!a.ood) return NaN;
  return name === 'ood_score' ? a.ood.ood_score : (a.ood.signals[name] ?? NaN);
}

function thresholdOf(rm: RunModel, name: OodScoreName): number {
  const f = rm.trust.ood!.file;
  return name === 'ood_score' ? f.threshold : f.signals[name]!.threshold;
}

function scoreNames(rm: RunModel): OodScoreName[] {
  return ['ood_score', ...rm.trust.ood!.signalNames];
}

function accepted(rm: RunModel, rows: readonly ImageAssessment[], name: OodScoreName): Interval {
  const t = thresholdOf(rm, name);
  return wilson(rows.filter((r) => scoreOf(r, name) <= t).length, rows.length);
}

export interface TrustEvalOptions {
  seed: number;
  /** `CLASS:sensitivity=F` / `CLASS:specificity=F`. */
  operatingPoints?: readonly string[] | undefined;
  replicates?: number | undefined;
}

/** The trust part of an evaluation of `a` (the evaluated images, true classes `labels`). */
export function trustSummary(rm: RunModel, a: Assessment, labels: readonly number[], opts: TrustEvalOptions): EvalTrust {
  const notes = [...a.notes].map((n) => n.replace('RUN', rm.run));
  const out: EvalTrust = { roc: { scores: 'raw', per_class: {} }, notes };
  const boot = { seed: opts.seed, replicates: opts.replicates };
  if (rm.trust.ood) {
    const f = rm.trust.ood.file;
    const names = scoreNames(rm);
    const ok = a.rows.map((r) => r.ood!.in_distribution);
    const correct = a.rows.map((r, i) => a.classes.indexOf(r.predicted) === labels[i]);
    out.ood = {
      threshold: f.threshold,
      target_acceptance: f.target_acceptance,
      scores: names,
      acceptance: Object.fromEntries(names.map((n) => [n, accepted(rm, a.rows, n)])),
      accuracy_accepted: wilson(correct.filter((c, i) => c && ok[i]).length, ok.filter(Boolean).length),
      accuracy_rejected: wilson(correct.filter((c, i) => c && !ok[i]).length, ok.filter((x) => !x).length),
    };
  }
  const cal = a.rows.every((r) => r.calibrated) ? a.rows.map((r) => r.calibrated!) : undefined;
  if (cal && rm.trust.calibration) {
    const file = rm.trust.calibration.file;
    const raw = a.rows.map((r) => r.scores);
    const before = calibrationError(raw, labels);
    const after = calibrationError(cal, labels);
    out.calibration = {
      method: file.method,
      parameters: file.parameters,
      validation: { n: file.validation.n, ece_before: file.validation.ece_before, ece_after: file.validation.ece_after, nll_before: file.validation.nll_before, nll_after: file.validation.nll_after },
      ece_before: eceInterval(raw, labels, boot),
      ece_after: eceInterval(cal, labels, boot),
      bins: file.validation.bins,
      reliability: { before: before.bins, after: after.bins },
    };
  }
  const ranked = cal ?? a.rows.map((r) => Array.from(r.scores));
  out.roc.scores = cal ? 'calibrated' : 'raw';
  a.classes.forEach((c, j) => {
    const s = ranked.map((r) => r[j]!);
    const pos = labels.map((l) => l === j);
    out.roc.per_class[c] = { auc: aurocInterval(s, pos, boot), positives: pos.filter(Boolean).length, negatives: pos.filter((p) => !p).length, curve: thin(rocCurve(s, pos)) };
  });
  if (opts.operatingPoints?.length) out.operating_points = opts.operatingPoints.map((spec) => operatingPoint(rm, spec, parseOperatingPoint(spec), cal, labels));
  return out;
}

function rates(scores: readonly number[], positive: readonly boolean[], t: number | null): { sensitivity: Interval; specificity: Interval } {
  let tp = 0;
  let fn = 0;
  let tn = 0;
  let fp = 0;
  scores.forEach((s, i) => {
    const call = t !== null && s >= t;
    if (positive[i]) call ? tp++ : fn++;
    else call ? fp++ : tn++;
  });
  return { sensitivity: wilson(tp, tp + fn), specificity: wilson(tn, tn + fp) };
}

function operatingPoint(rm: RunModel, spec: string, p: OperatingPointSpec, cal: number[][] | undefined, labels: readonly number[]): OperatingPointResult {
  const file = rm.trust.calibration?.file;
  if (!file || !cal) throw new CovidNetError('E_RUN', `--operating-point needs the run's calibration.json (its validation probabilities): ${REFIT_HINT.replace('RUN', rm.run)} writes it`, { file: rm.run });
  const j = rm.classes.indexOf(p.cls);
  if (j < 0) throw optionError('--operating-point', `a class of the run (${rm.classes.join(', ')})`, p.cls);
  const vScores = file.validation_scores.calibrated.map((r) => r[j]!);
  const vPos = file.validation_scores.labels.map((l) => l === j);
  const threshold = chooseThreshold(vScores, vPos, p) ?? null;
  const res: OperatingPointResult = {
    spec,
    ...p,
    threshold,
    validation: rates(vScores, vPos, threshold),
    test: rates(cal.map((r) => r[j]!), labels.map((l) => l === j), threshold),
  };
  if (threshold === null) res.note = `the validation images hold no ${p.metric === 'sensitivity' ? 'positive' : 'negative'} for ${p.cls}`;
  return res;
}

// ---------------------------------------------------------------- out-of-distribution sets

export interface OodImage {
  file: string;
  /** The kind it is reported under: its first folder below the source, or the source's name. */
  kind: string;
}

const NOT_IMAGES = new Set(['.txt', '.csv', '.json', '.md', '.xml', '.html', '.htm', '.db', '.yaml', '.yml', '.zip', '.gz', '.tar', '.py', '.sh', '.lst']);

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && !NOT_IMAGES.has(extname(e.name).toLowerCase()) && e.name !== 'Thumbs.db') out.push(p);
  }
}

/**
 * Images of an out-of-distribution source: a folder (every image file below it; each first-level
 * folder is a kind, unless the folder is a data source with a labels.csv, which is one kind), a CSV
 * manifest (column `file` or `path`, else the first; optional `kind`; paths relative to the
 * manifest), a text list (one path per line), or one image file.
 */
export function listOodImages(src: string): OodImage[] {
  const abs = resolve(src);
  if (!existsSync(abs)) throw new CovidNetError('E_FILE_MISSING', 'out-of-distribution source not found', { file: src });
  const name = basename(abs);
  if (statSync(abs).isDirectory()) {
    const files: string[] = [];
    walk(abs, files);
    const oneKind = existsSync(join(abs, 'labels.csv'));
    return files.map((file) => {
      const parts = relative(abs, file).split(/[/\\]/);
      return { file, kind: oneKind || parts.length === 1 ? name : parts[0]! };
    });
  }
  const ext = extname(abs).toLowerCase();
  const base = dirname(abs);
  if (ext === '.csv') {
    const rows = parse(readFileSync(abs, 'utf8'), { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, string>[];
    const cols = rows.length ? Object.keys(rows[0]!) : [];
    const col = cols.find((c) => c.toLowerCase() === 'file') ?? cols.find((c) => c.toLowerCase() === 'path') ?? cols[0];
    if (col === undefined) throw new CovidNetError('E_MANIFEST', 'the out-of-distribution manifest has no rows', { file: src });
    const kindCol = cols.find((c) => c.toLowerCase() === 'kind');
    return rows.filter((r) => (r[col] ?? '') !== '').map((r) => ({ file: resolve(base, r[col]!), kind: (kindCol && r[kindCol]) || name.replace(/\.csv$/i, '') }));
  }
  if (ext === '.txt' || ext === '.lst') {
    return readFileSync(abs, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => ({ file: resolve(base, l), kind: name.replace(/\.(txt|lst)$/i, '') }));
  }
  return [{ file: abs, kind: name }];
}

export interface OodEvalOptions {
  seed: number;
  batch?: number | undefined;
  cacheDir?: string | undefined;
  threads?: number | undefined;
  replicates?: number | undefined;
}

/** AUROC and false-accept rate of each detector score against out-of-distribution sources. */
export async function evaluateOod(rm: RunModel, inRows: readonly ImageAssessment[], sources: readonly string[], opts: OodEvalOptions): Promise<OodEvaluation> {
  if (!rm.trust.ood) throw new CovidNetError('E_RUN', `--ood needs the run's ood.json: ${REFIT_HINT.replace('RUN', rm.run)} writes it (${rm.trust.problems.ood?.reason ?? 'missing'})`, { file: rm.run });
  if (sources.length === 0) throw optionError('--ood', 'a folder, manifest or image file', sources);
  const images = sources.flatMap((s) => listOodImages(s));
  if (images.length === 0) throw new CovidNetError('E_SOURCE', 'no images in the out-of-distribution source', { file: sources.join(', ') });
  // the images carry a placeholder class: only their scores are read
  const items: DatasetItem[] = images.map((im) => ({ file: im.file, label: 'normal', patientId: im.file, source: im.kind }));
  const set = await prepareImages(items, { size: rm.preprocess.size, crop: rm.preprocess.crop }, {
    ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
  });
  const rows = set.items.length ? (await rm.assessImages({ set }, opts.batch)).rows : [];
  const names = scoreNames(rm);
  const kinds = [...new Set(set.items.map((it) => it.source))];
  const groups = kinds.length > 1 ? [...kinds, 'all'] : kinds;
  const boot = { seed: opts.seed, replicates: opts.replicates };
  const result: OodKindResult[] = groups.map((kind) => {
    const mine = rows.filter((_, i) => kind === 'all' || set.items[i]!.source === kind);
    const scores: OodKindResult['scores'] = {};
    for (const n of names) {
      const s = [...inRows.map((r) => scoreOf(r, n)), ...mine.map((r) => scoreOf(r, n))];
      const pos = [...inRows.map(() => false), ...mine.map(() => true)];
      const t = thresholdOf(rm, n);
      scores[n] = { auroc: aurocInterval(s, pos, boot), false_accept: wilson(mine.filter((r) => scoreOf(r, n) <= t).length, mine.length), threshold: t };
    }
    return { kind, n: mine.length, scores };
  });
  return {
    sources: sources.map((s) => resolve(s)),
    n: set.items.length,
    unreadable: set.failed.map((f) => ({ file: f.file, reason: f.reason })),
    in_distribution: { n: inRows.length, acceptance: Object.fromEntries(names.map((n) => [n, accepted(rm, inRows, n)])) },
    kinds: result,
  };
}
