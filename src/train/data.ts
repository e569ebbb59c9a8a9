/**
 * Data for a training run: load the source, split it by patient (or take its split column),
 * decode + resize once into 8-bit sets, and compute the normalisation from the training images.
 */
import { relative, resolve } from 'node:path';
import { assertPatientDisjoint, computeNormStats, loadDataset, parseShots, prepareImages, shotSubset, sourceBase, splitItems, subsamplePerClass } from '../data/index.js';
import type { Dataset, DatasetItem, NormStats, PreparedSet, SkippedEntry } from '../data/types.js';
import { CovidNetError } from '../errors.js';
import type { ClassName, Split } from '../types.js';
import { runClasses, type RunConfig } from '../config.js';
import { datasetHash } from '../run/hash.js';
import type { SplitEntry, SplitsFile } from '../run/files.js';

export interface TrainingData {
  dataset: Dataset;
  /** Folder that relative paths in splits.json are relative to. */
  base: string;
  hash: string;
  items: Record<Split, DatasetItem[]>;
  /** Training-split images left out by `perClass` (neither trained nor validated on). */
  unused: DatasetItem[];
  /**
   * Training- and validation-split images of classes the run is not trained on (`--classes`): the
   * split is made over every image, so a run on a subset shares its test split with a run on all
   * classes; the test split keeps every class (evaluate scores the classes the run has then).
   */
  otherClasses: { train: DatasetItem[]; val: DatasetItem[] };
  origin: SplitsFile['origin'];
  train: PreparedSet;
  val: PreparedSet;
  stats: NormStats;
  failed: SkippedEntry[];
}

export interface PrepareProgress {
  split: Split;
  done: number;
  total: number;
}

export async function prepareTrainingData(
  config: RunConfig,
  opts: { onProgress?: (p: PrepareProgress) => void } = {},
): Promise<TrainingData> {
  const classes = runClasses(config);
  const dataset = await loadDataset(config.data, { extraClasses: classes });
  if (dataset.items.length === 0) throw new CovidNetError('E_SOURCE', 'no labelled images found', { file: config.data });
  const base = await sourceBase(dataset.root);
  const { items, origin } = splitItems(dataset.items, { valFraction: config.valFraction, testFraction: config.testFraction, seed: config.splitSeed ?? config.seed });
  assertPatientDisjoint(items);
  const inRun = (it: DatasetItem): boolean => classes.includes(it.label);
  const otherClasses = { train: items.train.filter((it) => !inRun(it)), val: items.val.filter((it) => !inRun(it)) };
  items.train = items.train.filter(inRun);
  items.val = items.val.filter(inRun);
  let unused: DatasetItem[] = [];
  if (config.perClass !== undefined) {
    const s = subsamplePerClass(items.train, config.perClass, config.seed);
    items.train = s.kept;
    unused = s.left;
  }
  if (config.shots !== undefined) {
    const { cls, k } = parseShots(config.shots);
    if (!classes.includes(cls)) throw new CovidNetError('E_OPTION', `invalid option --shots: expected a class the run trains on (${classes.join(', ')}), got ${JSON.stringify(cls)}`);
    const of = items.train.filter((it) => it.label === cls);
    if (k > of.length) throw new CovidNetError('E_OPTION', `invalid option --shots: expected at most ${of.length} (the training images of ${cls}), got ${k}`);
    const keep = new Set(shotSubset(of, k, config.seed));
    unused = [...unused, ...of.filter((it) => !keep.has(it))];
    items.train = items.train.filter((it) => it.label !== cls || keep.has(it));
  }
  for (const split of ['train', 'val'] as const) {
    const missing = classes.filter((c: ClassName) => !items[split].some((it) => it.label === c));
    if (missing.length > 0) {
      throw new CovidNetError('E_SOURCE', `the ${split} split has no images of ${missing.join(', ')} (${items[split].length} images in it)`, { file: config.data });
    }
  }
  const hash = await datasetHash(base, dataset.items);
  const prep = (split: Split) =>
    prepareImages(items[split], { size: config.size, crop: config.crop }, {
      ...(config.cacheDir !== undefined ? { cacheDir: config.cacheDir } : {}),
      ...(config.threads !== undefined ? { threads: config.threads } : {}),
      onProgress: (done: number, total: number) => opts.onProgress?.({ split, done, total }),
    });
  const train = await prep('train');
  const val = await prep('val');
  // the test images are decoded too (and cached for evaluate), so an unreadable one is named now and never counted as a test image
  const testFailed = (await prep('test')).failed;
  if (train.items.length === 0) throw new CovidNetError('E_SOURCE', 'no training image could be decoded', { file: config.data });
  const stats = computeNormStats(train);
  const failed = [...train.failed, ...val.failed, ...testFailed];
  const bad = new Set(failed.map((f) => f.file));
  const readable: Record<Split, DatasetItem[]> = { train: items.train.filter((it) => !bad.has(it.file)), val: items.val.filter((it) => !bad.has(it.file)), test: items.test.filter((it) => !bad.has(it.file)) };
  return { dataset, base, hash, items: readable, unused, otherClasses, origin, train, val, stats, failed };
}

/** What a training left out, for one summary line: counts per error code, the first few files. */
export interface SkipSummary {
  /** Source entries the loader skipped (missing files, bad labels, duplicates, malformed lines). */
  sourceEntries: number;
  /** Images that could not be decoded. */
  unreadable: number;
  byCode: Record<string, number>;
  examples: string[];
}

export function skipSummary(d: Pick<TrainingData, 'dataset' | 'failed' | 'base'>, examples = 3): SkipSummary {
  const all = [...d.dataset.skipped, ...d.failed];
  const byCode: Record<string, number> = {};
  for (const s of all) byCode[s.code] = (byCode[s.code] ?? 0) + 1;
  return { sourceEntries: d.dataset.skipped.length, unreadable: d.failed.length, byCode, examples: all.slice(0, examples).map((s) => relative(d.base, s.file) || s.file) };
}

export function splitsFile(d: TrainingData, seed: number): SplitsFile {
  const entry = (it: DatasetItem): SplitEntry => ({ file: relative(d.base, it.file), label: it.label, patientId: it.patientId });
  return {
    dataRoot: resolve(d.dataset.root),
    base: d.base,
    dataHash: d.hash,
    origin: d.origin,
    seed,
    splits: { train: d.items.train.map(entry), val: d.items.val.map(entry), test: d.items.test.map(entry) },
    ...(d.unused.length > 0 ? { unused: d.unused.map(entry) } : {}),
    ...(d.otherClasses.train.length + d.otherClasses.val.length > 0 ? { otherClasses: { train: d.otherClasses.train.map(entry), val: d.otherClasses.val.map(entry) } } : {}),
    failed: d.failed.map((f) => ({ file: relative(d.base, f.file), reason: f.reason })),
    skipped: d.dataset.skipped.map((s) => ({ file: relative(d.base, s.file), code: s.code, reason: s.reason, ...(s.line !== undefined ? { line: s.line } : {}) })),
  };
}
