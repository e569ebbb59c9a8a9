/**
 * Predict files with a run folder alone: preprocessing from `preprocess.json`, the best model from
 * `model/`, class templates from `templates.json` (siamese). An unreadable file gets an error entry
 * naming it and the reason; the other files are still predicted.
 */
import { resolve } from 'node:path';
import { preprocessFile } from '../data/index.js';
import type { DatasetItem, PreparedSet } from '../data/types.js';
import { isCovidNetError } from '../errors.js';
import { CLASSES, type ClassName, type ModelKind } from '../types.js';
import { argmax, disposeModel, embedImages, predictRows, templateSimilarity } from '../model/index.js';
import { initBackend } from '../backend/index.js';
import { loadRunModel } from '../run/load.js';
import { readPreprocess, readTemplates } from '../run/files.js';

export type FilePrediction =
  | { file: string; ok: true; predicted: ClassName; scores: Record<ClassName, number> }
  | { file: string; ok: false; code: string; error: string };

export interface PredictResult {
  model: ModelKind;
  /** What the scores are: softmax probabilities or similarity (1 − P(different)) to each class template. */
  scores: 'probability' | 'template-similarity';
  predictions: FilePrediction[];
}

export interface PredictOptions {
  batch?: number | undefined;
  backend?: string | undefined;
  threads?: number | undefined;
}

export async function predictFiles(run: string, files: readonly string[], opts: PredictOptions = {}): Promise<PredictResult> {
  const pre = await readPreprocess(run);
  const templates = pre.model === 'siamese' ? await readTemplates(run) : undefined;
  await initBackend({ backend: opts.backend, purpose: 'infer', threads: opts.threads });
  const model = await loadRunModel(run);
  const per = pre.size * pre.size;
  const results: (FilePrediction | undefined)[] = new Array(files.length);
  const good: { i: number; pixels: Uint8Array }[] = [];
  for (const [i, file] of files.entries()) {
    try {
      const img = await preprocessFile(resolve(file), { size: pre.size, crop: pre.crop });
      good.push({ i, pixels: img.pixels });
    } catch (e) {
      const code = isCovidNetError(e) ? e.code : 'E_DECODE';
      // the entry already names the file
      const msg = isCovidNetError(e) ? e.reason : e instanceof Error ? e.message : String(e);
      results[i] = { file, ok: false, code, error: msg };
    }
  }
  try {
    if (good.length > 0) {
      const pixels = new Uint8Array(good.length * per);
      good.forEach((g, k) => pixels.set(g.pixels, k * per));
      const items: DatasetItem[] = good.map((g) => ({ file: files[g.i]!, label: 'normal', patientId: '', source: 'unknown' }));
      const set: PreparedSet = { items, size: pre.size, crop: pre.crop, pixels, failed: [] };
      const idx = good.map((_, k) => k);
      const stats = { mean: pre.mean, std: pre.std };
      const batch = opts.batch ?? 16;
      let rows: Float32Array[];
      if (pre.model === 'single') {
        rows = await predictRows(model, set, idx, stats, batch);
      } else {
        const emb = await embedImages(model, set, idx, stats, batch);
        rows = templateSimilarity(model, emb, templates!.templates);
      }
      rows.forEach((r, k) => {
        const scores = Object.fromEntries(CLASSES.map((c, j) => [c, Math.round(r[j]! * 1e4) / 1e4])) as Record<ClassName, number>;
        results[good[k]!.i] = { file: files[good[k]!.i]!, ok: true, predicted: CLASSES[argmax(r)]!, scores };
      });
    }
  } finally {
    disposeModel(model);
  }
  return {
    model: pre.model,
    scores: pre.model === 'single' ? 'probability' : 'template-similarity',
    predictions: results.map((r) => r!),
  };
}
