/**
 * `covidnet search`: the study's learning-rate × batch grid with short runs, an experiment of kind
 * `search` (cells in OUT/cells/lr<lr>-b<batch>/) run here (`--executor local`, `--parallel`) or by
 * queue workers (`--executor queue`), one cell of an array job (`--cell K`); a table, best cell marked.
 */
import type { Command } from 'commander';
import { numberOption } from '../../config.js';
import { optionError } from '../../errors.js';
import { addRunOptions } from '../options.js';
import { addExecutorOptions, gridReporter, makeExecutor, type ExecutorCliOptions } from './experiment.js';
import { addModelOptions, toConfigInput, type TrainCliOptions } from './train.js';

function numberList(flag: string, int: boolean) {
  return (value: string): number[] => {
    const xs = value.split(',').map((s) => s.trim());
    const ns = xs.map(Number);
    if (xs.length === 0 || ns.some((n, i) => xs[i] === '' || !Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n)))) {
      throw optionError(flag, `a comma-separated list of positive ${int ? 'integers' : 'numbers'}`, value);
    }
    return ns;
  };
}

type SearchCliOptions = TrainCliOptions & ExecutorCliOptions & { lrs?: number[]; batches?: number[]; cells?: boolean; cell?: string | boolean };

export function register(program: Command): void {
  const cmd = program
    .command('search')
    .description('grid search over learning rate × batch size with short runs (study: {1e-3,1e-4,1e-5} × {8,16,32}); cells train only, picked by validation accuracy, never tested');
  addRunOptions(cmd, ['model', 'data', 'out'], { out: { help: 'search folder (experiment.json, search.json, cells/lr<lr>-b<batch>/ run folders)' } })
    .option('--lrs <list>', 'learning rates (default 1e-3,1e-4,1e-5)', numberList('--lrs', false))
    .option('--batches <list>', 'batch sizes (default 8,16,32)', numberList('--batches', true))
    .option('--parallel <n>', 'cells at once, in child processes with the threads divided between them', numberOption('--parallel', 'int'), 1)
    .option('--cells', 'list the cells (with their index for --cell) and their status, run nothing')
    .option('--cell [k]', 'run only cell K (0-based, as --cells numbers them): one task of an array job; without K, $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX (the table: experiment collect)');
  addExecutorOptions(addModelOptions(cmd)).action(async (o: SearchCliOptions) => {
    const { parseRunConfig } = await import('../../config.js');
    if (!o.out) throw optionError('--out', 'a search folder', o.out);
    if (!o.model) throw optionError('--model', 'single or siamese', o.model);
    if (!o.data) throw optionError('--data', 'a data source path', o.data);
    // short runs by default: 5 epochs, and 5000 pairs per siamese epoch as in the study's search
    const raw = { epochs: 5, ...(o.model === 'siamese' ? { pairs: 5000 } : {}), ...toConfigInput(o) };
    const base = parseRunConfig(raw);
    const { searchGrid, searchSpec, formatSearch } = await import('../../workflows/search.js');
    const { expandGrid } = await import('../../workflows/experiment/grid.js');
    const { arrayTaskIndex, listCells, runExperiment } = await import('../../workflows/experiment/runner.js');
    const quiet = o.json === true;
    const grid = searchSpec(base, o.lrs, o.batches);
    if (o.cells) {
      const list = await listCells(base.out, expandGrid(grid));
      if (quiet) process.stdout.write(JSON.stringify(list) + '\n');
      else for (const [i, c] of list.entries()) process.stdout.write(`${String(i).padStart(4)}  ${c.id.padEnd(20)} ${c.status}${c.epochs !== undefined ? ` (${c.epochs} epochs)` : ''}${c.record?.error ? `: ${c.record.error.code} ${c.record.error.message}` : ''}${c.record?.validation ? `  best val ${c.record.validation.bestValAccuracy.toFixed(3)} at epoch ${c.record.validation.bestEpoch}` : ''}\n`);
      return;
    }
    const executor = await makeExecutor(o);
    const only = arrayTaskIndex(o.cell);
    if (only !== undefined) {
      // one task of an array job: the other cells may still run; `experiment collect` gives the table
      const ran = await runExperiment({ out: base.out, grid, only, executor, onEvent: gridReporter(quiet) });
      if (quiet) process.stdout.write(JSON.stringify({ out: ran.out, cells: ran.cells }) + '\n');
      else for (const c of ran.cells) process.stdout.write(`${c.id}: ${c.status}${c.record?.error ? `: ${c.record.error.code} ${c.record.error.message}` : ''}${c.record?.validation ? `, best val ${c.record.validation.bestValAccuracy.toFixed(3)} at epoch ${c.record.validation.bestEpoch}` : ''}\n`);
      if (ran.cells.some((c) => c.status === 'failed')) process.exitCode = 1;
      return;
    }
    const result = await searchGrid({
      base,
      ...(o.lrs ? { lrs: o.lrs } : {}),
      ...(o.batches ? { batches: o.batches } : {}),
      executor,
      onEvent: gridReporter(quiet),
      onCell: (c) => {
        if (quiet) process.stdout.write(JSON.stringify({ event: 'cell', ...c }) + '\n');
      },
    });
    if (result.missing.length > 0) process.exitCode = 1;
    if (quiet) {
      process.stdout.write(JSON.stringify({ event: 'done', best: result.best, out: result.out, missing: result.missing }) + '\n');
      return;
    }
    process.stdout.write(formatSearch(result, base.model === 'siamese' ? base.pairs : undefined) + '\n');
  });
}
