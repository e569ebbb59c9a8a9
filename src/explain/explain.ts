/**
 * Explain a run's predictions: Grad-CAM for files or for a data source's split, written as
 * overlay PNGs, 16-bit heat-map PNGs and JSON, with the heat map placed on the ORIGINAL image
 * (the crop and the resize undone), its peak in original pixels and its border mass.
 *
 *   const ex = await Explainer.open(run);           // the run (RunModel) and its Grad-CAM
 *   const r = await ex.explainFiles(files);          // in memory: cams, geometry, images
 *   await ex.close();
 *   await explainRun({ run, data, split: 'test', out }) // files on disk + contact sheet + summary
 */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { decodeImage, loadDataset, preprocessImage, selectItems, sourceBase } from '../data/index.js';
import type { GrayImage } from '../data/types.js';
import { CovidNetError, isCovidNetError, optionError } from '../errors.js';
import { RESEARCH_NOTICE, classesOf, isClassName, isSplit, type ClassName, type ModelKind, type Split } from '../types.js';
import { readSplits, type PreprocessInfo } from '../run/files.js';
import { RunModel } from '../run/run-model.js';
import { writeFileAtomic, writeJsonAtomic } from '../run/atomic.js';
import { GradCam, HEAT_METHOD_LABEL } from './gradcam.js';
import { summariseFaithfulness, type FaithfulnessSummary } from './faithfulness.js';
import { DEFAULT_BORDER_BAND } from './stats.js';
import { explainImages, type CamRequest, type Explained } from './core.js';

export type { CamRequest, Explained };
import { contactSheet, heatmapPng16, renderOverlay } from './render.js';
import type { ColormapName } from './colormap.js';

export interface ExplainFailure {
  file: string;
  code: string;
  error: string;
}

export interface ExplainerOptions {
  backend?: string | undefined;
  threads?: number | undefined;
  /** Outer band for border_mass, fraction per side (default 0.1). */
  band?: number | undefined;
}

/** An image to explain: a file path, or bytes already in memory with the name used in results and errors. */
export type ImageSource = string | { name: string; data: Buffer };

function sourceName(s: ImageSource): string {
  return typeof s === 'string' ? s : s.name;
}

/** A loaded run, ready to explain images. Call `close()` to free the model. */
export class Explainer {
  private constructor(
    /** The opened run: its input path and model. */
    readonly runModel: RunModel,
    private readonly cam: GradCam,
    readonly band: number,
  ) {}

  static async open(run: string, opts: ExplainerOptions = {}): Promise<Explainer> {
    const band = opts.band ?? DEFAULT_BORDER_BAND;
    if (!(band >= 0 && band < 0.5)) throw optionError('--band', 'a fraction in [0, 0.5)', band);
    const rm = await RunModel.open(run, { backend: opts.backend, threads: opts.threads });
    try {
      return new Explainer(rm, GradCam.forRun(rm), band);
    } catch (e) {
      rm.dispose();
      throw e;
    }
  }

  /** The run folder as given. */
  get run(): string {
    return this.runModel.run;
  }

  /** Which net the run holds. */
  get model(): ModelKind {
    return this.runModel.kind;
  }

  get pre(): PreprocessInfo {
    return this.runModel.preprocess;
  }

  close(): void {
    this.cam.dispose();
    this.runModel.dispose();
  }

