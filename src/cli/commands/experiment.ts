/**
 * `covidnet experiment compare|scarcity|crop|collect`: grids of cells run here (`--executor local`,
 * `--parallel`) or through a Redis job queue (`--executor queue`, `covidnet worker`), one cell of an
 * array job (`--cell K`), and the statistics of a folder whose cells ran elsewhere (`collect`).
 */
import { Option, type Command } from 'commander';
import { addRunOptions, backendOption, threadsOption, cacheDirOption, runOption } from '../options.js';
import { numberOption, pickRunOptions, type RunOptionKey } from '../../config.js';
import type { TrainCliOptions } from './train.js';

/** The training options of `covidnet train` that the crop experiment passes on to both runs. */
const CROP_TRAIN_KEYS = ['size', 'width', 'fc', 'epochs', 'batch', 'lr', 'seed', 'valFraction', 'testFraction'] as const satisfies readonly RunOptionKey[];

/** How the cells run: the executor and its options. */
export interface ExecutorCliOptions {
  executor?: 'local' | 'queue';
  redis?: string;
  queue?: string;
  parallel?: number;
  threads?: number;
  backend?: string;
  cacheDir?: string;
  reuse?: string;
}

type CropCliOptions = TrainCliOptions & ExecutorCliOptions & { limit?: number; seeds?: string; cell?: string | boolean };

export function addExecutorOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--executor <kind>', 'who runs the cells: local (this machine, --parallel) or queue (covidnet worker processes through Redis, --redis)').choices(['local', 'queue']).default('local'))
    .option('--redis <url>', 'queue executor: Redis URL, redis://[:password@]host:port[/db] or rediss:// for TLS (default $COVIDNET_REDIS)')
    .option('--queue <name>', 'queue executor: queue name (the workers\' --queue)', 'covidnet');
}

/** The executor the options ask for (queue code and BullMQ load only when asked for). */
export async function makeExecutor(o: ExecutorCliOptions) {
  const { optionError } = await import('../../errors.js');
  const executors = {
    local: async () => (await import('../../workflows/experiment/executor.js')).localExecutor({ parallel: o.parallel, threads: o.threads, backend: o.backend, cacheDir: o.cacheDir, reuse: o.reuse }),
    queue: async () => {
      const redis = o.redis ?? process.env.COVIDNET_REDIS;
      if (!redis) throw optionError('--redis', 'a Redis URL with --executor queue (or $COVIDNET_REDIS)', redis);
      if (o.parallel !== undefined && o.parallel > 1) throw optionError('--parallel', 'no --parallel with --executor queue (start more workers, or use worker --concurrency)', o.parallel);
      return (await import('../../workflows/experiment/queue.js')).queueExecutor({ redis, queue: o.queue, reuse: o.reuse });
    },
  };
  return executors[o.executor ?? 'local']();
}

