/** `covidnet predict --run RUN FILE...`: class and per-class scores per file, from the run folder alone. */
import type { Command } from 'commander';
import { backendOption, inferenceBatchOption, threadsOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('predict')
    .description('predict the class of image files with a trained run (research only, not diagnosis)')
    .argument('<files...>', 'image files (PNG, JPEG, DICOM)')
    .option('--run <run>', 'run folder')
    .addOption(inferenceBatchOption())
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON object per file')
    .action(async (files: string[], o: { run?: string; batch?: number; backend?: string; threads?: number; json?: boolean }) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE, CLASSES } = await import('../../types.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      const { predictFiles } = await import('../../predict/predict.js');
      const r = await predictFiles(o.run, files, { batch: o.batch, backend: o.backend, threads: o.threads });
      let failed = 0;
      for (const p of r.predictions) {
        if (!p.ok) failed++;
        if (o.json) {
          process.stdout.write(JSON.stringify({ ...p, score_kind: r.scores }) + '\n');
        } else if (p.ok) {
          const scores = CLASSES.map((c) => `${c} ${p.scores[c].toFixed(3)}`).join(', ');
          process.stdout.write(`${p.file}: ${p.predicted} (${r.scores === 'probability' ? 'probabilities' : 'similarity to class templates'}: ${scores})\n`);
        } else {
          process.stderr.write(`${p.file}: error [${p.code}]: ${p.error}\n`);
        }
      }
      if (!o.json) process.stdout.write(`${RESEARCH_NOTICE}\n`);
      if (failed > 0) process.exitCode = 1;
    });
}