  /**
   * Grad-CAM for each file; unreadable files come back as failures, the others are explained.
   * `labels` (same order) are carried into the results.
   */
  async explainFiles(
    files: readonly ImageSource[],
    req: CamRequest = {},
    labels?: readonly (ClassName | undefined)[],
    batch = 8,
    onProgress?: (done: number, total: number) => void,
  ): Promise<(Explained | ExplainFailure)[]> {
    if (req.contrast !== undefined && this.model !== 'siamese') throw optionError('--contrast', 'a siamese run', `a ${this.model} run`);
    const out: (Explained | ExplainFailure)[] = new Array(files.length);
    for (let start = 0; start < files.length; start += batch) {
      const chunk: { i: number; image: GrayImage; pixels: Uint8Array }[] = [];
      for (let i = start; i < Math.min(files.length, start + batch); i++) {
        const src = files[i]!;
        const file = sourceName(src);
        try {
          const image = await decodeImage(typeof src === 'string' ? src : src.data, { file });
          chunk.push({ i, image, pixels: preprocessImage(image, { size: this.pre.size, crop: this.pre.crop }) });
        } catch (e) {
          // `error` without the file name: the record names it
          out[i] = { file, code: isCovidNetError(e) ? e.code : 'E_DECODE', error: isCovidNetError(e) ? e.reason : e instanceof Error ? e.message : String(e) };
        }
      }
      if (chunk.length > 0) {
        const done = await explainImages(this.runModel, this.cam, this.band, chunk.map((c) => ({ file: sourceName(files[c.i]!), image: c.image, pixels: c.pixels, label: labels?.[c.i] })), req);
        chunk.forEach((c, k) => (out[c.i] = done[k]!));
      }
      onProgress?.(Math.min(files.length, start + batch), files.length);
    }
    return out;
  }
}

export function isExplained(r: Explained | ExplainFailure): r is Explained {
  return (r as Explained).cam !== undefined;
}

/** Whether an explained image is out of distribution (false where the run has no detector). */
export function isOutOfDistribution(r: Pick<Explained, 'in_distribution'>): boolean {
  return r.in_distribution === false;
}

/**
 * The caption lines of an overlay (the renderer adds the research notice). An out-of-distribution
 * image gets no class unless `allowOod` (then it is marked); calibrated probabilities where the run
 * has them.
 */
export function captionFor(r: Explained, model: ModelKind, allowOod = false): string[] {
  const what = r.calibrated ? 'calibrated p' : model === 'single' ? 'p' : 'similarity';
  const pi = r.classes.indexOf(r.predicted);
  const shown = (c: ClassName, j: number) => fmt(r.calibrated ? r.calibrated[c] : r.scores[j]!);
  const ood = isOutOfDistribution(r);
  const oodScore = `ood score ${r.ood_score === null ? '∞' : fmt(r.ood_score)} > ${fmt(r.ood_threshold ?? NaN)}`;
  const zero = r.flat ? ' · flat map: no positive evidence' : '';
  if (ood && !allowOod) {
    // short lines: the caption is cut at the overlay's width (the page and the text output say more)
    return ['OUT OF DISTRIBUTION: no class given', oodScore.replace('>', '> threshold'), `${basename(r.file)} · ${model} net${zero}`];
  }
  const l1 = (ood ? 'OUT OF DISTRIBUTION, unreliable: ' : '') + `predicted ${r.predicted} (${what} ${shown(r.predicted, pi)})` + (r.label ? ` · true ${r.label}` : '');
  const ti = r.classes.indexOf(r.target);
  const vs = r.versus === null ? '' : ` vs ${r.versus}`;
  const l2 = `${HEAT_METHOD_LABEL[r.method]} for ${r.target}${vs}${r.target === r.predicted ? ' (predicted)' : ` (${what} ${shown(r.target, ti)})`} · border mass ${r.border_mass === null ? '–' : fmt(r.border_mass)}`;
  return [l1, l2, `${basename(r.file)} · ${model} net${zero}`];
}

function fmt(v: number): string {
  return v.toFixed(2);
}

/** Overlay PNG of one explained image. */
export async function overlayPng(r: Explained, model: ModelKind, colormap?: ColormapName, allowOod = false): Promise<Buffer> {
  return renderOverlay(r.image, r.cam, r.geometry, captionFor(r, model, allowOod), { peak: r.peak ?? undefined, colormap });
}

/**
 * The line `covidnet explain --json` prints per image (the issue's format, with the calibrated
 * probabilities and the OOD verdict; `predicted` null for an out-of-distribution image unless
 * `allowOod`); failures: {file, error, code}.
 */
