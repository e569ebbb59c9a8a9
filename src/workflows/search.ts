/**
 * The study's grid search (learning rate × batch size, short runs) as an experiment of kind
 * `search`: `OUT/experiment.json`, one training run per cell in `OUT/cells/lr<lr>-b<batch>/`, run
 * by any experiment executor (this process, `parallel` child processes, queue workers). A search
 * cell trains only: no test evaluation and no audit, so choosing the settings never looks at test
 * data. `OUT/search.json` is the grid's table of best validation accuracies, best cell marked.
 */
import { join, resolve } from 'node:path';
import type { RunConfig } from '../config.js';
import { CovidNetError, optionError } from '../errors.js';
import { writeJsonAtomic } from '../run/atomic.js';
import { table } from '../evaluate/format.js';
import { STUDY_GRID } from '../train/search.js';
import { RESEARCH_NOTICE } from '../types.js';
import { cellDir, readCellRecord } from './experiment/cell.js';
import type { CellExecutor, RunnerEvent } from './experiment/executor.js';
import { expandGrid, type CellSpec, type GridSpec, type SharedTrainOptions } from './experiment/grid.js';
import { readExperimentFile, runExperiment } from './experiment/runner.js';

export { STUDY_GRID, cellName } from '../train/search.js';
export const SEARCH_FILE = 'search.json';

export interface SearchOptions {
  /** Base config; `out` is the search folder, `epochs` (and `pairs`) the short-run length; its backend, threads and cache are the local executor's. */
  base: RunConfig;
  lrs?: readonly number[];
  batches?: readonly number[];
  /** Who runs the cells (default: this machine, `parallel` cells at once). */
  executor?: CellExecutor | undefined;
  /** Local executor: cells at once in child processes (default 1, in this process). */
  parallel?: number | undefined;
  /** Run only this cell (0-based, lr outer, batch inner): one task of an array job. */
  only?: number | undefined;
  onEvent?: (e: RunnerEvent) => void;
  onCellStart?: (cell: { lr: number; batch: number; index: number; total: number; run: string }) => void;
  onCell?: (cell: SearchCell) => void;
}

export interface SearchCell {
  /** The cell's id, also its folder under `cells/`: `lr1e-4-b16`. */
  id: string;
  lr: number;
  batch: number;
  /** The cell's run folder. */
  run: string;
  bestValAccuracy: number;
  bestEpoch: number;
  seconds: number;
}

export interface SearchResult {
  out: string;
  model: RunConfig['model'];
  epochs: number;
  /** The validation metric behind `bestValAccuracy` (`accuracy`, `template_accuracy`, `one_shot_accuracy`). */
  selectedBy: string;
  /** The finished cells, in the grid's order. */
  cells: SearchCell[];
  /** Highest validation accuracy; ties go to the earlier cell (larger learning rate, smaller batch: the cheaper run). */
  best: SearchCell;
  /** Cells not finished (failed, running elsewhere, not started), with the error of a failed one. */
  missing: { id: string; status: string; error?: { code: string; message: string } }[];
}

/** The search as an experiment grid: one net, seed and split; the base config's other training options are shared. */
export function searchSpec(base: RunConfig, lrs: readonly number[] = STUDY_GRID.lrs, batches: readonly number[] = STUDY_GRID.batches): GridSpec {
  // a queue job carries settings only, not another run's weights
  if (base.initFrom !== undefined) throw optionError('--init-from', 'no --init-from in a search', base.initFrom);
  const { model, recipe, data, out: _out, seed, splitSeed, perClass, epochs, crop, stopAfter: _stop, initFrom: _init, backend: _b, threads: _t, cacheDir: _c, ...rest } = base;
  const train = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as SharedTrainOptions;
  return {
    kind: 'search',
    data,
    nets: [{ name: model, model, ...(recipe !== undefined ? { recipe } : {}), epochs, ...(crop ? { crop } : {}) }],
    seeds: [seed],
    splitSeeds: [splitSeed ?? seed],
    perClass: [perClass ?? null],
    lrs: [...lrs],
    batches: [...batches],
    train,
  };
}

const lrBatch = (c: CellSpec) => ({ lr: Number(c.config.lr), batch: Number(c.config.batch) });

