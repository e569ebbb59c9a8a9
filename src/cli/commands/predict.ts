/**
 * `covidnet predict --run RUN FILE...`: class, calibrated probabilities and the
 * out-of-distribution verdict per file, from the run folder alone. An out-of-distribution image
 * gets no class unless `--allow-ood` (then it is marked); `--json` keeps every score.
 */
import type { Command } from 'commander';
import { backendOption, inferenceBatchOption, threadsOption } from '../options.js';

export function register(program: Command): void {
  program
    .command('predict')
    .description('predict the class of image files with a trained run (research only, not diagnosis)')
    .argument('<files...>', 'image files (PNG, JPEG, DICOM)')
    .option('--run <run>', 'run folder')
    .addOption(inferenceBatchOption())
    .option('--allow-ood', 'show the class of out-of-distribution images too (marked as such)')
    .addOption(backendOption())
    .addOption(threadsOption())
    .option('--json', 'one JSON object per file (raw scores, calibrated probabilities, ood_score, ood_threshold, in_distribution)')
    .action(async (files: string[], o: { run?: string; batch?: number; backend?: string; threads?: number; json?: boolean; allowOod?: boolean }) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      const { oodLine } = await import('../../trust/detector.js');
      if (!o.run) throw optionError('--run', 'a run folder', o.run);
      const { predictFiles } = await import('../../predict/predict.js');
      const r = await predictFiles(o.run, files, { batch: o.batch, backend: o.backend, threads: o.threads });
      for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
      let failed = 0;
      for (const p of r.predictions) {
        if (!p.ok) failed++;
        const ood = p.ok && p.in_distribution === false;
        if (o.json) {
          // an out-of-distribution image gets no class unless --allow-ood; the scores stay
          const shown = p.ok && ood && !o.allowOod ? { ...p, predicted: null, class_withheld: 'out of distribution' } : p;
          process.stdout.write(JSON.stringify({ ...shown, score_kind: r.scores, calibration: r.calibration }) + '\n');
        } else if (p.ok) {
          const probs = p.calibrated ?? p.scores;
          const what = p.calibrated ? 'probabilities, calibrated' : r.scores === 'probability' ? 'probabilities' : 'similarity to class templates';
          const scores = Object.entries(probs).map(([c, v]) => `${c} ${v.toFixed(3)}`).join(', ');
          const check = p.ood_score === null || p.ood_threshold === null ? '' : `; ood score ${p.ood_score.toFixed(2)} ≤ ${p.ood_threshold.toFixed(2)}`;
          if (!ood) process.stdout.write(`${p.file}: ${p.predicted} (${what}: ${scores}${check})\n`);
          else if (!o.allowOod) process.stdout.write(`${p.file}: ${oodLine(p.ood_score, p.ood_threshold!)}; no class given (--allow-ood shows it)\n`);
          else process.stdout.write(`${p.file}: ${p.predicted} [OUT OF DISTRIBUTION, unreliable: ood score ${p.ood_score === null ? '∞' : p.ood_score.toFixed(2)} > ${p.ood_threshold!.toFixed(2)}] (${what}: ${scores})\n`);
        } else {
          process.stderr.write(`${p.file}: error [${p.code}]: ${p.error}\n`);
        }
      }
      if (!o.json) process.stdout.write(`${RESEARCH_NOTICE}\n`);
      if (failed > 0) process.exitCode = 1;
    });
}
