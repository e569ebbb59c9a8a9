/**
 * `covidnet experiment few-shot`: can a class be added from k examples without retraining? Per
 * training seed (one split seed, so every net shares the test split):
 *
 *   base/siamese/seed-s     siamese net trained without the new class
 *   siamese/k-K/seed-s      that run with the new class added from K training images (templates add)
 *   base/single/seed-s      single net trained without the new class
 *   ft-all/k-K/seed-s       it fine-tuned (--init-from, the classifier grown by an output) on the same K images
 *   ft-head/k-K/seed-s      the same with the trunk frozen (--freeze trunk)
 *   single/k-K/seed-s       of the two, the one better on validation, evaluated on test
 *   full/single/seed-s      a single net trained with every class (the reference, k-independent)
 *
 * The K images of a seed are the same draw for the templates and the fine-tuning (`shotSubset`),
 * a subset of the training split's images of the new class (nested over K). Every choice is made
 * on validation; the test split is read once per reported cell. Training cells are experiment
 * cells (cell.ts): a finished one is skipped, an interrupted one resumes. The statistics are the
 * experiment's (src/evaluate/experiment.ts, K in the place of the training-set size) plus the new
 * class's specificity; `few-shot.json` and `report/index.html` hold them.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadDataset, sourceBase } from '../../data/index.js';
import { CovidNetError, optionError } from '../../errors.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { datasetHash } from '../../run/hash.js';
import { addClass } from '../../run/templates.js';
import { classesOf, RESEARCH_NOTICE, type ClassName } from '../../types.js';
import { evaluateRun, type EvalResult } from '../../evaluate/evaluate.js';
import { summariseExperiment, type CellResult, type ExperimentStats } from '../../evaluate/experiment.js';
import { seedSummary } from '../../evaluate/stats.js';
import { writeFewShotReport, type FewShotReportPoint } from '../../report/few-shot.js';
import type { TrainEvent } from '../../train/train.js';
import { CELL_EVAL_FILE, CELL_FILE, cellDir, readCellEval, readCellRecord, runCell, type CellRecord } from './cell.js';
import type { CellSpec, SharedTrainOptions } from './grid.js';
import { codeVersion } from './runner.js';

export const FEW_SHOT_FILE = 'few-shot.json';

/** The methods compared, in the report's order (the first is the reference of the paired differences). */
export const FEW_SHOT_METHODS = ['siamese templates', 'single fine-tuned', 'single all classes'] as const;

export interface FewShotOptions {
  data: string;
  out: string;
  newClass: ClassName;
  shots: number[];
  seeds: number[];
  splitSeed?: number | undefined;
  train: SharedTrainOptions;
  /** Epochs of the base and reference trainings (default: the run options' per-model defaults). */
  epochs?: { single?: number | undefined; siamese?: number | undefined; fineTune?: number | undefined };
  backend?: string | undefined;
  threads?: number | undefined;
  cacheDir?: string | undefined;
  onEvent?: (e: FewShotEvent) => void;
}

export type FewShotEvent = { type: 'cell'; id: string; status: string } | { type: 'train'; id: string; event: TrainEvent };

/** One method at one K (the report's point, with the method's name typed). */
export type FewShotPoint = FewShotReportPoint & { method: (typeof FEW_SHOT_METHODS)[number] };

export interface FewShotResult {
  out: string;
  newClass: ClassName;
  baseClasses: ClassName[];
  shots: number[];
  seeds: number[];
  points: FewShotPoint[];
  /** The experiment statistics (configs per method and K, paired differences against the siamese templates). */
  stats: ExperimentStats;
  data: { root: string; name: string; images: number; hash: string };
  code: Awaited<ReturnType<typeof codeVersion>>;
  report: string;
  notice: string;
}

/** Record of a derived cell (siamese with an added class, or the validation-chosen fine-tuned net). */
interface DerivedRecord {
  id: string;
  status: 'done';
  run: string;
  chosen?: 'all' | 'head';
  validation?: { all: number; head: number };
  test: { n: number; accuracy: number; balanced_accuracy: number };
  finishedAt: string;
}