/** Progress lines of a grid on a terminal (stderr), nothing when piped or --json. */
export function gridReporter(quiet: boolean) {
  const say = (s: string) => {
    if (!quiet && process.stderr.isTTY) process.stderr.write(s + '\n');
  };
  const started = Date.now();
  return (e: import('../../workflows/experiment/executor.js').RunnerEvent): void => {
    if (e.type === 'cell-start') say(`[${e.index + 1}/${e.total}] ${e.id}…${typeof e.worker === 'string' ? ` (${e.worker})` : ''}`);
    else if (e.type === 'epoch') {
      const h = e.record;
      say(`  ${e.id} epoch ${h.epoch}/${e.epochs}: loss ${h.loss.toFixed(4)}, val ${h.val_metric} ${h.val_accuracy.toFixed(3)}${h.best ? ' (best)' : ''}, ${h.seconds.toFixed(1)} s`);
    } else if (e.type === 'queue') {
      const eta = e.etaSeconds === null ? '' : `, ETA ${e.etaSeconds < 90 ? `${Math.round(e.etaSeconds)} s` : `${Math.round(e.etaSeconds / 60)} min`}`;
      say(`cells: ${e.queued} queued, ${e.running} running, ${e.done} done, ${e.failed} failed (of ${e.total})${eta}`);
    } else if (e.type === 'warning') {
      // a refused job or a lost Redis connection matters even in a log
      process.stderr.write(`covidnet: warning: ${e.message}\n`);
    } else {
      const elapsed = (Date.now() - started) / 1000;
      const eta = e.done < e.total ? `, ETA ${Math.round(((elapsed / e.done) * (e.total - e.done)) / 60)} min` : '';
      const rec = e.outcome.record;
      const what = e.outcome.status === 'failed' ? `FAILED: ${rec?.error?.code} ${rec?.error?.message}` : `${e.outcome.status}${rec?.test ? `, test balanced accuracy ${rec.test.balanced_accuracy.toFixed(3)}` : ''}`;
      say(`[${e.done}/${e.total} cells, ${(e.done / (elapsed / 60)).toFixed(2)}/min${eta}] ${e.id}: ${what} (${e.seconds.toFixed(0)} s)`);
    }
  };
}

/** Training options every cell of compare / scarcity shares. */
const GRID_TRAIN_KEYS = ['size', 'width', 'fc', 'batch', 'lr', 'pairs', 'valFraction', 'testFraction', 'selectBy', 'oneShotTrials', 'evalBatch'] as const satisfies readonly RunOptionKey[];

type GridCliOptions = TrainCliOptions & {
  seeds?: string;
  splitSeeds?: string;
  recipes?: string;
  siameseEpochs?: number;
  parallel?: number;
  cells?: boolean;
  cell?: string | boolean;
  perClass?: string;
  report?: boolean;
} & ExecutorCliOptions;

function addGridOptions(cmd: Command, kind: 'compare' | 'scarcity'): Command {
  addRunOptions(cmd, ['data', 'out', ...GRID_TRAIN_KEYS], { out: { help: 'experiment folder (experiment.json, cells/<net>/…/seed-<s>/ run folders, report/)' } })
    .addOption(runOption('epochs', { help: 'single-net epochs (default 100)' }))
    .option('--siamese-epochs <n>', 'siamese epochs (default 50)', numberOption('--siamese-epochs', 'int'))
    .option('--seeds <n|list>', 'training seeds: a count (1..n) or a list like 1,2,7', kind === 'compare' ? '5' : '3')
    .option('--split-seeds <n|list>', 'split seeds (each a different patient-disjoint split; every net and training seed shares each)', '1')
    .option('--recipes <list>', 'siamese recipes, one net each (contrastive = the default recipe; add study for the published one)', 'contrastive')
    .option('--parallel <n>', 'cells at once, in child processes with the threads divided between them', numberOption('--parallel', 'int'), 1)
    .option('--reuse <experiment>', 'copy finished cells with identical settings from this experiment folder instead of training them')
    .option('--cells', 'list the cells (with their index for --cell) and their status, run nothing')
    .option('--cell [k]', 'run only cell K (0-based, as --cells numbers them): one task of an array job; without K, $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX (no report: use experiment collect)')
    .option('--no-report', 'skip the statistics and the report after the cells')
    .addOption(backendOption())
    .addOption(threadsOption('threads in all (divided between parallel cells)'))
    .addOption(cacheDirOption())
    .option('--json', 'print the result as one JSON object (no progress)');
  return addExecutorOptions(cmd);
}

