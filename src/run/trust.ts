/**
 * Fit a run's trust files (src/trust) from its best checkpoint: `ood.json` (Gaussians on the
 * training images' embeddings, threshold on the validation images) and `calibration.json`
 * (fitted on the validation images). Training calls it at its end with the images it already
 * holds; `covidnet ood fit --run RUN` calls it for older runs, preparing the images of splits.json.
 * The test split is never read.
 */
import { resolve } from 'node:path';
import { prepareImages } from '../data/index.js';
import type { DatasetItem, PreparedSet } from '../data/types.js';
import { CovidNetError } from '../errors.js';
import { classIndex, type ModelKind } from '../types.js';
import { singleEmbeddingOutput } from '../model/covidnet.js';
import { fitOodDetector, type OodFile } from '../trust/detector.js';
import { fitCalibration, type CalibrationFile } from '../trust/calibration.js';
import { writeCalibrationFile, writeOodFile } from '../trust/files.js';
import { readSplits } from './files.js';
import { RunModel } from './run-model.js';

export interface FitTrustOptions {
  /** Training and validation images at the run's size and crop (training hands its own over); default: splits.json's, prepared. */
  sets?: { train: PreparedSet; val: PreparedSet } | undefined;
  backend?: string | undefined;
  threads?: number | undefined;
  /** Keep the active backend (training's) instead of choosing one for inference. */
  keepBackend?: boolean | undefined;
  /** Images per inference batch (default: the run's evalBatch). */
  batch?: number | undefined;
  cacheDir?: string | undefined;
  /** Share of validation images the OOD threshold accepts (default 0.95). */
  acceptance?: number | undefined;
}

export interface FitTrustResult {
  run: string;
  model: ModelKind;
  ood: OodFile;
  calibration: CalibrationFile;
  files: string[];
  counts: { train: number; val: number };
  /** Images of splits.json that could not be read (only when the images were prepared here). */
  unreadable: { file: string; reason: string }[];
}

/** Fit and write `ood.json` and `calibration.json` of a run. */
export async function fitRunTrust(run: string, opts: FitTrustOptions = {}): Promise<FitTrustResult> {
  const rm = await RunModel.open(run, { backend: opts.backend, threads: opts.threads, keepBackend: opts.keepBackend });
  try {
    const unreadable: { file: string; reason: string }[] = [];
    const sets = opts.sets ?? (await prepareSplits(run, rm, opts, unreadable));
    if (sets.train.items.length < 2) throw new CovidNetError('E_RUN', `fitting the out-of-distribution detector needs the run's training images; ${sets.train.items.length} could be read`, { file: run });
    if (sets.val.items.length === 0) throw new CovidNetError('E_RUN', "the out-of-distribution threshold and the calibration need the run's validation images; none could be read", { file: run });
    const train = await rm.featureImages({ set: sets.train }, opts.batch);
    const val = await rm.featureImages({ set: sets.val }, opts.batch);
    // the trust files know the trained classes (the splits' images); added classes come after them in rm.classes
    const trained = rm.preprocess.classes;
    const valLabels = sets.val.items.map((it) => classIndex(it.label, trained));
    const ood = fitOodDetector({
      model: rm.kind,
      classes: trained,
      embeddingLayer: rm.kind === 'single' ? singleEmbeddingOutput(rm.model).sourceLayer.name : 'encoder',
      train: { embeddings: train.embeddings, stem: train.stem, labels: sets.train.items.map((it) => classIndex(it.label, trained)) },
      val: { embeddings: val.embeddings, stem: val.stem, logits: rm.kind === 'single' ? val.logits : undefined },
      acceptance: opts.acceptance,
    });
    const calibration = fitCalibration({ model: rm.kind, logits: val.logits, raw: val.scores.rows, labels: valLabels });
    const files = [await writeOodFile(run, ood), await writeCalibrationFile(run, calibration)];
    return { run: resolve(run), model: rm.kind, ood, calibration, files, counts: { train: sets.train.items.length, val: sets.val.items.length }, unreadable };
  } finally {
    rm.dispose();
  }
}

async function prepareSplits(run: string, rm: RunModel, opts: FitTrustOptions, unreadable: { file: string; reason: string }[]): Promise<{ train: PreparedSet; val: PreparedSet }> {
  const splits = await readSplits(run);
  const items = (split: 'train' | 'val'): DatasetItem[] =>
    splits.splits[split].map((e) => ({ file: resolve(splits.base, e.file), label: e.label, patientId: e.patientId, source: 'unknown' }));
  const prep = async (split: 'train' | 'val'): Promise<PreparedSet> => {
    const set = await prepareImages(items(split), { size: rm.preprocess.size, crop: rm.preprocess.crop }, {
      ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    });
    unreadable.push(...set.failed.map((f) => ({ file: f.file, reason: f.reason })));
    return set;
  };
  return { train: await prep('train'), val: await prep('val') };
}
