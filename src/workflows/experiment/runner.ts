/**
 * Run an experiment's grid: write `experiment.json` (the grid, the data fingerprint, the code
 * version), then hand the cells to an executor (executor.ts: this machine, in this process or `parallel`
 * child processes; queue.ts: workers through Redis). A finished cell is skipped, an interrupted one
 * resumes from its checkpoint, a failed one is recorded with its reason and the others go on.
 * The analysis (statistics, report) reads the cell folders afterwards (analyze.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, sourceBase } from '../../data/index.js';
import { CovidNetError, optionError } from '../../errors.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { datasetHash } from '../../run/hash.js';
import { cellDir, readCellRecord, type CellOutcome, type CellRecord } from './cell.js';
import { localExecutor, type CellExecutor, type RunnerEvent } from './executor.js';
import { expandGrid, type CellSpec, type GridSpec } from './grid.js';

export const EXPERIMENT_FILE = 'experiment.json';

export interface ExperimentFile {
  kind: GridSpec['kind'];
  grid: GridSpec;
  cells: string[];
  data: { root: string; name: string; images: number; hash: string };
  code: { version: string; commit: string | null; dirty: boolean | null; node: string };
  createdAt: string;
  updatedAt: string;
}

export type { RunnerEvent, WorkerMessage, WorkerRequest } from './executor.js';

export interface RunExperimentOptions {
  out: string;
  grid: GridSpec;
  /** Who runs the cells (default: `localExecutor` with the options below). */
  executor?: CellExecutor | undefined;
  /** Run only this cell (0-based index in expandGrid's order): one task of an array job. */
  only?: number | undefined;
  /** Local executor: cells at once (child processes); default 1 (in this process). */
  parallel?: number | undefined;
  /** Total threads, divided between parallel cells; default all cores. */
  threads?: number | undefined;
  backend?: string | undefined;
  cacheDir?: string | undefined;
  reuse?: string | undefined;
  onEvent?: (e: RunnerEvent) => void;
}

export interface CellListing {
  id: string;
  dir: string;
  status: CellRecord['status'] | 'running' | 'not started';
  epochs?: number;
  record?: CellRecord;
}

/** This copy of covidnet: package version and git commit (what a queue worker must match). */
export async function codeVersion(): Promise<ExperimentFile['code']> {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  let version = 'unknown';
  try {
    version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // an unusual layout: informative only
  }
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  // an installed copy without .git (a container image) can say which commit it was built from
  const commit = git(['rev-parse', 'HEAD']) ?? (process.env.COVIDNET_COMMIT?.trim() || null);
  const status = commit ? git(['status', '--porcelain', '--untracked-files=no']) : null;
  return { version, commit, dirty: status === null ? null : status.length > 0, node: process.version };
}

/** The data source's content hash as experiment.json records it (`data.hash`). */
export async function dataFingerprint(data: string): Promise<{ dataset: Awaited<ReturnType<typeof loadDataset>>; hash: string }> {
  const dataset = await loadDataset(data);
  const base = await sourceBase(dataset.root);
  return { dataset, hash: await datasetHash(base, dataset.items) };
}

/** Write or refresh experiment.json; a folder holding another experiment kind or data is refused. */
export async function writeExperimentFile(out: string, grid: GridSpec, cells: readonly CellSpec[]): Promise<ExperimentFile> {
  const { dataset, hash } = await dataFingerprint(grid.data);
  const prev = await readExperimentFile(out).catch(() => undefined);
  if (prev && (prev.kind !== grid.kind || prev.data.hash !== hash)) {
    throw new CovidNetError('E_RUN', `this folder holds another experiment (${prev.kind} on ${prev.data.root}, data ${prev.data.hash.slice(0, 12)}); choose another --out`, { file: out });
  }
  const now = new Date().toISOString();
  const file: ExperimentFile = {
    kind: grid.kind,
    grid: { ...grid, data: resolve(grid.data) },
    cells: cells.map((c) => c.id),
    data: { root: resolve(dataset.root), name: dataset.name, images: dataset.items.length, hash },
    code: await codeVersion(),
    createdAt: prev?.createdAt ?? now,
    updatedAt: now,
  };
  await writeJsonAtomic(join(out, EXPERIMENT_FILE), file);
  return file;
}

export async function readExperimentFile(out: string): Promise<ExperimentFile> {
  try {
    return JSON.parse(await readFile(join(out, EXPERIMENT_FILE), 'utf8')) as ExperimentFile;
  } catch (e) {
    throw new CovidNetError('E_RUN', `not an experiment folder (no readable ${EXPERIMENT_FILE}): ${(e as Error).message.split('\n')[0]}`, { file: out });
  }
}

/** Each cell's status (what `--cells` prints). */
export async function listCells(out: string, cells: readonly CellSpec[]): Promise<CellListing[]> {
  return Promise.all(
    cells.map(async (c): Promise<CellListing> => {
      const dir = cellDir(out, c.id);
      const record = await readCellRecord(dir);
      if (record) return { id: c.id, dir, status: record.status, record };
      const lines = await readFile(join(dir, 'history.jsonl'), 'utf8').then((s) => s.split('\n').filter((l) => l.trim()).length, () => -1);
      return lines < 0 ? { id: c.id, dir, status: 'not started' } : { id: c.id, dir, status: 'running', epochs: lines };
    }),
  );
}

export async function runExperiment(opts: RunExperimentOptions): Promise<{ out: string; cells: CellOutcome[]; file: ExperimentFile }> {
  const out = resolve(opts.out);
  const executor = opts.executor ?? localExecutor({ parallel: opts.parallel, threads: opts.threads, backend: opts.backend, cacheDir: opts.cacheDir, reuse: opts.reuse });
  const all = expandGrid(opts.grid);
  const only = opts.only;
  if (only !== undefined && !(Number.isInteger(only) && only >= 0 && only < all.length)) throw optionError('--cell', `a cell index from 0 to ${all.length - 1} (the grid has ${all.length} cells)`, only);
  const file = await writeExperimentFile(out, opts.grid, all);
  const cells = all.map((cell, index) => ({ cell, index })).filter((c) => only === undefined || c.index === only);
  const outcomes = await executor.run({ out, cells, total: all.length, dataHash: file.data.hash, code: { version: file.code.version, commit: file.code.commit }, emit: opts.onEvent ?? (() => {}) });
  return { out, cells: outcomes, file };
}

/** The cell of an array job: `--cell K`, or (`--cell` without a value) the scheduler's index. */
export function arrayTaskIndex(value: string | boolean | undefined, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (value === undefined || value === false) return undefined;
  const raw = value === true ? (env.SLURM_ARRAY_TASK_ID ?? env.JOB_COMPLETION_INDEX) : value;
  if (raw === undefined) throw optionError('--cell', 'a cell index, or $SLURM_ARRAY_TASK_ID / $JOB_COMPLETION_INDEX set when --cell has no value', 'neither is set');
  if (!/^\d+$/.test(raw.trim())) throw optionError('--cell', 'a cell index (0-based, in the order of --cells)', raw);
  return Number(raw.trim());
}
