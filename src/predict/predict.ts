/**
 * Predict files with a run folder alone: preprocessing from `preprocess.json`, the best model from
 * `model/`, class templates from `templates.json` (siamese). An unreadable file gets an error entry
 * naming it and the reason; the other files are still predicted.
 */
import { resolve } from 'node:path';
import { preprocessFile } from '../data/index.js';
import { isCovidNetError } from '../errors.js';
import { CLASSES, type ClassName, type ModelKind } from '../types.js';
import { argmax } from '../model/infer.js';
import { RunModel, type ScoreKind } from '../run/run-model.js';

export type FilePrediction =
  | { file: string; ok: true; predicted: ClassName; scores: Record<ClassName, number> }
  | { file: string; ok: false; code: string; error: string };

export interface PredictResult {
  model: ModelKind;
  /** What the scores are: softmax probabilities or similarity (1 − P(different)) to each class template. */
  scores: ScoreKind;
  predictions: FilePrediction[];
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
      const { rows } = await rm.scoreImages(good.map((g) => g.pixels), opts.batch ?? 16);
      rows.forEach((r, k) => {
        const scores = Object.fromEntries(CLASSES.map((c, j) => [c, Math.round(r[j]! * 1e4) / 1e4])) as Record<ClassName, number>;
        results[good[k]!.i] = { file: files[good[k]!.i]!, ok: true, predicted: CLASSES[argmax(r)]!, scores };
      });
    }
  } finally {
    rm.dispose();
  }
  return { model: rm.kind, scores: rm.scoreKind, predictions: results.map((r) => r!) };
}
