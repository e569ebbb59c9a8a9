/**
 * `covidnet demo` (what `make demo` runs): a thin layer over `runDemo` (src/workflows/demo.ts) that
 * shows training progress and prints the side-by-side comparison of both nets.
 */
import type { Command } from 'commander';
import { backendOption, runOption, threadsOption } from '../options.js';

interface DemoCliOptions {
  out: string;
  backend?: string;
  threads?: number;
  seed?: number;
  shortcuts?: boolean;
  quick?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the whole study offline on built-in phantom data: train single + siamese, evaluate, compare')
    .option('--out <dir>', 'demo folder (data/ and runs/ go inside)', 'demo')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(runOption('seed'))
    .option('--no-shortcuts', 'phantoms without the class-correlated border marks (the study\'s artifacts)')
    .option('--quick', 'a tiny smoke run of the whole pipeline (seconds; the numbers mean nothing)')
    .option('--json', 'machine-readable output: one JSON object per epoch and a final summary')
    .action(async (o: DemoCliOptions) => {
      const { runDemo } = await import('../../workflows/demo.js');
      const { table, fmtInterval } = await import('../../evaluate/index.js');
      const { RESEARCH_NOTICE, CLASSES } = await import('../../types.js');
      const { refreshLine } = await import('../../report/refresh.js');
      const { trainReporter } = await import('./train.js');
      const r = await runDemo({
        out: o.out,
        backend: o.backend,
        threads: o.threads,
        seed: o.seed,
        shortcuts: o.shortcuts,
        quick: o.quick,
        onLog: (s) => {
          if (!o.json) process.stderr.write(s + '\n');
        },
        onTraining: (model) => trainReporter(o.json === true, `[${model}] `),
      });
      const { single, siamese, plan, runs, backend, minutes, dataDir } = r;
      if (o.json) {
        process.stdout.write(JSON.stringify({ event: 'demo', backend: backend.name, plan, minutes, runs, single: summary(single), siamese: summary(siamese) }) + '\n');
        process.stdout.write(JSON.stringify({ event: 'report', ...r.report }) + '\n');
        return;
      }
      const rows = [
        ['held-out phantoms', 'single (argmax)', 'siamese (templates)'],
        ['images', String(single.n), String(siamese.n)],
        ['accuracy', fmtInterval(single.accuracy), fmtInterval(siamese.accuracy)],
        ['balanced accuracy', single.balanced_accuracy.toFixed(3), siamese.balanced_accuracy.toFixed(3)],
        ...CLASSES.map((c) => [`sensitivity ${c}`, fmtInterval(single.per_class[c]!.sensitivity), fmtInterval(siamese.per_class[c]!.sensitivity)]),
      ];
      process.stdout.write(`\nCOVID-Net demo on phantom data (size ${plan.size}, width ${plan.width}, fc ${plan.fc}; backend ${backend.name}; ${minutes.toFixed(1)} min)\n`);
      process.stdout.write(table(rows) + '\n\n');
      process.stdout.write(`run folders: ${runs.single}, ${runs.siamese} (evaluations: ${single.file}, ${siamese.file})\n`);
      process.stdout.write(`next: npx covidnet serve --run ${runs.single} (a web page for predictions with Grad-CAM); npx covidnet predict --run ${runs.single} ${dataDir}/<image>; npx covidnet evaluate --run ${runs.siamese} --data ${dataDir}\n`);
      process.stdout.write(`Phantoms are synthetic: these numbers show the pipeline works, not how well it reads real X-rays.\n${RESEARCH_NOTICE}\n`);
      process.stdout.write(refreshLine(r.report) + '\n');
    });
}

function summary(r: { accuracy: { value: number }; balanced_accuracy: number; n: number; file?: string | undefined; confusion: number[][] }) {
  return { n: r.n, accuracy: r.accuracy.value, balanced_accuracy: r.balanced_accuracy, confusion: r.confusion, file: r.file };
}