export async function searchGrid(opts: SearchOptions): Promise<SearchResult> {
  const grid = searchSpec(opts.base, opts.lrs, opts.batches);
  const specs = expandGrid(grid);
  const out = resolve(opts.base.out);
  await runExperiment({
    out,
    grid,
    executor: opts.executor,
    only: opts.only,
    parallel: opts.parallel,
    threads: opts.base.threads,
    backend: opts.base.backend,
    cacheDir: opts.base.cacheDir,
    onEvent: (e) => {
      opts.onEvent?.(e);
      if (e.type === 'cell-start') {
        const spec = specs[e.index];
        if (spec) opts.onCellStart?.({ ...lrBatch(spec), index: e.index + 1, total: e.total, run: cellDir(out, spec.id) });
      } else if (e.type === 'cell-end' && opts.onCell) {
        const spec = specs.find((s) => s.id === e.id);
        const cell = spec && e.outcome.record ? searchCell(out, spec, e.outcome.record) : undefined;
        if (cell) opts.onCell(cell);
      }
    },
  });
  return collectSearch(out);
}

function searchCell(out: string, spec: CellSpec, rec: { status: string; validation?: { bestValAccuracy: number; bestEpoch: number }; seconds: number }): SearchCell | undefined {
  if (rec.status !== 'done' || !rec.validation) return undefined;
  return { id: spec.id, ...lrBatch(spec), run: cellDir(out, spec.id), bestValAccuracy: rec.validation.bestValAccuracy, bestEpoch: rec.validation.bestEpoch, seconds: rec.seconds };
}

/** A search folder's table from its cell records (whoever ran them); writes search.json. */
export async function collectSearch(folder: string): Promise<SearchResult> {
  const out = resolve(folder);
  const exp = await readExperimentFile(out);
  if (exp.kind !== 'search') throw new CovidNetError('E_RUN', `not a search folder (an experiment of kind ${exp.kind})`, { file: out });
  const cells: SearchCell[] = [];
  const missing: SearchResult['missing'] = [];
  let selectedBy = 'accuracy';
  for (const spec of expandGrid(exp.grid)) {
    const rec = await readCellRecord(cellDir(out, spec.id));
    const cell = rec ? searchCell(out, spec, rec) : undefined;
    if (cell && rec?.validation) {
      cells.push(cell);
      selectedBy = rec.validation.selectedBy;
    } else missing.push({ id: spec.id, status: rec?.status ?? 'not started', ...(rec?.error ? { error: rec.error } : {}) });
  }
  if (cells.length === 0) {
    const why = missing.find((m) => m.error);
    throw new CovidNetError('E_RUN', `no finished search cell${why ? ` (${why.id}: ${why.error!.code} ${why.error!.message})` : ''}`, { file: out });
  }
  const best = cells.reduce((a, c) => (c.bestValAccuracy > a.bestValAccuracy ? c : a));
  const net = exp.grid.nets[0]!;
  const result: SearchResult = { out, model: net.model, epochs: net.epochs ?? 0, selectedBy, cells, best, missing };
  await writeJsonAtomic(join(out, SEARCH_FILE), result);
  return result;
}

/** The table `covidnet search` (and `experiment collect` on a search folder) prints. */
export function formatSearch(r: SearchResult, pairs?: number): string {
  const metric = r.selectedBy === 'one_shot_accuracy' ? 'best val one-shot acc' : r.selectedBy === 'template_accuracy' ? 'best val template acc' : 'best val acc';
  const rows = [['', 'lr', 'batch', metric, 'at epoch', 'seconds', 'run']];
  for (const c of r.cells) rows.push([c === r.best ? '*' : '', String(c.lr), String(c.batch), c.bestValAccuracy.toFixed(3), String(c.bestEpoch), c.seconds.toFixed(0), c.id]);
  const lines = [`grid search, ${r.model}, ${r.epochs} epochs per cell${pairs !== undefined ? `, ${pairs} pairs per epoch` : ''}`, table(rows)];
  for (const m of r.missing) lines.push(`  not finished: ${m.id} (${m.status}${m.error ? `: ${m.error.code} ${m.error.message}` : ''})`);
  lines.push(`* best: lr ${r.best.lr}, batch ${r.best.batch} (${r.best.run}); results in ${join(r.out, SEARCH_FILE)}`);
  lines.push(RESEARCH_NOTICE);
  return lines.join('\n');
}
