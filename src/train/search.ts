/**
 * The study's grid search: learning rate × batch size, short runs, best validation accuracy per
 * cell. The data are prepared once and shared by every cell; each cell is a full run folder
 * (`OUT/lr<lr>-b<batch>/`), so any cell can be evaluated or resumed like a normal run.
 */
import { join } from 'node:path';
import type { RunConfig } from '../config.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { prepareTrainingData, type PrepareProgress } from './data.js';
import { train, type TrainEvent } from './train.js';

export const STUDY_GRID = { lrs: [1e-3, 1e-4, 1e-5], batches: [8, 16, 32] } as const;

export interface SearchOptions {
  /** Base config; `out` is the search folder, `epochs` (and `pairs`) the short-run length. */
  base: RunConfig;
  lrs?: readonly number[];
  batches?: readonly number[];
  onPrepare?: (p: PrepareProgress) => void;
  onCellStart?: (cell: { lr: number; batch: number; index: number; total: number; run: string }) => void;
  onEvent?: (e: TrainEvent) => void;
  onCell?: (cell: SearchCell) => void;
}

export interface SearchCell {
  lr: number;
  batch: number;
  run: string;
  bestValAccuracy: number;
  bestEpoch: number;
  seconds: number;
}

export interface SearchResult {
  out: string;
  model: RunConfig['model'];
  epochs: number;
  cells: SearchCell[];
  best: SearchCell;
}

export function cellName(lr: number, batch: number): string {
  return `lr${lr.toExponential().replace('+', '')}-b${batch}`;
}

export async function searchGrid(opts: SearchOptions): Promise<SearchResult> {
  const lrs = opts.lrs ?? STUDY_GRID.lrs;
  const batches = opts.batches ?? STUDY_GRID.batches;
  const data = await prepareTrainingData(opts.base, { onProgress: (p) => opts.onPrepare?.(p) });
  const cells: SearchCell[] = [];
  const total = lrs.length * batches.length;
  for (const lr of lrs) {
    for (const batch of batches) {
      const run = join(opts.base.out, cellName(lr, batch));
      opts.onCellStart?.({ lr, batch, index: cells.length + 1, total, run });
      const t0 = performance.now();
      const r = await train({ ...opts.base, lr, batch, out: run }, { data, ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) });
      const cell: SearchCell = { lr, batch, run, bestValAccuracy: r.bestValAccuracy, bestEpoch: r.bestEpoch, seconds: (performance.now() - t0) / 1000 };
      cells.push(cell);
      opts.onCell?.(cell);
    }
  }
  // ties go to the earlier cell (larger learning rate, smaller batch: the cheaper run)
  const best = cells.reduce((a, c) => (c.bestValAccuracy > a.bestValAccuracy ? c : a));
  const result: SearchResult = { out: opts.base.out, model: opts.base.model, epochs: opts.base.epochs, cells, best };
  await writeJsonAtomic(join(opts.base.out, 'search.json'), result);
  return result;
}
