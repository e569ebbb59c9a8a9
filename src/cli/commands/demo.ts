/**
 * `covidnet demo` (what `make demo` runs): the whole study offline on built-in phantom data.
 * Writes the phantom data set, trains the single and the siamese net at the CPU configuration,
 * evaluates both on the held-out phantoms and prints a side-by-side comparison.
 *
 * Budget: under 15 minutes on 2 cores with the native backend. Without it, the pure-JS backend is
 * ~50× slower, so the demo shrinks the network and the epochs and says so.
 */
import type { Command } from 'commander';
import { backendOption, threadsOption } from '../options.js';
import { numberOption } from '../../config.js';

/**
 * Demo plans: the CPU config with the fast backend, a reduced one without it. The demo's runs are
 * far shorter than the study's, so the single net uses the grid's largest learning rate (1e-3) and
 * batch 8 (more steps for the same images). The siamese net uses the default recipe (contrastive
 * since issue 6: a balanced epoch of images a epoch, all pairs inside a batch) with its tested
 * settings, batch 16 and lr 1e-4 (docs/siamese.md); `pairs` only matters for `--recipe study`.
 */
export const DEMO_PLANS = {
  // Measured on the quiet 2-core machine (docs/training.md): single 30 epochs at lr 3e-4 reaches
  // ≈0.86 on the held-out phantoms where 8 epochs at 1e-3 never learned pneumonia; the siamese
  // encoder starts from the single run (`initFrom`, docs/siamese.md), which took it from ≈0.59
  // (contrastive from scratch, 15 epochs) to ≈0.88 in 8 epochs.
  fast: { size: 112, width: 32, fc: 256, perClass: 180, single: { epochs: 30, batch: 16, lr: 3e-4 }, siamese: { epochs: 8, batch: 16, lr: 1e-4 }, pairs: 200, siameseFromSingle: true },
  slow: { size: 32, width: 8, fc: 32, perClass: 40, single: { epochs: 4, batch: 8, lr: 1e-3 }, siamese: { epochs: 3, batch: 16, lr: 1e-4 }, pairs: 60, siameseFromSingle: true },
  /** `--quick`: a smoke test of the whole pipeline in seconds (numbers meaningless). */
  quick: { size: 32, width: 4, fc: 8, perClass: 9, single: { epochs: 1, batch: 8, lr: 1e-3 }, siamese: { epochs: 1, batch: 8, lr: 1e-3 }, pairs: 16, siameseFromSingle: false },
} as const;

interface DemoOptions {
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
    .option('--seed <n>', 'seed (default 1)', numberOption('--seed', 'int'))
    .option('--no-shortcuts', 'phantoms without the class-correlated border marks (the study\'s artifacts)')
    .option('--quick', 'a tiny smoke run of the whole pipeline (seconds; the numbers mean nothing)')
    .option('--json', 'machine-readable output: one JSON object per epoch and a final summary')
    .action(async (o: DemoOptions) => {
      const { join } = await import('node:path');
      const { rm } = await import('node:fs/promises');
      const { initBackend } = await import('../../backend/index.js');
      const { writeSynthDataset } = await import('../../data/index.js');
      const { parseRunConfig } = await import('../../config.js');
      const { train } = await import('../../train/train.js');
      const { evaluateRun, table, fmtInterval } = await import('../../evaluate/index.js');
      const { RESEARCH_NOTICE, CLASSES } = await import('../../types.js');
      const log = (s: string) => {
        if (!o.json) process.stderr.write(s + '\n');
      };
      const t0 = performance.now();
      const seed = o.seed ?? 1;
      const backend = await initBackend({ backend: o.backend, purpose: 'train', threads: o.threads });
      log(`backend: ${backend.reason}`);
      const plan = o.quick ? DEMO_PLANS.quick : backend.fast ? DEMO_PLANS.fast : DEMO_PLANS.slow;
      if (!backend.fast && !o.quick) {
        log(
          `note: no fast native backend, so the demo runs a reduced configuration (size ${plan.size}, width ${plan.width}, fc ${plan.fc}, ` +
            `${plan.single.epochs}/${plan.siamese.epochs} epochs) instead of the CPU config (112/32/256). Build the native backend ` +
            '(`make native`, needs libdnnl-dev) for the full demo.',
        );
      }
      const dataDir = join(o.out, 'data');
      log(`writing phantom data set (${plan.perClass} images per class${o.shortcuts !== false ? ', with class-correlated border marks like the study\'s artifacts' : ''}) to ${dataDir}`);
      await rm(dataDir, { recursive: true, force: true });
      await writeSynthDataset({ out: dataDir, perClass: plan.perClass, imageSize: 2 * plan.size, seed, shortcuts: o.shortcuts !== false });
      const runs = { single: join(o.out, 'runs', 'single'), siamese: join(o.out, 'runs', 'siamese') };
      const results = [];
      const { trainReporter } = await import('./train.js');
      for (const model of ['single', 'siamese'] as const) {
        await rm(runs[model], { recursive: true, force: true });
        const config = parseRunConfig({
          model,
          data: dataDir,
          out: runs[model],
          size: plan.size,
          width: plan.width,
          fc: plan.fc,
          epochs: plan[model].epochs,
          batch: plan[model].batch,
          lr: plan[model].lr,
          pairs: plan.pairs,
          ...(model === 'siamese' && plan.siameseFromSingle ? { initFrom: runs.single } : {}),
          seed,
          ...(o.backend ? { backend: o.backend } : {}),
          ...(o.threads ? { threads: o.threads } : {}),
        });
        const per = model === 'siamese'
          ? (config.recipe === 'study' ? `, ${config.pairs} pairs each` : `, recipe ${config.recipe}`) + (config.initFrom ? `, encoder from ${config.initFrom}` : '')
          : '';
        log(`\ntraining the ${model} net (${config.epochs} epochs, batch ${config.batch}, lr ${config.lr}${per}) → ${runs[model]}`);
        const rep = await trainReporter(o.json === true, `[${model}] `);
        try {
          await train(config, { onEvent: rep.onEvent });
        } finally {
          rep.stop();
        }
        results.push(await evaluateRun({ run: runs[model], data: dataDir, split: 'test', backend: o.backend, threads: o.threads }));
      }
      const [single, siamese] = results as [(typeof results)[0], (typeof results)[0]];
      const minutes = (performance.now() - t0) / 60000;
      if (o.json) {
        process.stdout.write(JSON.stringify({ event: 'demo', backend: backend.name, plan, minutes, runs, single: summary(single), siamese: summary(siamese) }) + '\n');
      } else {
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
      }
      // reports of both runs and their comparison page; never fails the demo
      const { refreshReports, refreshLine } = await import('../../report/refresh.js');
      const report = await refreshReports([runs.single, runs.siamese], join(o.out, 'report'), { backend: o.backend, threads: o.threads });
      if (o.json) process.stdout.write(JSON.stringify({ event: 'report', ...report }) + '\n');
      else process.stdout.write(refreshLine(report) + '\n');
    });
}

function summary(r: { accuracy: { value: number }; balanced_accuracy: number; n: number; file?: string | undefined; confusion: number[][] }) {
  return { n: r.n, accuracy: r.accuracy.value, balanced_accuracy: r.balanced_accuracy, confusion: r.confusion, file: r.file };
}
