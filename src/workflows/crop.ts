/**
 * The study's cropping experiment as one call: train the single net on the original and on
 * border-cropped images (same seed, same recipe, so the same patient split), evaluate both on the
 * same test split, Grad-CAM on both, and write a comparison page (accuracy, balanced accuracy,
 * per-class sensitivity, mean border mass, side-by-side overlays of the same test images).
 */
import { join, resolve } from 'node:path';
import { parseRunConfig, type RunConfigInput } from '../config.js';
import { CovidNetError, optionError } from '../errors.js';
import { CLASSES, RESEARCH_NOTICE, type ClassName } from '../types.js';
import { train, type TrainEvent } from '../train/train.js';
import { evaluateRun } from '../evaluate/evaluate.js';
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
  /** Grad-CAM on at most this many test images per run (default 60). */
  limit?: number | undefined;
  /** Test images shown side by side on the page (default 8). */
  pairs?: number | undefined;
  onEvent?: (e: ExperimentEvent) => void;
}

export type ExperimentEvent =
  | { type: 'phase'; arm: Arm; phase: 'train' | 'evaluate' | 'explain' | 'report' }
  | { type: 'train'; arm: Arm; event: TrainEvent };

export type Arm = 'original' | 'cropped';

export interface ArmResult {
  run: string;
  crop: number;
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
  same_test_split: boolean;
  original: ArmResult;
  cropped: ArmResult;
  comparison: string;
  /** Side-by-side overlay pairs (original-run overlay, cropped-run overlay). */
  examples: { file: string; label: ClassName | undefined; original: string; cropped: string }[];
  notice: string;
}

export async function cropExperiment(opts: CropExperimentOptions): Promise<CropExperimentResult> {
  const crop = opts.crop ?? 0.1;
  if (!(crop > 0 && crop < 0.5)) throw optionError('--crop', 'a fraction in (0, 0.5)', crop);
  const out = resolve(opts.out);
  const emit = opts.onEvent ?? (() => {});
  const arms: Record<Arm, ArmResult | undefined> = { original: undefined, cropped: undefined };
  const records: Record<Arm, ExplainRecord[]> = { original: [], cropped: [] };
  for (const arm of ['original', 'cropped'] as const) {
    const run = join(out, arm);
    const c = arm === 'original' ? 0 : crop;
    const config = parseRunConfig({ ...(opts.train ?? {}), model: 'single', data: opts.data, out: run, crop: c });
    emit({ type: 'phase', arm, phase: 'train' });
    await train(config, { onEvent: (event) => emit({ type: 'train', arm, event }) });
    emit({ type: 'phase', arm, phase: 'evaluate' });
    const ev = await evaluateRun({ run, data: opts.data, split: 'test', backend: config.backend, threads: config.threads, cacheDir: config.cacheDir });
    emit({ type: 'phase', arm, phase: 'explain' });
    const gradcam = join(out, `gradcam-${arm}`);
    const ex = await explainRun({ run, data: opts.data, split: 'test', limit: opts.limit ?? 60, out: gradcam, backend: config.backend, threads: config.threads });
    records[arm] = ex.records;
    emit({ type: 'phase', arm, phase: 'report' });
    const rep = await writeRunReport(run, { backend: config.backend, threads: config.threads });
    const sens = Object.fromEntries(CLASSES.map((k) => [k, ev.per_class[k]?.sensitivity.value ?? null])) as Record<ClassName, number | null>;
    arms[arm] = {
      run,
      crop: c,
      accuracy: ev.accuracy.value,
      balanced_accuracy: ev.balanced_accuracy,
      sensitivity: sens,
      n_test: ev.n,
      border_mass: ex.summary!,
      gradcam,
      report: rep.html,
    };
  }
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
  const html =
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
  });
  const result: CropExperimentResult = { out, data: resolve(opts.data), crop, same_test_split: sameSplit, original: o, cropped: k, comparison: cmp.html, examples, notice: RESEARCH_NOTICE };
  await writeJsonAtomic(join(out, 'experiment.json'), result);
  if (!sameSplit) throw new CovidNetError('E_INTERNAL', 'the two runs got different test splits; the comparison is not like for like', { file: out });
  return result;
}

function fmt(v: number | null): string {
  return v === null ? '–' : v.toFixed(3);
}
