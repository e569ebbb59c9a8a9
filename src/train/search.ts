/**
 * The study's grid search, the training side: its grid and the name of a cell. The search
 * itself (cells through the experiment executors: this machine, child processes or a queue)
 * is `searchGrid` in src/workflows/search.ts.
 */

export const STUDY_GRID = { lrs: [1e-3, 1e-4, 1e-5], batches: [8, 16, 32] } as const;

/** A cell's name: `lr1e-4-b16`. */
export function cellName(lr: number, batch: number): string {
  return `lr${lr.toExponential().replace('+', '')}-b${batch}`;
}
