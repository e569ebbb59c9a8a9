/**
 * Resume policy: `--resume` continues a run with the run's own settings. Options that would make a
 * different run (FIXED_ON_RESUME, declared with each option in src/config.ts) must match the saved
 * ones when given; epochs, backend, threads and stopAfter may change.
 */
import { FIXED_ON_RESUME, flagOf, type RunConfig } from '../config.js';
import { optionError } from '../errors.js';
import { readRunConfig, type SavedConfig } from '../run/files.js';

/** The config to run: `config` for a fresh run, the saved one (with this process's settings) on resume. */
export async function resolveConfig(config: RunConfig, resume: boolean, given: Partial<RunConfig>): Promise<RunConfig> {
  if (!resume) return config;
  let saved: SavedConfig;
  try {
    saved = await readRunConfig(config.out);
  } catch {
    return config; // nothing to resume: a fresh run
  }
  for (const k of FIXED_ON_RESUME) {
    if (given[k] !== undefined && given[k] !== saved[k]) {
      throw optionError(flagOf(k), `${String(saved[k])} (the value of the run being resumed)`, given[k]);
    }
  }
  const { dataRoot: _r, dataName: _n, dataHash: _h, backendUsed: _b, versions: _v, createdAt: _c, ...base } = saved;
  return {
    ...base,
    // runs saved before --select-by existed picked their checkpoint by one-shot accuracy
    selectBy: saved.selectBy ?? 'one-shot',
    out: config.out,
    epochs: given.epochs ?? saved.epochs,
    backend: config.backend,
    threads: config.threads,
    stopAfter: config.stopAfter,
  };
}
