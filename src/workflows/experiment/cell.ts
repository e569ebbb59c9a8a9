/**
 * One cell of an experiment: train its run (resuming an interrupted one from its checkpoint),
 * evaluate it on its test split with a breakdown by source, audit it for shortcuts, and mark it
 * done in `CELL/cell.json`. Every step is idempotent: a finished cell is skipped, a cell killed
 * mid-epoch resumes, a done cell missing its audit gets only the audit. A search cell
 * (`evaluate: false`) stops after training: its record holds the validation numbers, and the
 * test split is never read. Inputs in, run folder out:
 * nothing here depends on the process that runs it.
 */
import { access, cp, readFile, rm } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseRunConfig, type RunConfig } from '../../config.js';
import { CovidNetError, isCovidNetError } from '../../errors.js';
import { writeJsonAtomic } from '../../run/atomic.js';
import { runPath } from '../../run/files.js';
import { train, type TrainEvent } from '../../train/train.js';
import { evaluateRun, type EvalResult } from '../../evaluate/evaluate.js';
import { auditRun } from '../../evaluate/audit.js';
import type { CellSpec } from './grid.js';

export const CELL_FILE = 'cell.json';
export const AUDIT_FILE = 'audit.json';
export const CELL_EVAL_FILE = 'eval-test.json';

export interface CellRuntime {
  backend?: string | undefined;
  threads?: number | undefined;
  cacheDir?: string | undefined;
  /** Another experiment folder whose finished cells with identical settings are copied instead of trained. */
  reuse?: string | undefined;
  onEvent?: (e: TrainEvent) => void;
}

/** `running`: started (and maybe interrupted); the next run resumes it. */
export type CellStatus = 'done' | 'failed' | 'running';

export interface CellRecord {
  id: string;
  status: CellStatus;
  /** The cell's spec as it ran (what `--reuse` compares). */
  spec: CellSpec;
  /** Seconds of this process's work on the cell (training, evaluation, audit). */
  seconds: number;
  finishedAt: string;
  /** Done: headline test numbers (the full evaluation is in eval-test.json). */
  test?: { n: number; accuracy: number; balanced_accuracy: number };
  /** Done search cell: the best validation number and its epoch (what picks the grid's best cell). */
  validation?: { bestValAccuracy: number; bestEpoch: number; selectedBy: string };
  epochsDone?: number;
  bestEpoch?: number;
  /** Failed: the error's stable code and message. */
  error?: { code: string; message: string };
  /** Copied from this cell of another experiment. */
  reusedFrom?: string;
}

export interface CellOutcome {
  id: string;
  status: CellStatus | 'skipped' | 'stopped';
  record?: CellRecord;
}

export function cellDir(experiment: string, id: string): string {
  return join(experiment, 'cells', ...id.split('/'));
}

export async function readCellRecord(dir: string): Promise<CellRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, CELL_FILE), 'utf8')) as CellRecord;
  } catch {
    return undefined;
  }
}

const exists = (f: string) => access(f).then(() => true, () => false);
const sameSpec = (a: CellSpec, b: CellSpec) => JSON.stringify(normalise(a)) === JSON.stringify(normalise(b));
function normalise(c: CellSpec): CellSpec {
  return { ...c, config: { ...c.config, data: resolve(c.config.data) } };
}

