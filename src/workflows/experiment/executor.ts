/**
 * Who runs an experiment's cells. The runner writes experiment.json and picks the cells; an
 * executor runs them and reports events: `localExecutor` on this machine (in this process, or
 * `parallel` child processes), `queueExecutor` (queue.ts) through a BullMQ queue that workers on
 * any machine take cells from. Both end in the same cell folders, written by `runCell`.
 */
import { STUDY_DEFAULTS } from '../../config.js';
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { optionError } from '../../errors.js';
import type { EpochRecord } from '../../run/files.js';
import { runCell, type CellOutcome, type CellRuntime } from './cell.js';
import type { CellSpec } from './grid.js';

export type RunnerEvent =
  | { type: 'cell-start'; id: string; index: number; total: number; worker: number | string }
  | { type: 'epoch'; id: string; record: EpochRecord; epochs: number }
  | { type: 'cell-end'; id: string; outcome: CellOutcome; index: number; total: number; done: number; seconds: number }
  /** Queue executor: the cells' states, whenever they change. */
  | { type: 'queue'; queued: number; running: number; done: number; failed: number; total: number; etaSeconds: number | null }
  /** Queue executor: something the user should read (a worker refused a job, Redis went away). */
  | { type: 'warning'; message: string };

/** A cell to run and its index in the grid's order (expandGrid). */
export interface IndexedCell {
  index: number;
  cell: CellSpec;
}

export interface ExecutorContext {
  /** The experiment folder (absolute). */
  out: string;
  /** The cells to run now (a subset of the grid with --cell). */
  cells: readonly IndexedCell[];
  /** Cells in the whole grid (for the [i/total] counts). */
  total: number;
  /** experiment.json's data fingerprint and code version: what a remote worker must match. */
  dataHash: string;
  code: { version: string; commit: string | null };
  emit: (e: RunnerEvent) => void;
}

export interface CellExecutor {
  readonly name: 'local' | 'queue';
  /** Run the cells; the outcomes in the order of `ctx.cells`. */
  run(ctx: ExecutorContext): Promise<CellOutcome[]>;
}

export interface LocalExecutorOptions {
  /** Cells at once (child processes); default 1 (in this process). */
  parallel?: number | undefined;
  /** Total threads, divided between parallel cells; default all cores. */
  threads?: number | undefined;
  backend?: string | undefined;
  cacheDir?: string | undefined;
  reuse?: string | undefined;
}

/** Default epochs of a cell's net (what an epoch counter shows as its end). */
export const cellEpochs = (cell: CellSpec): number => cell.config.epochs ?? STUDY_DEFAULTS[cell.config.model].epochs;

export function localExecutor(opts: LocalExecutorOptions = {}): CellExecutor {
  const parallel = opts.parallel ?? 1;
  if (!(Number.isInteger(parallel) && parallel >= 1 && parallel <= 64)) throw optionError('--parallel', 'an integer from 1 to 64', parallel);
  return {
    name: 'local',
    async run(ctx) {
      const { cells, emit, total } = ctx;
      const threads = opts.threads ?? availableParallelism();
      const perCell = Math.max(1, Math.floor(threads / parallel));
      const outcomes: CellOutcome[] = new Array(cells.length);
      let next = 0;
      let done = 0;
      const worker = async (w: number) => {
        for (;;) {
          const k = next++;
          if (k >= cells.length) return;
          const { cell, index } = cells[k]!;
          emit({ type: 'cell-start', id: cell.id, index, total, worker: w });
          const t0 = performance.now();
          const rt: CellRuntime = { backend: opts.backend, threads: parallel > 1 ? perCell : opts.threads, cacheDir: opts.cacheDir, reuse: opts.reuse };
          const epochs = cellEpochs(cell);
          const onEpoch = (record: EpochRecord) => emit({ type: 'epoch', id: cell.id, record, epochs });
          const outcome = parallel > 1 ? await runCellInChild(ctx.out, cell, rt, onEpoch) : await runCell(ctx.out, cell, { ...rt, onEvent: (e) => e.type === 'epoch' && onEpoch(e.record) });
          outcomes[k] = outcome;
          done++;
          emit({ type: 'cell-end', id: cell.id, outcome, index, total: cells.length, done, seconds: (performance.now() - t0) / 1000 });
        }
      };
      await Promise.all(Array.from({ length: Math.min(parallel, cells.length) }, (_, w) => worker(w)));
      return outcomes;
    },
  };
}

/** Messages between the runner and a cell's child process (worker.ts). */
export type WorkerMessage = { type: 'epoch'; record: EpochRecord } | { type: 'outcome'; outcome: CellOutcome };
export interface WorkerRequest {
  experiment: string;
  cell: CellSpec;
  runtime: Omit<CellRuntime, 'onEvent'>;
}

/** A running cell's child process: its outcome, and a way to stop it (the queue worker's shutdown). */
export interface ChildCell {
  outcome: Promise<CellOutcome>;
  kill(): void;
}

/**
 * Run one cell in a child process (worker.ts). The child exits when this process goes away
 * (its IPC channel closes), so a killed parent leaves no training behind holding the run's lock.
 */
export function startCellInChild(experiment: string, cell: CellSpec, rt: Omit<CellRuntime, 'onEvent'>, onEpoch: (r: EpochRecord) => void): ChildCell {
  const workerPath = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');
  const child = fork(workerPath, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, COVIDNET_THREADS: String(rt.threads ?? '') } });
  const outcome = new Promise<CellOutcome>((resolvePromise) => {
    let result: CellOutcome | undefined;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'epoch') onEpoch(m.record);
      else result = m.outcome;
    });
    child.on('exit', (code, signal) => {
      if (result) return resolvePromise(result);
      const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const last = stderr.trim().split('\n').pop() ?? '';
      resolvePromise({ id: cell.id, status: 'failed', record: { id: cell.id, status: 'failed', spec: cell, seconds: 0, finishedAt: new Date().toISOString(), error: { code: 'E_INTERNAL', message: `the cell's process ${why}${last ? `: ${last}` : ''}` } } });
    });
  });
  const req: WorkerRequest = { experiment, cell, runtime: { backend: rt.backend, threads: rt.threads, cacheDir: rt.cacheDir, reuse: rt.reuse } };
  child.send(req);
  return { outcome, kill: () => child.kill('SIGTERM') };
}

export function runCellInChild(experiment: string, cell: CellSpec, rt: CellRuntime, onEpoch: (r: EpochRecord) => void): Promise<CellOutcome> {
  return startCellInChild(experiment, cell, rt, onEpoch).outcome;
}
