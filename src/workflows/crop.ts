/**
 * The study's cropping experiment as one call: train the single net on the original and on
 * border-cropped images (same seeds, same recipe, one patient split: a grid experiment, so cells are
 * skipped when finished and resumed when interrupted), evaluate both on the
 * same test split, Grad-CAM on both, and write a comparison page (accuracy, balanced accuracy,
 * per-class sensitivity, mean border mass, side-by-side overlays of the same test images).
 */
import { join, resolve } from 'node:path';
import type { RunConfigInput } from '../config.js';
import { CovidNetError, optionError } from '../errors.js';
import { CLASSES, RESEARCH_NOTICE, type ClassName } from '../types.js';
import type { EpochRecord } from '../run/files.js';
import { escapeXml } from '../util/xml.js';
import { cellDir, readCellEval } from './experiment/cell.js';
import { expandGrid, type GridSpec, type NetSpec } from './experiment/grid.js';
import { runExperiment } from './experiment/runner.js';
import type { CellExecutor, RunnerEvent } from './experiment/executor.js';
import { analyzeExperiment, type ExperimentAnalysis } from './experiment/analyze.js';
import { readSplits } from '../run/files.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { writeComparisonReport, writeRunReport, dataUri } from '../report/report.js';
import { explainRun, type ExplainRecord, type BorderSummary } from '../explain/explain.js';
import { readFile } from 'node:fs/promises';

export type CropTrainOptions = Omit<RunConfigInput, 'model' | 'data' | 'out' | 'crop'>;

export interface CropExperimentOptions {
  data: string;
  out: string;
  /** Fraction cut from each side (default 0.1). */
  crop?: number | undefined;
  /** Training options shared by both runs (size, width, fc, epochs, batch, lr, seed, backend, …). */
  train?: CropTrainOptions | undefined;
  /** Training seeds (default: `train.seed`, else 1); every seed is one original/cropped pair on the same split. */
  seeds?: readonly number[] | undefined;
  /** Cells at once (child processes). */
  parallel?: number | undefined;
  /** Who runs the cells (default: this machine, `parallel` at a time). */
  executor?: CellExecutor | undefined;
  /** Grad-CAM on at most this many test images per run (default 60). */
  limit?: number | undefined;
  /** Test images shown side by side on the page (default 8). */
  pairs?: number | undefined;
  onEvent?: (e: ExperimentEvent) => void;
}

export type ExperimentEvent =
  | { type: 'phase'; arm: Arm; seed: number; phase: 'train' | 'evaluate' | 'explain' | 'report' }
  | { type: 'epoch'; arm: Arm; seed: number; record: EpochRecord; epochs: number }
  /** The queue executor's cell counts and warnings. */
  | { type: 'cells'; event: Extract<RunnerEvent, { type: 'queue' | 'warning' }> };

export type Arm = 'original' | 'cropped';

export interface ArmResult {
  run: string;
  crop: number;
  seed: number;
  accuracy: number;
  balanced_accuracy: number;
  sensitivity: Record<ClassName, number | null>;
  n_test: number;
  border_mass: BorderSummary;
  gradcam: string;
  report: string;
}

export interface CropExperimentResult {
  out: string;
  data: string;
  crop: number;
  seeds: number[];
  same_test_split: boolean;
  /** The first seed's pair (its Grad-CAM comparison page). */
  original: ArmResult;
  cropped: ArmResult;
  /** Every seed's pair. */
  per_seed: { seed: number; original: ArmResult; cropped: ArmResult }[];
  /** Across seeds: per-arm means and intervals, cropped − original with its bootstrap interval and McNemar tests. */
  analysis: { report: string; configs: ExperimentAnalysis['configs']; comparisons: ExperimentAnalysis['comparisons'] };
  comparison: string;
  /** Side-by-side overlay pairs (original-run overlay, cropped-run overlay). */
  examples: { file: string; label: ClassName | undefined; original: string; cropped: string }[];
  notice: string;
}