async function runGrid(kind: 'compare' | 'scarcity', o: GridCliOptions): Promise<void> {
  const { optionError } = await import('../../errors.js');
  const { RESEARCH_NOTICE } = await import('../../types.js');
  const { parseSeeds, parsePerClass, compareNets } = await import('../../workflows/experiment/grid.js');
  const { runExperiment, listCells, arrayTaskIndex } = await import('../../workflows/experiment/runner.js');
  const { expandGrid } = await import('../../workflows/experiment/grid.js');
  if (!o.data) throw optionError('--data', 'a data source path', o.data);
  if (!o.out) throw optionError('--out', 'an experiment folder', o.out);
  const seeds = parseSeeds('--seeds', o.seeds ?? '1');
  const splitSeeds = parseSeeds('--split-seeds', o.splitSeeds ?? '1');
  const recipes = (o.recipes ?? 'contrastive').split(',').map((r) => r.trim()).filter(Boolean);
  const { getRecipe } = await import('../../train/recipes.js');
  for (const r of recipes) getRecipe(r);
  const { data, out, epochs, ...rest } = pickRunOptions(o);
  const { size, width, fc, batch, lr, pairs, valFraction, testFraction, selectBy, oneShotTrials, evalBatch } = rest;
  const train = Object.fromEntries(Object.entries({ size, width, fc, batch, lr, pairs, valFraction, testFraction, selectBy, oneShotTrials, evalBatch }).filter(([, v]) => v !== undefined));
  const grid = {
    kind,
    data: data!,
    nets: compareNets(recipes, { single: epochs, siamese: o.siameseEpochs }),
    seeds,
    splitSeeds,
    ...(kind === 'scarcity' ? { perClass: parsePerClass(o.perClass ?? '5,10,20,50,all') } : {}),
    train,
  };
  const cells = expandGrid(grid);
  const quiet = o.json === true;
  if (o.cells) {
    const list = await listCells(out!, cells);
    if (quiet) process.stdout.write(JSON.stringify(list) + '\n');
    else for (const [i, c] of list.entries()) process.stdout.write(`${String(i).padStart(4)}  ${c.id.padEnd(32)} ${c.status}${c.epochs !== undefined ? ` (${c.epochs} epochs)` : ''}${c.record?.error ? `: ${c.record.error.code} ${c.record.error.message}` : ''}${c.record?.test ? `  test balanced accuracy ${c.record.test.balanced_accuracy.toFixed(3)}` : ''}\n`);
    return;
  }
  const only = arrayTaskIndex(o.cell);
  const r = await runExperiment({ out: out!, grid, executor: await makeExecutor(o), only, onEvent: gridReporter(quiet) });
  const failed = r.cells.filter((c) => c.status === 'failed');
  let analysis: unknown;
  // one task of an array job: the others may still run; `experiment collect` analyses them all
  if (o.report !== false && only === undefined && failed.length < r.cells.length) {
    const { analyzeExperiment, formatAnalysis } = await import('../../workflows/experiment/analyze.js');
    const a = await analyzeExperiment(r.out, { backend: o.backend, threads: o.threads });
    analysis = a;
    if (!quiet) process.stdout.write(formatAnalysis(a) + '\n');
  }
  if (quiet) process.stdout.write(JSON.stringify({ out: r.out, cells: r.cells, analysis }) + '\n');
  else {
    process.stdout.write(`${r.cells.length} cells: ${r.cells.filter((c) => c.status === 'done').length} done now, ${r.cells.filter((c) => c.status === 'skipped').length} already done, ${failed.length} failed\n`);
    for (const f of failed) process.stdout.write(`  failed ${f.id}: ${f.record?.error?.code} ${f.record?.error?.message}\n`);
    process.stdout.write(RESEARCH_NOTICE + '\n');
  }
  if (failed.length > 0) process.exitCode = 1;
}