export function jsonLine(r: Explained | ExplainFailure | ExplainRecord, allowOod = false): Record<string, unknown> {
  if ('ok' in r ? !r.ok : !isExplained(r)) {
    const f = r as ExplainFailure;
    return { file: f.file, error: f.error, code: f.code };
  }
  r = r as Explained;
  const withheld = isOutOfDistribution(r) && !allowOod;
  return {
    file: r.file,
    predicted: withheld ? null : r.predicted,
    target: r.target,
    score: round(r.score),
    method: r.method,
    versus: r.versus,
    flat: r.flat,
    peak: r.peak,
    border_mass: r.border_mass === null ? null : round(r.border_mass),
    ...(r.deletion ? { deletion_auc: round(r.deletion.auc), random_deletion_auc: round(r.deletion.random_auc) } : {}),
    calibrated: r.calibrated,
    ood_score: r.ood_score,
    ood_threshold: r.ood_threshold,
    in_distribution: r.in_distribution,
    ...(withheld ? { class_withheld: 'out of distribution' } : {}),
  };
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

// ---------------------------------------------------------------- files on disk

export interface ExplainRunOptions extends ExplainerOptions, CamRequest {
  run: string;
  /** Explicit image files … */
  files?: readonly string[] | undefined;
  /** … or a data source (with the run's splits where it is the run's own source). */
  data?: string | undefined;
  split?: Split | undefined;
  /** At most this many images of the data source (in its order). */
  limit?: number | undefined;
  out: string;
  colormap?: ColormapName | undefined;
  /** Name the class of out-of-distribution images in the overlays too (marked); default false. */
  allowOod?: boolean | undefined;
  /** Overlays on the contact sheet (with --data); default 24. */
  sheet?: number | undefined;
  batch?: number | undefined;
  onProgress?: (done: number, total: number) => void;
  /** Called per image as soon as its files are written (the CLI prints JSON lines from here). */
  onRecord?: (r: ExplainRecord) => void;
}

/** What is written per image. */
export type ExplainRecord =
  | (Omit<Explained, 'cam' | 'geometry' | 'image'> & { ok: true; overlay: string; heatmap: string; heatmap_json: string })
  | (ExplainFailure & { ok: false });

export interface GroupStats {
  n: number;
  mean: number | null;
  median: number | null;
}

export interface BorderSummary {
  band: number;
  overall: GroupStats;
  by_true_class: Record<string, GroupStats>;
  by_outcome: { correct: GroupStats; incorrect: GroupStats };
  /** The same over the network's input view. */
  input_view: { overall: GroupStats; by_true_class: Record<string, GroupStats>; by_outcome: { correct: GroupStats; incorrect: GroupStats } };
}

export interface ExplainRunResult {
  run: string;
  model: ModelKind;
  out: string;
  records: ExplainRecord[];
  /** With a data source: */
  split?: Split | 'all';
  sheet?: string;
  summary?: BorderSummary;
  /** With the deletion check: the run's one faithfulness number (gain over random deletion) and its parts. */
  faithfulness?: FaithfulnessSummary | null;
  summaryFile?: string;
  notice: string;
}

/** The files to explain: explicit files, or a data source's split (the run's split when it is the run's source). */
export async function selectExplainItems(run: string, data: string, split: Split | undefined, limit: number | undefined): Promise<{ files: string[]; labels: ClassName[]; split: Split | 'all' }> {
  if (split !== undefined && !isSplit(split)) throw optionError('--split', 'train, val or test', split);
  const splits = await readSplits(run).catch(() => undefined);
  // every label of the run's splits is a class the loader accepts (a run trained with --classes)
  const dataset = await loadDataset(data, { extraClasses: classesOf([...(splits?.splits.train ?? []), ...(splits?.splits.test ?? [])].map((e) => e.label)) });
  const base = await sourceBase(dataset.root);
  const s = selectItems(dataset.items, dataset.root, base, splits, split);
  let items = s.items;
  if (limit !== undefined) items = items.slice(0, limit);
  return { files: items.map((i) => i.file), labels: items.map((i) => i.label), split: s.split };
}

export async function explainRun(opts: ExplainRunOptions): Promise<ExplainRunResult> {
  if ((opts.files?.length ?? 0) > 0 === (opts.data !== undefined)) throw optionError('FILE... | --data', 'image files or --data SRC (one of them)', opts.data ?? opts.files);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit > 0)) throw optionError('--limit', 'a positive integer', opts.limit);
  let files: string[];
  let labels: (ClassName | undefined)[] | undefined;
  let split: Split | 'all' | undefined;
  if (opts.data !== undefined) {
    const sel = await selectExplainItems(opts.run, opts.data, opts.split, opts.limit);
    if (sel.files.length === 0) throw new CovidNetError('E_SOURCE', `no images in split ${sel.split}`, { file: opts.data });
    ({ files, labels, split } = sel);
  } else {
    files = opts.files!.map((f) => resolve(f));
  }
  const out = resolve(opts.out);
  await mkdir(out, { recursive: true });
  const ex = await Explainer.open(opts.run, opts);
  const classes = ex.runModel.classes;
  for (const [flag, c] of [['--class', opts.target], ['--contrast', opts.contrast]] as const) {
    if (c !== undefined && !isClassName(c, classes)) {
      ex.close();
      throw optionError(flag, `a class of the run (${classes.join(', ')})`, c);
    }
  }
  const records: ExplainRecord[] = [];
  const tiles: { png: Buffer; label: string }[] = [];
  const sheetN = opts.sheet ?? 24;
  const done: Explained[] = [];
  try {
    // explain in chunks so images are not all held in memory at once
    const chunk = 16;
    for (let start = 0; start < files.length; start += chunk) {
      const part = files.slice(start, start + chunk);
      // the deletion check by default with a data source (a number per run), on request for files
      const req = { ...opts, faithfulness: opts.faithfulness ?? opts.data !== undefined };
      const res = await ex.explainFiles(part, req, labels?.slice(start, start + chunk), opts.batch ?? 8);
      for (const [k, r] of res.entries()) {
        const i = start + k;
        let rec: ExplainRecord;
        if (!isExplained(r)) {
          rec = { ...r, ok: false };
        } else {
          const stem = `${String(i + 1).padStart(4, '0')}-${safeStem(r.file)}`;
          const overlay = join(out, `${stem}.overlay.png`);
          const heatmap = join(out, `${stem}.heat.png`);
          const heatJson = join(out, `${stem}.heat.json`);
          const png = await overlayPng(r, ex.model, opts.colormap, opts.allowOod);
          await writeFileAtomic(overlay, png);
          await writeFileAtomic(heatmap, await heatmapPng16(r.cam, r.geometry));
          await writeJsonAtomic(heatJson, heatJsonOf(r, ex));
          if (opts.data !== undefined && tiles.length < sheetN) {
            const bm = r.border_mass === null ? '–' : r.border_mass.toFixed(2);
            const shownClass = isOutOfDistribution(r) && !opts.allowOod ? 'out of distribution' : `${r.predicted} (${(r.calibrated?.[r.predicted] ?? r.scores[r.classes.indexOf(r.predicted)]!).toFixed(2)})`;
            tiles.push({ png, label: `${r.label ?? '?'} → ${shownClass}, border ${bm}` });
          }
          const { cam: _c, geometry: _g, image: _i, ...plain } = r;
          rec = { ...plain, ok: true, overlay, heatmap, heatmap_json: heatJson };
          done.push({ ...r, image: { width: r.image.width, height: r.image.height, data: new Float32Array(0) } });
        }
        records.push(rec);
        opts.onRecord?.(rec);
      }
      opts.onProgress?.(Math.min(files.length, start + chunk), files.length);
    }
  } finally {
    ex.close();
  }
  const result: ExplainRunResult = { run: resolve(opts.run), model: ex.model, out, records, notice: RESEARCH_NOTICE };
  if (opts.data !== undefined) {
    result.split = split!;
    const summary = summariseBorderMass(done, ex.band);
    result.summary = summary;
    result.faithfulness = summariseFaithfulness(done.flatMap((r) => (r.deletion ? [r.deletion] : [])));
    result.summaryFile = join(out, 'summary.json');
    await writeJsonAtomic(result.summaryFile, {
      run: result.run,
      model: ex.model,
      data: resolve(opts.data),
      split,
      images: records.length,
      failed: records.filter((r) => !r.ok).length,
      method: done[0]?.method ?? opts.method ?? null,
      baseline: done[0]?.baseline ?? null,
      summary,
      faithfulness: result.faithfulness,
      records,
      notice: RESEARCH_NOTICE,
    });
    if (tiles.length > 0) {
      result.sheet = join(out, 'contact-sheet.png');
      const title = `${done[0] ? HEAT_METHOD_LABEL[done[0].method] : 'heat maps'}, ${ex.model} net, ${basename(resolve(opts.run))}, ${split} split: true → predicted (score), border mass`;
      await writeFileAtomic(result.sheet, await contactSheet(tiles, title, { columns: 6, tile: 220 }));
    }
  }
  return result;
}