/** The crop experiment's grid: an original and a cropped single net per seed, one split. */
export function cropGrid(opts: Pick<CropExperimentOptions, 'data' | 'crop' | 'train' | 'seeds'>): { grid: GridSpec; crop: number; seeds: number[] } {
  const crop = opts.crop ?? 0.1;
  if (!(crop > 0 && crop < 0.5)) throw optionError('--crop', 'a fraction in (0, 0.5)', crop);
  const { seed: trainSeed, splitSeed, backend: _b, threads: _t, cacheDir: _c, epochs, ...shared } = opts.train ?? {};
  const seeds = opts.seeds?.length ? [...opts.seeds] : [trainSeed ?? 1];
  const nets: NetSpec[] = (['original', 'cropped'] as const).map((arm) => ({ name: arm, model: 'single', crop: arm === 'original' ? 0 : crop, ...(epochs !== undefined ? { epochs } : {}) }));
  // one seed: its split as before (split seed = seed); several: one split for all
  return { grid: { kind: 'crop', data: opts.data, nets, seeds, splitSeeds: [splitSeed ?? seeds[0]!], train: shared }, crop, seeds };
}

export async function cropExperiment(opts: CropExperimentOptions): Promise<CropExperimentResult> {
  const { grid, crop, seeds } = cropGrid(opts);
  const out = resolve(opts.out);
  const emit = opts.onEvent ?? (() => {});
  const { backend, threads, cacheDir } = opts.train ?? {};
  const armOf = (id: string): Arm => (id.startsWith('cropped') ? 'cropped' : 'original');
  const seedOf = (id: string) => Number(/seed-(\d+)/.exec(id)?.[1] ?? seeds[0]);
  const ran = await runExperiment({
    out,
    grid,
    parallel: opts.parallel,
    executor: opts.executor,
    threads,
    backend,
    cacheDir,
    onEvent: (e) => {
      if (e.type === 'cell-start') emit({ type: 'phase', arm: armOf(e.id), seed: seedOf(e.id), phase: 'train' });
      else if (e.type === 'epoch') emit({ type: 'epoch', arm: armOf(e.id), seed: seedOf(e.id), record: e.record, epochs: e.epochs });
      else if (e.type === 'queue' || e.type === 'warning') emit({ type: 'cells', event: e });
    },
  });
  const failed = ran.cells.filter((c) => c.status === 'failed' || c.status === 'stopped');
  if (failed.length) throw new CovidNetError('E_RUN', `cells not finished: ${failed.map((c) => `${c.id} (${c.record?.error ? `${c.record.error.code} ${c.record.error.message}` : c.status})`).join('; ')}`, { file: out });
  const perSeed: CropExperimentResult['per_seed'] = [];
  const records: Record<Arm, ExplainRecord[]> = { original: [], cropped: [] };
  for (const seed of seeds) {
    const arms: Record<Arm, ArmResult | undefined> = { original: undefined, cropped: undefined };
    for (const arm of ['original', 'cropped'] as const) {
      const id = expandGrid(grid).find((c) => c.net === arm && c.seed === seed)!.id;
      const run = cellDir(out, id);
      const c = arm === 'original' ? 0 : crop;
      const ev = await readCellEval(run);
      emit({ type: 'phase', arm, seed, phase: 'explain' });
      const gradcam = join(out, 'gradcam', `${arm}-seed-${seed}`);
      const ex = await explainRun({ run, data: opts.data, split: 'test', limit: opts.limit ?? 60, out: gradcam, backend, threads });
      if (seed === seeds[0]) records[arm] = ex.records;
      emit({ type: 'phase', arm, seed, phase: 'report' });
      const rep = await writeRunReport(run, { backend, threads });
      const sens = Object.fromEntries(ev.classes.map((k) => [k, ev.per_class[k]?.sensitivity.value ?? null])) as Record<ClassName, number | null>;
      arms[arm] = { run, crop: c, seed, accuracy: ev.accuracy.value, balanced_accuracy: ev.balanced_accuracy, sensitivity: sens, n_test: ev.n, border_mass: ex.summary!, gradcam, report: rep.html };
    }
    perSeed.push({ seed, original: arms.original!, cropped: arms.cropped! });
  }
  const analysis = await analyzeExperiment(out, { backend, threads, cacheDir });
  const arms = { original: perSeed[0]!.original, cropped: perSeed[0]!.cropped };
  const o = arms.original!;
  const k = arms.cropped!;
  const [so, sk] = await Promise.all([readSplits(o.run), readSplits(k.run)]);
  const key = (s: typeof so) => s.splits.test.map((e) => e.file).sort().join('\n');
  const sameSplit = key(so) === key(sk);

  // side by side: the same test images, picked across classes
  const byFile = new Map(records.cropped.filter((r) => r.ok).map((r) => [r.file, r]));
  const both = records.original.filter((r) => r.ok && byFile.has(r.file));
  const picked: typeof both = [];
  const want = opts.pairs ?? 8;
  for (let round = 0; picked.length < want && round < both.length; round++) {
    for (const c of CLASSES) {
      const cand = both.filter((r) => r.ok && r.label === c && !picked.includes(r))[0];
      if (cand && picked.length < want) picked.push(cand);
    }
    if (both.every((r) => picked.includes(r))) break;
  }
  const examples = picked.map((r) => {
    const kr = byFile.get(r.file)!;
    return { file: r.file, label: r.ok ? r.label : undefined, original: r.ok ? r.overlay : '', cropped: kr.ok ? kr.overlay : '' };
  });
  const rows: string[] = [];
  for (const ex of examples) {
    const [a, b] = await Promise.all([readFile(ex.original), readFile(ex.cropped)]);
    rows.push(`<tr><td><img src="${dataUri(a)}" width="360" alt="original run"></td><td><img src="${dataUri(b)}" width="360" alt="cropped run"></td></tr>`);
  }
  const bm = (s: BorderSummary) => s.overall.mean;
  const seedRows = perSeed
    .map((p) => `<tr><td>${p.seed}</td>${[p.original, p.cropped].map((a) => `<td>${fmt(a.accuracy)}</td><td>${fmt(a.balanced_accuracy)}</td><td>${fmt(bm(a.border_mass))}</td><td>${fmt(a.border_mass.input_view.overall.mean)}</td>`).join('')}</tr>`)
    .join('');
  const html =
    `<h2>Seeds</h2><p>Every seed is one pair of runs on the same split; statistics across seeds (paired bootstrap, McNemar) are on the <a href="report/index.html">experiment report</a>.</p>` +
    `<ul>${analysis.comparisons.map((c) => `<li>${escapeXml(c.reading)}</li>`).join('')}</ul>` +
    `<table><tr><th rowspan="2">seed</th><th colspan="4">original</th><th colspan="4">cropped</th></tr><tr>${'<th>accuracy</th><th>balanced</th><th>border mass (original image)</th><th>border mass (input)</th>'.repeat(2)}</tr>${seedRows}</table>` +
    `<h2>Border mass</h2><p>Share of the Grad-CAM mass in the outer ${Math.round(o.border_mass.band * 100)}% band of the <b>original</b> image ` +
    `(what the cropped net never sees counts as zero heat) and of the <b>network's own input</b> (its view after cropping). Test images: up to ${opts.limit ?? 60} per run.</p>` +
    `<table><tr><th class="l">run</th><th>crop</th><th>mean border mass (original image)</th><th>mean border mass (network input)</th><th>correct: mean (original)</th><th>incorrect: mean (original)</th></tr>` +
    [o, k].map((a) => `<tr><td class="l">${a === o ? 'original' : 'cropped'}</td><td>${a.crop}</td><td>${fmt(bm(a.border_mass))}</td><td>${fmt(a.border_mass.input_view.overall.mean)}</td><td>${fmt(a.border_mass.by_outcome.correct.mean)}</td><td>${fmt(a.border_mass.by_outcome.incorrect.mean)}</td></tr>`).join('') +
    `</table><p>Same test split for both runs: ${sameSplit ? 'yes' : 'NO'}.</p>` +
    `<h2>The same test images, side by side</h2><table><tr><th>trained on original images</th><th>trained on images cropped by ${crop} per side</th></tr>${rows.join('')}</table>`;
  const cmp = await writeComparisonReport([o.run, k.run], {
    out,
    title: `Cropping experiment (crop ${crop} per side): ${opts.data}`,
    extra: {
      [o.run]: { 'mean border mass': bm(o.border_mass), 'mean border mass (input view)': o.border_mass.input_view.overall.mean },
      [k.run]: { 'mean border mass': bm(k.border_mass), 'mean border mass (input view)': k.border_mass.input_view.overall.mean },
    },
    appendHtml: html,
    names: ['original', 'cropped'],
  });
  const result: CropExperimentResult = {
    out,
    data: resolve(opts.data),
    crop,
    seeds,
    same_test_split: sameSplit,
    original: o,
    cropped: k,
    per_seed: perSeed,
    analysis: { report: analysis.report, configs: analysis.configs, comparisons: analysis.comparisons },
    comparison: cmp.html,
    examples,
    notice: RESEARCH_NOTICE,
  };
  await writeJsonAtomic(join(out, 'crop.json'), result);
  if (!sameSplit) throw new CovidNetError('E_INTERNAL', 'the two runs got different test splits; the comparison is not like for like', { file: out });
  return result;
}

function fmt(v: number | null): string {
  return v === null ? '–' : v.toFixed(3);
}