export async function runFewShot(opts: FewShotOptions): Promise<FewShotResult> {
  const out = resolve(opts.out);
  if (opts.shots.length === 0 || opts.shots.some((k) => !(Number.isInteger(k) && k >= 1))) throw optionError('--shots', 'positive integers, e.g. 1,5,10,20', opts.shots.join(','));
  if (opts.seeds.length === 0) throw optionError('--seeds', 'at least one seed', opts.seeds.join(','));
  const dataset = await loadDataset(opts.data);
  const all = classesOf(dataset.items.map((it) => it.label));
  if (!all.includes(opts.newClass)) throw optionError('--new-class', `a class of the source (${all.join(', ')})`, opts.newClass);
  const baseClasses = all.filter((c) => c !== opts.newClass);
  if (baseClasses.length < 2) throw optionError('--new-class', 'a class of a source with at least three classes (two stay to train on)', opts.newClass);
  const splitSeed = opts.splitSeed ?? 1;
  const base = await sourceBase(dataset.root);
  const data = { root: resolve(dataset.root), name: dataset.name, images: dataset.items.length, hash: await datasetHash(base, dataset.items) };
  const code = await codeVersion();
  await mkdir(out, { recursive: true });
  await writeJsonAtomic(join(out, FEW_SHOT_FILE), { kind: 'few-shot', plan: { ...opts, onEvent: undefined, out, baseClasses, splitSeed }, data, code, status: 'running' });

  const rt = { backend: opts.backend, threads: opts.threads, cacheDir: opts.cacheDir };
  const spec = (id: string, config: Omit<CellSpec['config'], 'data'>, seed: number, evaluate: boolean): CellSpec => ({
    id,
    net: id.split('/')[0]!,
    seed,
    splitSeed,
    perClass: null,
    config: { ...opts.train, data: opts.data, seed, splitSeed, ...config },
    ...(evaluate ? { audit: false as const } : { evaluate: false as const }),
  });
  const run = async (c: CellSpec): Promise<CellRecord> => {
    const r = await runCell(out, c, { ...rt, onEvent: (event) => opts.onEvent?.({ type: 'train', id: c.id, event }) });
    opts.onEvent?.({ type: 'cell', id: c.id, status: r.status });
    if (r.status !== 'done' && r.status !== 'skipped') throw new CovidNetError('E_RUN', `cell ${c.id} ${r.status}${r.record?.error ? `: ${r.record.error.code} ${r.record.error.message}` : ''}`, { file: cellDir(out, c.id) });
    return r.record!;
  };
  const ep = opts.epochs ?? {};
  const cells: CellResult[] = [];
  const points = new Map<string, { cells: string[]; evals: EvalResult[]; chosen: ('all' | 'head')[] }>();
  const addPoint = (method: (typeof FEW_SHOT_METHODS)[number], k: number, id: string, seed: number, ev: EvalResult, chosen?: 'all' | 'head') => {
    const key = `${method}@${k}`;
    const p = points.get(key) ?? { cells: [], evals: [], chosen: [] };
    p.cells.push(id);
    p.evals.push(ev);
    if (chosen) p.chosen.push(chosen);
    points.set(key, p);
    cells.push({ id, net: method, seed, splitSeed, perClass: k, trainCounts: {}, predictions: ev.predictions });
  };

  for (const seed of opts.seeds) {
    const sia = spec(`base/siamese/seed-${seed}`, { model: 'siamese', classes: baseClasses, ...(ep.siamese !== undefined ? { epochs: ep.siamese } : {}) }, seed, false);
    const sgl = spec(`base/single/seed-${seed}`, { model: 'single', classes: baseClasses, ...(ep.single !== undefined ? { epochs: ep.single } : {}) }, seed, false);
    const full = spec(`full/single/seed-${seed}`, { model: 'single', ...(ep.single !== undefined ? { epochs: ep.single } : {}) }, seed, true);
    await run(sia);
    await run(sgl);
    await run(full);
    const fullEval = await readCellEval(cellDir(out, full.id));
    for (const k of opts.shots) {
      // siamese: the base run with the new class added from k training images
      const sid = `siamese/k-${k}/seed-${seed}`;
      addPoint('siamese templates', k, sid, seed, await siameseCell(out, sid, cellDir(out, sia.id), opts, k, seed, rt));
      opts.onEvent?.({ type: 'cell', id: sid, status: 'done' });
      // single: fine-tuned on the same k images, all layers or only the head, chosen on validation
      const ft = { model: 'single' as const, initFrom: cellDir(out, sgl.id), shots: `${opts.newClass}:${k}`, ...(ep.fineTune !== undefined ? { epochs: ep.fineTune } : {}) };
      const fa = await run(spec(`ft-all/k-${k}/seed-${seed}`, { ...ft, freeze: 'none' }, seed, false));
      const fh = await run(spec(`ft-head/k-${k}/seed-${seed}`, { ...ft, freeze: 'trunk' }, seed, false));
      const cid = `single/k-${k}/seed-${seed}`;
      const { ev, chosen } = await chosenFineTune(out, cid, { all: fa, head: fh }, { all: cellDir(out, `ft-all/k-${k}/seed-${seed}`), head: cellDir(out, `ft-head/k-${k}/seed-${seed}`) }, opts.data, rt);
      addPoint('single fine-tuned', k, cid, seed, ev, chosen);
      opts.onEvent?.({ type: 'cell', id: cid, status: `done (${chosen === 'all' ? 'all layers' : 'head only'}, chosen on validation)` });
      addPoint('single all classes', k, full.id, seed, fullEval);
    }
  }

  const raw = summariseExperiment(cells, { nets: [...FEW_SHOT_METHODS] });
  // the experiment statistics call the size axis training images per class; here it is K
  const stats = { ...raw, comparisons: raw.comparisons.map((c) => ({ ...c, reading: c.reading.replace(/at (\d+) training images per class/, `with K = $1 examples of ${opts.newClass}`) })) };
  const pts: FewShotPoint[] = [];
  for (const method of FEW_SHOT_METHODS) {
    for (const k of opts.shots) {
      const p = points.get(`${method}@${k}`);
      if (!p) continue;
      const rates = p.evals.map((ev) => newClassRates(ev, opts.newClass));
      pts.push({
        method,
        k,
        cells: p.cells,
        new_class_sensitivity: seedSummary(rates.map((r) => r.sensitivity), [0, 1]),
        new_class_specificity: seedSummary(rates.map((r) => r.specificity), [0, 1]),
        balanced_accuracy: seedSummary(p.evals.map((ev) => ev.balanced_accuracy), [0, 1]),
        ...(p.chosen.length ? { chosen: p.chosen } : {}),
      });
    }
  }
  const result: Omit<FewShotResult, 'report'> = { out, newClass: opts.newClass, baseClasses, shots: opts.shots, seeds: opts.seeds, points: pts, stats, data, code, notice: RESEARCH_NOTICE };
  const report = await writeFewShotReport(out, result);
  const full: FewShotResult = { ...result, report };
  await writeJsonAtomic(join(out, FEW_SHOT_FILE), { kind: 'few-shot', plan: { ...opts, onEvent: undefined, out, baseClasses, splitSeed }, status: 'done', ...full });
  return full;
}