function heatJsonOf(r: Explained, ex: Explainer): Record<string, unknown> {
  let max = 0;
  for (const v of r.cam) if (v > max) max = v;
  return {
    file: r.file,
    run: resolve(ex.run),
    model: ex.model,
    predicted: r.predicted,
    target: r.target,
    method: r.method,
    baseline: r.baseline,
    score_kind: r.score_kind,
    versus: r.versus,
    flat: r.flat,
    deletion: r.deletion,
    score: r.score,
    scores: Object.fromEntries(r.classes.map((c, j) => [c, r.scores[j]])),
    calibrated: r.calibrated,
    ood_score: r.ood_score,
    ood_threshold: r.ood_threshold,
    in_distribution: r.in_distribution,
    ood_signals: r.ood_signals,
    peak: r.peak,
    border_mass: r.border_mass,
    border_mass_input: r.border_mass_input,
    band: ex.band,
    geometry: r.geometry,
    /** The heat map on its grid (row-major, grid × grid, cells of geometry.stride input pixels), unnormalised; the PNGs are this / max. */
    cam: Array.from(r.cam),
    cam_max: max,
    note: 'heat.png: this map resampled onto the original image (bilinear between cell centres, 0 outside the crop box), scaled to 0..65535 by cam_max',
    notice: RESEARCH_NOTICE,
  };
}

