/** `covidnet evaluate`: metrics of a run on a data source (a thin layer over `evaluateRun`). */
import type { Command } from 'commander';
import { backendOption, cacheDirOption, inferenceBatchOption, runOption, threadsOption } from '../options.js';

interface EvaluateCliOptions {
  run?: string;
  data?: string;
  split?: string;
  oneShot?: number;
  batch?: number;
  backend?: string;
  threads?: number;
  cacheDir?: string;
  json?: boolean;
  ood?: string[];
  operatingPoint?: string[];
  by?: string;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function register(program: Command): void {
  program
    .command('evaluate')
    .description('evaluate a run on a data source: accuracy, balanced accuracy, confusion matrix, per-class rates with 95% intervals')
    .option('--run <run>', 'run folder')
    .option('--data <src>', 'data source (the run\'s own source uses its held-out split)')
    .option('--split <split>', 'train, val or test where the source has splits (default test)')
    .addOption(runOption('oneShotTrials', { flag: '--one-shot', help: 'siamese: 3-way one-shot protocol with this many trials instead of templates', noDefault: true }))
    .option('--ood <src>', 'out-of-distribution images (folder: one kind per subfolder; CSV or text list; repeatable): AUROC and false-accept rate per detector signal', collect)
    .option('--operating-point <spec>', 'threshold on a class probability chosen on validation, e.g. COVID-19:sensitivity=0.90 (or CLASS:specificity=F; repeatable)', collect)
    .option('--by <column>', 'break the results down by this column (source, or any manifest column)')
    .addOption(inferenceBatchOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'print the result as JSON')
    .action(async (o: EvaluateCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const { isSplit } = await import('../../types.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      if (!o.data) throw optionError('--data', 'a data source path', o.data);
      if (o.split !== undefined && !isSplit(o.split)) throw optionError('--split', 'train, val or test', o.split);
      const { parseOperatingPoint } = await import('../../trust/roc.js');
      for (const p of o.operatingPoint ?? []) parseOperatingPoint(p); // a bad spec fails before any work
      const { evaluateRun, formatEval } = await import('../../evaluate/index.js');
      const r = await evaluateRun({
        run: o.run,
        data: o.data,
        split: o.split as 'test' | undefined,
        oneShot: o.oneShot,
        batch: o.batch,
        backend: o.backend,
        threads: o.threads,
        cacheDir: o.cacheDir,
        ood: o.ood,
        operatingPoints: o.operatingPoint,
        by: o.by,
      });
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else process.stdout.write(formatEval(r) + '\n');
      // refresh the run's report (never fails the command)
      const { refreshRunReport, refreshLine } = await import('../../report/refresh.js');
      const report = await refreshRunReport(o.run, { backend: o.backend, threads: o.threads });
      if (!o.json) process.stdout.write(refreshLine(report) + '\n');
    });
}