/** Sensitivity and specificity of `cls` among an evaluation's predictions (NaN where undefined). */
export function newClassRates(ev: Pick<EvalResult, 'predictions'>, cls: ClassName): { sensitivity: number; specificity: number } {
  const pos = ev.predictions.filter((p) => p.label === cls);
  const neg = ev.predictions.filter((p) => p.label !== cls);
  return {
    sensitivity: pos.length ? pos.filter((p) => p.predicted === cls).length / pos.length : NaN,
    specificity: neg.length ? neg.filter((p) => p.predicted !== cls).length / neg.length : NaN,
  };
}

async function readDerived(dir: string): Promise<DerivedRecord | undefined> {
  const r = (await readCellRecord(dir)) as unknown as DerivedRecord | undefined;
  return r?.status === 'done' ? r : undefined;
}

/** The base siamese run copied, the new class added from k images, evaluated on test (once). */
async function siameseCell(out: string, id: string, baseDir: string, opts: FewShotOptions, k: number, seed: number, rt: { backend?: string | undefined; threads?: number | undefined; cacheDir?: string | undefined }): Promise<EvalResult> {
  const dir = cellDir(out, id);
  if (await readDerived(dir)) return readCellEval(dir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // the trained run (model, preprocessing, splits, trust files) without its checkpoint for resuming
  await cp(baseDir, dir, { recursive: true, filter: (f) => !/^[/\\]?(last|report)([/\\]|$)|\.lock$|cell\.json$/.test(f.slice(baseDir.length)) });
  await addClass(dir, opts.newClass, { data: opts.data, label: opts.newClass, shots: k, seed, backend: rt.backend, threads: rt.threads });
  const ev = await evaluateRun({ run: dir, data: opts.data, split: 'test', by: 'source', ...rt, write: false });
  await writeJsonAtomic(join(dir, CELL_EVAL_FILE), { ...ev, file: join(dir, CELL_EVAL_FILE) });
  const rec: DerivedRecord = { id, status: 'done', run: dir, test: { n: ev.n, accuracy: ev.accuracy.value, balanced_accuracy: ev.balanced_accuracy }, finishedAt: new Date().toISOString() };
  await writeJsonAtomic(join(dir, CELL_FILE), rec);
  return ev;
}

/** Of the two fine-tuned runs, the one with the better validation accuracy (ties: the head), evaluated on test. */
async function chosenFineTune(
  out: string,
  id: string,
  recs: { all: CellRecord; head: CellRecord },
  dirs: { all: string; head: string },
  data: string,
  rt: { backend?: string | undefined; threads?: number | undefined; cacheDir?: string | undefined },
): Promise<{ ev: EvalResult; chosen: 'all' | 'head' }> {
  const dir = cellDir(out, id);
  const prev = await readDerived(dir);
  if (prev) return { ev: await readCellEval(dir), chosen: prev.chosen! };
  const v = { all: recs.all.validation?.bestValAccuracy ?? -1, head: recs.head.validation?.bestValAccuracy ?? -1 };
  const chosen = v.all > v.head ? 'all' : 'head';
  const ev = await evaluateRun({ run: dirs[chosen], data, split: 'test', by: 'source', ...rt, write: false });
  await mkdir(dir, { recursive: true });
  await writeJsonAtomic(join(dir, CELL_EVAL_FILE), { ...ev, file: join(dir, CELL_EVAL_FILE) });
  const rec: DerivedRecord = { id, status: 'done', run: dirs[chosen], chosen, validation: v, test: { n: ev.n, accuracy: ev.accuracy.value, balanced_accuracy: ev.balanced_accuracy }, finishedAt: new Date().toISOString() };
  await writeJsonAtomic(join(dir, CELL_FILE), rec);
  return { ev, chosen };
}