function safeStem(file: string): string {
  return basename(file, extname(file)).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60) || 'image';
}

function stats(values: readonly number[]): GroupStats {
  if (values.length === 0) return { n: 0, mean: null, median: null };
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, mean: round(s.reduce((a, b) => a + b, 0) / s.length), median: round(median) };
}

/** Mean and median border mass overall, per true class and per correct/incorrect prediction. */
export function summariseBorderMass(rs: readonly Pick<Explained, 'label' | 'predicted' | 'border_mass' | 'border_mass_input'>[], band = DEFAULT_BORDER_BAND): BorderSummary {
  const group = (key: 'border_mass' | 'border_mass_input') => {
    const val = (r: (typeof rs)[number]) => r[key];
    const ok = rs.filter((r) => val(r) !== null);
    const byClass: Record<string, GroupStats> = {};
    for (const c of classesOf(rs.flatMap((r) => (r.label === undefined ? [] : [r.label])))) byClass[c] = stats(ok.filter((r) => r.label === c).map((r) => val(r)!));
    const labelled = ok.filter((r) => r.label !== undefined);
    return {
      overall: stats(ok.map((r) => val(r)!)),
      by_true_class: byClass,
      by_outcome: {
        correct: stats(labelled.filter((r) => r.label === r.predicted).map((r) => val(r)!)),
        incorrect: stats(labelled.filter((r) => r.label !== r.predicted).map((r) => val(r)!)),
      },
    };
  };
  const orig = group('border_mass');
  return { band, ...orig, input_view: group('border_mass_input') };
}

/** Relative path for display. */
export function shown(p: string): string {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}
