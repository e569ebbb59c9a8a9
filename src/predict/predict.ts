/**
 * Predict files with a run folder alone: preprocessing from `preprocess.json`, the best model from
 * `model/`, class templates from `templates.json` (siamese). An unreadable file gets an error entry
 * naming it and the reason; the other files are still predicted.
 *
 * Each prediction carries the raw scores, the calibrated probabilities (`calibration.json`) and the
 * out-of-distribution verdict (`ood.json`): `ood_score`, `ood_threshold`, `in_distribution`. The
 * library reports `predicted` (the raw scores' argmax) for every image; the CLI and the page give an
 * out-of-distribution image no class unless asked (`--allow-ood`).
 */
import { resolve } from 'node:path';
import { preprocessFile } from '../data/index.js';
import { isCovidNetError } from '../errors.js';
import type { ClassName, ModelKind } from '../types.js';
import { RunModel, type ScoreKind } from '../run/run-model.js';
import type { CalibrationMethod } from '../trust/calibration.js';
import { trustFields, type TrustFields } from '../trust/fields.js';

export type { TrustFields };

export type FilePrediction =
  | ({ file: string; ok: true; predicted: ClassName; scores: Record<ClassName, number> } & TrustFields)
  | { file: string; ok: false; code: string; error: string };

export interface PredictResult {
  model: ModelKind;
  /** What the scores are: softmax probabilities or similarity (1 − P(different)) to each class template. */
  scores: ScoreKind;
  /** How `calibrated` was made; null without calibration.json. */
  calibration: CalibrationMethod | null;
  /** Why there is no OOD verdict or calibration (a run trained before they existed). */
  notes: string[];
  predictions: FilePrediction[];
}

function round4(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

export interface PredictOptions {
  batch?: number | undefined;
  backend?: string | undefined;
  threads?: number | undefined;
}

export async function predictFiles(run: string, files: readonly string[], opts: PredictOptions = {}): Promise<PredictResult> {
  const rm = await RunModel.open(run, { backend: opts.backend, threads: opts.threads });
  const results: (FilePrediction | undefined)[] = new Array(files.length);
  try {
    if (rm.kind === 'siamese') rm.requireTemplates();
    const good: { i: number; pixels: Uint8Array }[] = [];
    for (const [i, file] of files.entries()) {
      try {
        const img = await preprocessFile(resolve(file), { size: rm.preprocess.size, crop: rm.preprocess.crop });
        good.push({ i, pixels: img.pixels });
      } catch (e) {
        const code = isCovidNetError(e) ? e.code : 'E_DECODE';
        // the entry already names the file
        const msg = isCovidNetError(e) ? e.reason : e instanceof Error ? e.message : String(e);
        results[i] = { file, ok: false, code, error: msg };
      }
    }
    if (good.length > 0) {
      const a = await rm.assessImages(good.map((g) => g.pixels), opts.batch ?? 16);
      a.rows.forEach((r, k) => {
        const scores = Object.fromEntries(a.classes.map((c, j) => [c, round4(r.scores[j]!)])) as Record<ClassName, number>;
        results[good[k]!.i] = { file: files[good[k]!.i]!, ok: true, predicted: r.predicted, scores, ...trustFields(r, a.classes) };
      });
    }
  } finally {
    rm.dispose();
  }
  return { model: rm.kind, scores: rm.scoreKind, calibration: rm.trust.calibration?.method ?? null, notes: rm.trustNotes, predictions: results.map((r) => r!) };
}
