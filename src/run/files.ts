/**
 * The run folder: one folder per run, holding everything needed to predict and to compare runs.
 *
 *   config.json      every parameter, data source path + content hash, backend, versions
 *   preprocess.json  size, crop, mean, std, classes (all that inference needs besides the model)
 *   splits.json      which files went to train / val / test (evaluate never tests on training images)
 *   model/           best-validation checkpoint (standard TF.js model.json + weights)
 *   last/            last epoch + optimizer + RNG state, for --resume
 *   templates.json   siamese: mean embedding per class over the training images, and classes
 *                    added from a few examples (`covidnet templates add`)
 *   history.jsonl    one line per epoch
 *   eval-<data>-<split>.json  evaluation results
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CovidNetError } from '../errors.js';
import { validClassList, type ClassName, type ModelKind, type Split } from '../types.js';
import type { RunConfig } from '../config.js';
import type { SplitOrigin } from '../data/split.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic.js';

export const RUN_FILES = {
  config: 'config.json',
  preprocess: 'preprocess.json',
  splits: 'splits.json',
  templates: 'templates.json',
  history: 'history.jsonl',
  model: 'model',
  last: 'last',
} as const;

export interface SavedConfig extends RunConfig {
  /** Absolute path of the data source. */
  dataRoot: string;
  dataName: string;
  dataHash: string;
  backendUsed: string;
  /** Threads the native kernels ran with (a resumed run uses them again unless told otherwise). */
  threadsUsed?: number;
  versions: Record<string, string>;
  createdAt: string;
}

export interface PreprocessInfo {
  model: ModelKind;
  size: number;
  crop: number;
  mean: number;
  std: number;
  classes: readonly ClassName[];
}

export interface SplitEntry {
  /** Path relative to the data source root. */
  file: string;
  label: ClassName;
  patientId: string;
}

export interface SplitsFile {
  dataRoot: string;
  /** Absolute folder the `file` paths below are relative to. */
  base: string;
  dataHash: string;
  /** `source`: the data's own split column; `generated`: patient-disjoint split made for this run. */
  origin: SplitOrigin;
  seed: number;
  splits: Record<Split, SplitEntry[]>;
  /** Training-split images left out by `--per-class` (absent when all were used). */
  unused?: SplitEntry[];
  /** Training- and validation-split images of classes the run was not trained on (`--classes`; absent when none). */
  otherClasses?: { train: SplitEntry[]; val: SplitEntry[] };
  /** Files that could not be decoded during training preparation (kept out of every split). */
  failed: { file: string; reason: string }[];
  /** Source entries the loader skipped, with their error code (absent in runs made before it was recorded). */
  skipped?: { file: string; code: string; reason: string; line?: number }[];
}

/** templates.json's format version: 2 added `version` and `added` (a file without them is version 1). */
export const TEMPLATES_FORMAT_VERSION = 2;

/** A class added to a siamese run from a few examples (`covidnet templates add`). */
export interface AddedClass {
  class: ClassName;
  /** The images its template is the mean embedding of, with their contents' SHA-256. */
  files: { file: string; sha256: string }[];
  addedAt: string;
}

export interface TemplatesFile {
  version?: number;
  /** Every class the run scores, in output order: the trained ones, then any added. */
  classes: readonly ClassName[];
  /** One mean embedding per class, in `classes` order. */
  templates: number[][];
  /** Images per class that went into each template. */
  counts: number[];
  /** Classes added after training, in `classes` (absent or empty: only the trained classes). */
  added?: AddedClass[];
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /**
   * The validation accuracy that picks the checkpoint: argmax accuracy (single); siamese: template
   * accuracy (default) or 3-way one-shot accuracy (`--select-by one-shot`, and runs written
   * before the option existed).
   */
  val_accuracy: number;
  val_metric: 'accuracy' | 'one_shot_accuracy' | 'template_accuracy';
  /** Whether this epoch became the best checkpoint. */
  best: boolean;
  steps: number;
  /** Images (single) or pairs (siamese) trained on this epoch. */
  samples: number;
  seconds: number;
  samples_per_second: number;
  lr: number;
  batch: number;
  /**
   * Training accuracy of the epoch, from the training steps' own outputs (dropout on), written
   * since the field was added (older histories lack it): argmax accuracy of the single net, or
   * the siamese net's pair accuracy (P(different) > 0.5, same and different pairs weighted equally).
   */
  train_accuracy?: number;
  train_metric?: 'accuracy' | 'pair_accuracy';
  /** Validation loss: mean cross-entropy (single) or the recipe's loss on fixed validation pairs (siamese). */
  val_loss?: number;
  /** Siamese: pair accuracy on the same validation pairs as `val_loss` (comparable with `train_accuracy`). */
  val_pair_accuracy?: number;
  /** Siamese: 3-way one-shot accuracy on validation (the study's metric), whichever picks the checkpoint. */
  val_one_shot_accuracy?: number;
  /** Siamese: accuracy of the closest class template on the validation images. */
  val_template_accuracy?: number;
}

export function runPath(run: string, name: keyof typeof RUN_FILES): string {
  return join(run, RUN_FILES[name]);
}

async function readJson<T>(file: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CovidNetError('E_RUN', missing ? `not a run folder or incomplete run: ${what} is missing` : `cannot read ${what}`, { file, cause: e });
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CovidNetError('E_RUN', `${what} is not valid JSON`, { file, cause: e });
  }
}

export const readRunConfig = (run: string) => readJson<SavedConfig>(runPath(run, 'config'), 'config.json');
export const readPreprocess = async (run: string): Promise<PreprocessInfo> => {
  const p = await readJson<PreprocessInfo>(runPath(run, 'preprocess'), 'preprocess.json');
  if (!(p.std > 0) || !Number.isFinite(p.mean) || !(p.size >= 32)) {
    throw new CovidNetError('E_RUN', 'preprocess.json has invalid size/mean/std', { file: runPath(run, 'preprocess') });
  }
  if (!validClassList(p.classes)) {
    throw new CovidNetError('E_RUN', `preprocess.json: classes must be a list of at least two distinct class names, got ${JSON.stringify(p.classes).slice(0, 200)}`, { file: runPath(run, 'preprocess') });
  }
  return p;
};
export const readSplits = (run: string) => readJson<SplitsFile>(runPath(run, 'splits'), 'splits.json');
export const readTemplates = (run: string) => readJson<TemplatesFile>(runPath(run, 'templates'), 'templates.json');

export async function readHistory(run: string): Promise<EpochRecord[]> {
  let text = '';
  try {
    text = await readFile(runPath(run, 'history'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochRecord);
}

/** Rewrite history.jsonl atomically (append = read + rewrite; histories are small). */
export async function writeHistory(run: string, records: readonly EpochRecord[]): Promise<void> {
  await writeFileAtomic(runPath(run, 'history'), records.map((r) => JSON.stringify(r) + '\n').join(''));
}

export { writeJsonAtomic };