export function register(program: Command): void {
  const exp = program.command('experiment').description('experiments as evidence: compare (single vs siamese over seeds), scarcity (learning curves), crop (the study\'s cropping experiment)');
  addGridOptions(
    exp.command('compare').description('single vs siamese net, several training seeds on the same patient-disjoint split, all on the same test images; statistics and a report'),
    'compare',
  ).action((o: GridCliOptions) => runGrid('compare', o));
  addGridOptions(
    exp.command('scarcity').description('learning curves under scarce data: the training split subsampled per class (nested), validation and test fixed, both nets'),
    'scarcity',
  )
    .option('--per-class <list>', 'training images per class, increasing (all = the whole training split)', '5,10,20,50,all')
    .action((o: GridCliOptions) => runGrid('scarcity', o));
  addRunOptions(exp.command('few-shot').description('a class added from K examples without retraining (siamese templates) against a single net fine-tuned on the same K and one trained with every class; curves against K'), ['data', 'out', ...GRID_TRAIN_KEYS], {
    out: { help: 'experiment folder (few-shot.json, cells/…/seed-<s>/ run folders, report/)' },
  })
    .requiredOption('--new-class <name>', 'the class left out of training and added from K examples')
    .option('--shots <list>', 'values of K, e.g. 1,5,10,20', '1,5,10,20')
    .option('--seeds <n|list>', 'training seeds: a count (1..n) or a list like 1,2,7', '3')
    .option('--split-seed <n>', 'seed of the one patient-disjoint split every cell shares', numberOption('--split-seed', 'int'), 1)
    .addOption(runOption('epochs', { help: 'epochs of the single nets (default 100)' }))
    .option('--siamese-epochs <n>', 'siamese epochs (default 50)', numberOption('--siamese-epochs', 'int'))
    .option('--fine-tune-epochs <n>', 'epochs of the fine-tuning on K examples (default: --epochs)', numberOption('--fine-tune-epochs', 'int'))
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'print the result as one JSON object (no progress)')
    .action(async (o: TrainCliOptions & { newClass: string; shots?: string; seeds?: string; splitSeed?: number; siameseEpochs?: number; fineTuneEpochs?: number }) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      const { parseSeeds } = await import('../../workflows/experiment/grid.js');
      const { runFewShot } = await import('../../workflows/experiment/few-shot.js');
      if (!o.data) throw optionError('--data', 'a data source path', o.data);
      if (!o.out) throw optionError('--out', 'an experiment folder', o.out);
      const shots = (o.shots ?? '1,5,10,20').split(',').map((x) => Number(x.trim()));
      if (shots.some((k) => !(Number.isInteger(k) && k >= 1)) || new Set(shots).size !== shots.length) throw optionError('--shots', 'distinct positive integers, e.g. 1,5,10,20', o.shots);
      const { data, out, epochs, ...rest } = pickRunOptions(o);
      const { size, width, fc, batch, lr, pairs, valFraction, testFraction, selectBy, oneShotTrials, evalBatch } = rest;
      const train = Object.fromEntries(Object.entries({ size, width, fc, batch, lr, pairs, valFraction, testFraction, selectBy, oneShotTrials, evalBatch }).filter(([, v]) => v !== undefined));
      const t0 = performance.now();
      const r = await runFewShot({
        data: data!,
        out: out!,
        newClass: o.newClass,
        shots: shots.sort((a, b) => a - b),
        seeds: parseSeeds('--seeds', o.seeds ?? '3'),
        splitSeed: o.splitSeed,
        train,
        epochs: { single: epochs, siamese: o.siameseEpochs, fineTune: o.fineTuneEpochs ?? epochs },
        backend: o.backend,
        threads: o.threads,
        cacheDir: o.cacheDir,
        // one line per finished cell: progress without a bar per epoch of every cell
        onEvent: (e) => {
          if (e.type === 'cell' && o.json !== true) process.stderr.write(`${e.id}: ${e.status} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
        },
      });
      if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
      const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '–');
      const iv = (s: { mean: number; lo: number; hi: number; n: number }) => (s.n > 1 ? `${f3(s.mean)} [${f3(s.lo)}, ${f3(s.hi)}]` : f3(s.mean));
      const lines = [`few-shot: ${r.newClass} added to nets trained on ${r.baseClasses.join(', ')}; seeds ${r.seeds.join(', ')}; mean [95% t interval] over seeds`];
      lines.push(`${'method'.padEnd(20)} ${'K'.padStart(3)}  ${`sensitivity ${r.newClass}`.padEnd(26)} ${`specificity ${r.newClass}`.padEnd(26)} balanced accuracy`);
      for (const p of r.points) lines.push(`${p.method.padEnd(20)} ${String(p.k).padStart(3)}  ${iv(p.new_class_sensitivity).padEnd(26)} ${iv(p.new_class_specificity).padEnd(26)} ${iv(p.balanced_accuracy)}${p.chosen ? `  (chosen: ${p.chosen.join(', ')})` : ''}`);
      for (const c of r.stats.comparisons) lines.push(`K=${c.perClass}: ${c.reading}`);
      lines.push(`report: ${r.report}`, RESEARCH_NOTICE);
      process.stdout.write(lines.join('\n') + '\n');
    });
  exp
    .command('collect')
    .description('the statistics and report of an experiment folder whose cells ran elsewhere (array jobs, queue workers); unfinished cells are listed')
    .argument('<dir>', 'experiment folder (its experiment.json)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'print the analysis as one JSON object')
    .action(async (dir: string, o: { backend?: string; threads?: number; cacheDir?: string; json?: boolean }) => {
      const { readExperimentFile } = await import('../../workflows/experiment/runner.js');
      if ((await readExperimentFile(dir)).kind === 'search') {
        // a search folder's analysis is its validation table (its cells never see test data)
        const { collectSearch, formatSearch } = await import('../../workflows/search.js');
        const r = await collectSearch(dir);
        process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatSearch(r) + '\n');
        if (r.missing.length > 0) process.exitCode = 1;
        return;
      }
      const { analyzeExperiment, formatAnalysis } = await import('../../workflows/experiment/analyze.js');
      const a = await analyzeExperiment(dir, { backend: o.backend, threads: o.threads, cacheDir: o.cacheDir });
      process.stdout.write(o.json ? JSON.stringify(a) + '\n' : formatAnalysis(a) + '\n');
      // not every cell finished: the numbers are partial, and scripts should know
      if (a.missing.length > 0) process.exitCode = 1;
    });
  const crop = exp
    .command('crop')
    .description('train the single net on original and on border-cropped images (same seeds and recipe, one split), evaluate both on the same test split, Grad-CAM both, write a comparison page and the statistics across seeds');
  addRunOptions(crop, ['data', 'out', 'crop', ...CROP_TRAIN_KEYS], {
    out: { help: 'experiment folder (cells/original/seed-<s>/ and cells/cropped/seed-<s>/ run folders, gradcam/, report/)' },
    crop: { help: 'fraction cut from each side', default: 0.1 },
    seed: { help: 'seed of both runs when --seeds is not given (and of the split)' },
  })
    .option('--seeds <n|list>', 'training seeds: a count (1..n) or a list; one original/cropped pair each, all on the split of the first')
    .option('--parallel <n>', 'cells at once, in child processes with the threads divided between them', numberOption('--parallel', 'int'), 1)
    .option('--limit <n>', 'Grad-CAM on at most this many test images per run', numberOption('--limit', 'int'), 60)
    .option('--cell [k]', 'run only cell K (0-based: original/seed-1, cropped/seed-1, original/seed-2, …), no Grad-CAM or page: one task of an array job; without K, $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX (afterwards: experiment collect, or this command without --cell for the page)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'print the result as one JSON object (no progress)');
  addExecutorOptions(crop).action(async (o: CropCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      if (!o.data) throw optionError('--data', 'a data source path', o.data);
      if (!o.out) throw optionError('--out', 'an experiment folder', o.out);
      if (o.limit !== undefined && o.limit < 1) throw optionError('--limit', 'a positive integer', o.limit);
      const { cropExperiment } = await import('../../workflows/crop.js');
      const { parseSeeds } = await import('../../workflows/experiment/grid.js');
      const seeds = o.seeds !== undefined ? parseSeeds('--seeds', o.seeds) : undefined;
      const { data: _d, out: _o, crop: _c, ...trainOpts } = pickRunOptions(o);
      const quiet = o.json === true;
      const say = (s: string) => {
        if (!quiet && process.stderr.isTTY) process.stderr.write(s + '\n');
      };
      const cells = gridReporter(quiet);
      const { arrayTaskIndex, runExperiment } = await import('../../workflows/experiment/runner.js');
      const only = arrayTaskIndex(o.cell);
      if (only !== undefined) {
        // one cell of the grid; the Grad-CAM and the page need every cell, so they wait for a run without --cell
        const { cropGrid } = await import('../../workflows/crop.js');
        const { grid } = cropGrid({ data: o.data, crop: o.crop, train: trainOpts, seeds });
        const ran = await runExperiment({ out: o.out, grid, only, executor: await makeExecutor(o), onEvent: cells });
        if (quiet) process.stdout.write(JSON.stringify({ out: ran.out, cells: ran.cells }) + '\n');
        else for (const c of ran.cells) process.stdout.write(`${c.id}: ${c.status}${c.record?.error ? `: ${c.record.error.code} ${c.record.error.message}` : ''}\n`);
        if (ran.cells.some((c) => c.status === 'failed')) process.exitCode = 1;
        return;
      }
      const r = await cropExperiment({
        seeds,
        parallel: o.executor === 'queue' ? undefined : o.parallel,
        executor: await makeExecutor({ ...o, threads: o.threads, backend: o.backend, cacheDir: o.cacheDir }),
        data: o.data,
        out: o.out,
        crop: o.crop!,
        train: trainOpts,
        limit: o.limit,
        onEvent: (e) => {
          if (e.type === 'phase') say(`[${e.arm} seed ${e.seed}] ${e.phase}…`);
          else if (e.type === 'cells') cells(e.event);
          else {
            const h = e.record;
            say(`[${e.arm} seed ${e.seed}] epoch ${h.epoch}/${e.epochs}: loss ${h.loss.toFixed(4)}, val ${h.val_metric} ${h.val_accuracy.toFixed(3)}${h.best ? ' (best)' : ''}, ${h.seconds.toFixed(1)} s`);
          }
        },
      });
      if (quiet) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      const f = (v: number | null) => (v === null ? '–' : v.toFixed(3));
      const lines = [`cropping experiment (crop ${r.crop} per side), seeds ${r.seeds.join(', ')}, same test split: ${r.same_test_split ? 'yes' : 'no'}${r.seeds.length > 1 ? `; seed ${r.seeds[0]} below` : ''}`];
      lines.push('run        n_test  accuracy  balanced  sens normal  sens pneumonia  sens COVID-19  border mass (orig)  border mass (input)');
      for (const [name, a] of [['original', r.original], ['cropped', r.cropped]] as const) {
        lines.push(
          `${name.padEnd(10)} ${String(a.n_test).padStart(6)}  ${f(a.accuracy).padStart(8)}  ${f(a.balanced_accuracy).padStart(8)}  ${f(a.sensitivity.normal).padStart(11)}  ${f(a.sensitivity.pneumonia).padStart(14)}  ${f(a.sensitivity['COVID-19']).padStart(13)}  ${f(a.border_mass.overall.mean).padStart(18)}  ${f(a.border_mass.input_view.overall.mean).padStart(19)}`,
        );
      }
      for (const c of r.analysis.comparisons) lines.push(c.reading);
      lines.push(`comparison: ${r.comparison}`);
      lines.push(`statistics across seeds: ${r.analysis.report}`);
      for (const ex of r.examples.slice(0, 4)) lines.push(`  overlays: ${ex.original}  |  ${ex.cropped}`);
      lines.push(RESEARCH_NOTICE);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