/** Run one cell into `experiment/cells/<id>`. Errors are recorded in cell.json and rethrown. */
export async function runCell(experiment: string, cell: CellSpec, rt: CellRuntime = {}): Promise<CellOutcome> {
  const dir = cellDir(experiment, cell.id);
  const prev = await readCellRecord(dir);
  if (prev && !sameSpec(prev.spec, cell)) {
    throw new CovidNetError('E_RUN', `cell ${cell.id} was made with other settings than this experiment's; use another --out or delete the cell`, { file: dir });
  }
  const evaluates = cell.evaluate !== false;
  const audits = evaluates && cell.audit !== false;
  if (prev?.status === 'done' && (!audits || (await exists(join(dir, AUDIT_FILE))))) return { id: cell.id, status: 'skipped', record: prev };
  const t0 = performance.now();
  try {
    let record: CellRecord;
    if (prev?.status === 'done') {
      record = prev;
    } else {
      const reused = rt.reuse !== undefined && evaluates ? await reuseCell(rt.reuse, cell, dir) : undefined;
      if (reused) {
        record = reused;
      } else {
        const config = parseRunConfig({ ...cell.config, out: dir, backend: rt.backend, threads: rt.threads, cacheDir: rt.cacheDir });
        const resume = await exists(runPath(dir, 'config'));
        await writeJsonAtomic(join(dir, CELL_FILE), { id: cell.id, status: 'running', spec: cell, seconds: 0, finishedAt: '' } satisfies CellRecord);
        // resuming: the cell's spec was checked above; only the runtime may differ
        const given: Partial<RunConfig> = resume ? { ...(rt.backend !== undefined ? { backend: rt.backend } : {}), ...(rt.threads !== undefined ? { threads: rt.threads } : {}) } : config;
        const r = await train(config, { resume, ...(rt.onEvent ? { onEvent: rt.onEvent } : {}) }, given);
        if (!r.complete) return { id: cell.id, status: 'stopped' };
        if (!evaluates) {
          const done: CellRecord = {
            id: cell.id,
            status: 'done',
            spec: cell,
            seconds: (performance.now() - t0) / 1000,
            finishedAt: new Date().toISOString(),
            validation: { bestValAccuracy: r.bestValAccuracy, bestEpoch: r.bestEpoch, selectedBy: r.selectedBy },
            epochsDone: r.epochsDone,
            bestEpoch: r.bestEpoch,
          };
          await writeJsonAtomic(join(dir, CELL_FILE), done);
          return { id: cell.id, status: 'done', record: done };
        }
        const ev = await evaluate(dir, cell, rt);
        record = {
          id: cell.id,
          status: 'done',
          spec: cell,
          seconds: (performance.now() - t0) / 1000,
          finishedAt: new Date().toISOString(),
          test: { n: ev.n, accuracy: ev.accuracy.value, balanced_accuracy: ev.balanced_accuracy },
          epochsDone: r.epochsDone,
          bestEpoch: r.bestEpoch,
        };
      }
    }
    if (audits && !(await exists(join(dir, AUDIT_FILE)))) {
      const audit = await auditRun({ run: dir, data: cell.config.data, backend: rt.backend, threads: rt.threads, cacheDir: rt.cacheDir, seed: cell.seed });
      await writeJsonAtomic(join(dir, AUDIT_FILE), audit);
    }
    await writeJsonAtomic(join(dir, CELL_FILE), record);
    return { id: cell.id, status: 'done', record };
  } catch (e) {
    const error = isCovidNetError(e) ? { code: e.code, message: e.message } : { code: 'E_INTERNAL', message: e instanceof Error ? e.message : String(e) };
    const record: CellRecord = { id: cell.id, status: 'failed', spec: cell, seconds: (performance.now() - t0) / 1000, finishedAt: new Date().toISOString(), error };
    await writeJsonAtomic(join(dir, CELL_FILE), record).catch(() => {});
    return { id: cell.id, status: 'failed', record };
  }
}

async function evaluate(dir: string, cell: CellSpec, rt: CellRuntime): Promise<EvalResult> {
  const ev = await evaluateRun({ run: dir, data: cell.config.data, split: 'test', by: 'source', backend: rt.backend, threads: rt.threads, cacheDir: rt.cacheDir, write: false });
  await writeJsonAtomic(join(dir, CELL_EVAL_FILE), { ...ev, file: join(dir, CELL_EVAL_FILE) });
  return ev;
}

/** The same training, whatever the cell is called in its experiment. */
const sameTraining = (a: CellSpec, b: CellSpec) => sameSpec({ ...a, id: '' }, { ...b, id: '' });

/**
 * Copy a finished cell with the same training from another experiment (its run folder,
 * evaluation and record): e.g. scarcity's `n-all` cells are compare's cells.
 */
async function reuseCell(other: string, cell: CellSpec, dir: string): Promise<CellRecord | undefined> {
  let ids: string[] = [];
  try {
    ids = (JSON.parse(await readFile(join(other, 'experiment.json'), 'utf8')) as { cells: string[] }).cells;
  } catch {
    return undefined;
  }
  let src: string | undefined;
  let rec: CellRecord | undefined;
  for (const id of ids) {
    const d = cellDir(resolve(other), id);
    const r = await readCellRecord(d);
    if (r?.status === 'done' && sameTraining(r.spec, cell) && (await exists(join(d, CELL_EVAL_FILE)))) {
      src = d;
      rec = r;
      break;
    }
  }
  if (!src || !rec) return undefined;
  await rm(dir, { recursive: true, force: true });
  await cp(src, dir, { recursive: true, filter: (f) => !f.endsWith('.lock') && relative(src, f) !== CELL_FILE });
  // the copied evaluation names the other experiment's folder; it is re-pointed here
  const ev = JSON.parse(await readFile(join(dir, CELL_EVAL_FILE), 'utf8')) as EvalResult;
  await writeJsonAtomic(join(dir, CELL_EVAL_FILE), { ...ev, run: resolve(dir), file: join(dir, CELL_EVAL_FILE) });
  return { ...rec, id: cell.id, spec: cell, reusedFrom: src };
}

/** The cell's test evaluation (written by `runCell`). */
export async function readCellEval(dir: string): Promise<EvalResult> {
  return JSON.parse(await readFile(join(dir, CELL_EVAL_FILE), 'utf8')) as EvalResult;
}
