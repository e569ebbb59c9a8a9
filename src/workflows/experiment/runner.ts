/**
 * Run an experiment's grid: write `experiment.json` (the grid, the data fingerprint, the code
 * version), then every cell, one after another in this process or `parallel` at a time in child
 * processes with the threads divided between them. A finished cell is skipped, an interrupted one
 * resumes from its checkpoint, a failed one is recorded with its reason and the others go on.
 * The analysis (statistics, report) reads the cell folders afterwards (analyze.ts).
 */
import { execFileSync, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, sourceBase } from '../../data/index.js';
import { CovidNetError, optionError } from '../../errors.js';
import { STUDY_DEFAULTS } from '../../config.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { datasetHash } from '../../run/hash.js';
import type { EpochRecord } from '../../run/files.js';
import { cellDir, readCellRecord, runCell, type CellOutcome, type CellRecord, type CellRuntime } from './cell.js';
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

export type RunnerEvent =
  | { type: 'cell-start'; id: string; index: number; total: number; worker: number }
  | { type: 'epoch'; id: string; record: EpochRecord; epochs: number }
  | { type: 'cell-end'; id: string; outcome: CellOutcome; index: number; total: number; done: number; seconds: number };

export interface RunExperimentOptions {
  out: string;
  grid: GridSpec;
  /** Cells at once (child processes); default 1 (in this process). */
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

async function codeVersion(): Promise<ExperimentFile['code']> {
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
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit ? git(['status', '--porcelain', '--untracked-files=no']) : null;
  return { version, commit, dirty: status === null ? null : status.length > 0, node: process.version };
}

/** Write or refresh experiment.json; a folder holding another experiment kind or data is refused. */
export async function writeExperimentFile(out: string, grid: GridSpec, cells: readonly CellSpec[]): Promise<ExperimentFile> {
  const dataset = await loadDataset(grid.data);
  const base = await sourceBase(dataset.root);
  const hash = await datasetHash(base, dataset.items);
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
  const parallel = opts.parallel ?? 1;
  if (!(Number.isInteger(parallel) && parallel >= 1 && parallel <= 64)) throw optionError('--parallel', 'an integer from 1 to 64', parallel);
  const cells = expandGrid(opts.grid);
  const file = await writeExperimentFile(out, opts.grid, cells);
  const emit = opts.onEvent ?? (() => {});
  const total = cells.length;
  const threads = opts.threads ?? availableParallelism();
  const perCell = Math.max(1, Math.floor(threads / parallel));
  const outcomes: CellOutcome[] = new Array(total);
  let next = 0;
  let done = 0;
  const worker = async (w: number) => {
    for (;;) {
      const index = next++;
      if (index >= total) return;
      const cell = cells[index]!;
      emit({ type: 'cell-start', id: cell.id, index, total, worker: w });
      const t0 = performance.now();
      const rt: CellRuntime = { backend: opts.backend, threads: parallel > 1 ? perCell : opts.threads, cacheDir: opts.cacheDir, reuse: opts.reuse };
      const epochs = cell.config.epochs ?? STUDY_DEFAULTS[cell.config.model].epochs;
      const onEpoch = (record: EpochRecord) => emit({ type: 'epoch', id: cell.id, record, epochs });
      const outcome = parallel > 1 ? await runCellInChild(out, cell, rt, onEpoch) : await runCell(out, cell, { ...rt, onEvent: (e) => e.type === 'epoch' && onEpoch(e.record) });
      outcomes[index] = outcome;
      done++;
      emit({ type: 'cell-end', id: cell.id, outcome, index, total, done, seconds: (performance.now() - t0) / 1000 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, total) }, (_, w) => worker(w)));
  return { out, cells: outcomes, file };
}

/** Messages between the runner and a cell's child process (worker.ts). */
export type WorkerMessage = { type: 'epoch'; record: EpochRecord } | { type: 'outcome'; outcome: CellOutcome };
export interface WorkerRequest {
  experiment: string;
  cell: CellSpec;
  runtime: Omit<CellRuntime, 'onEvent'>;
}

function runCellInChild(experiment: string, cell: CellSpec, rt: CellRuntime, onEpoch: (r: EpochRecord) => void): Promise<CellOutcome> {
  const workerPath = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');
  return new Promise((resolvePromise) => {
    const child = fork(workerPath, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, COVIDNET_THREADS: String(rt.threads ?? '') } });
    let outcome: CellOutcome | undefined;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'epoch') onEpoch(m.record);
      else outcome = m.outcome;
    });
    child.on('exit', (code, signal) => {
      if (outcome) return resolvePromise(outcome);
      const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const last = stderr.trim().split('\n').pop() ?? '';
      resolvePromise({ id: cell.id, status: 'failed', record: { id: cell.id, status: 'failed', spec: cell, seconds: 0, finishedAt: new Date().toISOString(), error: { code: 'E_INTERNAL', message: `the cell's process ${why}${last ? `: ${last}` : ''}` } } });
    });
    const req: WorkerRequest = { experiment, cell, runtime: { backend: rt.backend, threads: rt.threads, cacheDir: rt.cacheDir, reuse: rt.reuse } };
    child.send(req);
  });
}
