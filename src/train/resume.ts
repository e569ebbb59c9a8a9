/**
 * Resume policy: `--resume` continues a run with the run's own settings. Options that would make a
 * different run (FIXED_ON_RESUME, declared with each option in src/config.ts) must match the saved
 * ones when given; epochs may change. The runtime (backend and thread count) is the run's recorded
 * one unless given, because another thread count changes results in the last digits; the note says so.
 */
import { access } from 'node:fs/promises';
import { FIXED_ON_RESUME, flagOf, type RunConfig } from '../config.js';
import { CovidNetError, optionError } from '../errors.js';
import { readRunConfig, runPath, type SavedConfig } from '../run/files.js';

export interface ResolvedConfig {
  config: RunConfig;
  /** What the user should know about how the run continues. */
  notes: string[];
}

/** The config to run: `config` for a fresh run, the saved one (with this process's settings) on resume. */
export async function resolveConfig(config: RunConfig, resume: boolean, given: Partial<RunConfig>): Promise<ResolvedConfig> {
  if (!resume) return { config, notes: [] };
  if (!(await access(runPath(config.out, 'config')).then(() => true, () => false))) {
    throw new CovidNetError('E_RUN', 'nothing to resume: this folder holds no run (no config.json); start the run without --resume', { file: config.out });
  }
  const saved: SavedConfig = await readRunConfig(config.out);
  for (const k of FIXED_ON_RESUME) {
    // arrays (--classes) compare by value
    if (given[k] !== undefined && JSON.stringify(given[k]) !== JSON.stringify(saved[k])) {
      throw optionError(flagOf(k), `${String(saved[k])} (the value of the run being resumed)`, given[k]);
    }
  }
  const { dataRoot: _r, dataName: _n, dataHash: _h, backendUsed: _b, threadsUsed: _t, versions: _v, createdAt: _c, ...base } = saved;
  const backend = given.backend ?? saved.backendUsed;
  const threads = given.threads ?? saved.threadsUsed ?? config.threads;
  const notes: string[] = [];
  if (given.backend === undefined || given.threads === undefined) {
    notes.push(`resuming with the run's recorded runtime: backend ${backend}${threads !== undefined ? `, ${threads} threads` : ''} (--backend / --threads change it; another thread count changes results in the last digits)`);
  }
  return {
    config: {
      ...base,
      // runs saved before --select-by existed picked their checkpoint by one-shot accuracy
      selectBy: saved.selectBy ?? 'one-shot',
      out: config.out,
      epochs: given.epochs ?? saved.epochs,
      backend,
      threads,
      stopAfter: config.stopAfter,
    },
    notes,
  };
}
