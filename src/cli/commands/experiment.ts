/**
 * `covidnet experiment crop`: the study's cropping experiment in one command (a thin layer over
 * `cropExperiment` in src/explain).
 */
import type { Command } from 'commander';
import { addRunOptions, backendOption, threadsOption, cacheDirOption } from '../options.js';
import { numberOption, pickRunOptions, type RunOptionKey } from '../../config.js';
import type { TrainCliOptions } from './train.js';

/** The training options of `covidnet train` that the crop experiment passes on to both runs. */
const CROP_TRAIN_KEYS = ['size', 'width', 'fc', 'epochs', 'batch', 'lr', 'seed', 'valFraction', 'testFraction'] as const satisfies readonly RunOptionKey[];

type CropCliOptions = TrainCliOptions & { limit?: number };

export function register(program: Command): void {
  const exp = program.command('experiment').description('experiments of the study (crop: retrain on border-cropped images and compare)');
  const crop = exp
    .command('crop')
    .description('train the single net on original and on border-cropped images (same seed and recipe), evaluate both on the same test split, Grad-CAM both, write a comparison page');
  addRunOptions(crop, ['data', 'out', 'crop', ...CROP_TRAIN_KEYS], {
    out: { help: 'experiment folder (runs original/ and cropped/ go inside)' },
    crop: { help: 'fraction cut from each side', default: 0.1 },
    seed: { help: 'seed (the same for both runs)' },
  })
    .option('--limit <n>', 'Grad-CAM on at most this many test images per run', numberOption('--limit', 'int'), 60)
    .addOption(backendOption())
    .addOption(threadsOption())
    .addOption(cacheDirOption())
    .option('--json', 'print the result as one JSON object (no progress)')
    .action(async (o: CropCliOptions) => {
      const { optionError } = await import('../../errors.js');
      const { RESEARCH_NOTICE } = await import('../../types.js');
      if (!o.data) throw optionError('--data', 'a data source path', o.data);
      if (!o.out) throw optionError('--out', 'an experiment folder', o.out);
      if (o.limit !== undefined && o.limit < 1) throw optionError('--limit', 'a positive integer', o.limit);
      const { cropExperiment } = await import('../../workflows/crop.js');
      const { data: _d, out: _o, crop: _c, ...trainOpts } = pickRunOptions(o);
      const quiet = o.json === true;
      const say = (s: string) => {
        if (!quiet) process.stderr.write(s + '\n');
      };
      const r = await cropExperiment({
        data: o.data,
        out: o.out,
        crop: o.crop!,
        train: trainOpts,
        limit: o.limit,
        onEvent: (e) => {
          if (e.type === 'phase') say(`[${e.arm}] ${e.phase}…`);
          else if (e.event.type === 'epoch') {
            const h = e.event.record;
            say(`[${e.arm}] epoch ${h.epoch}: loss ${h.loss.toFixed(4)}, val ${h.val_metric} ${h.val_accuracy.toFixed(3)}${h.best ? ' (best)' : ''}, ${h.seconds.toFixed(1)} s`);
          }
        },
      });
      if (quiet) {
        process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      const f = (v: number | null) => (v === null ? '–' : v.toFixed(3));
      const lines = [`cropping experiment (crop ${r.crop} per side), same test split: ${r.same_test_split ? 'yes' : 'no'}`];
      lines.push('run        n_test  accuracy  balanced  sens normal  sens pneumonia  sens COVID-19  border mass (orig)  border mass (input)');
      for (const [name, a] of [['original', r.original], ['cropped', r.cropped]] as const) {
        lines.push(
          `${name.padEnd(10)} ${String(a.n_test).padStart(6)}  ${f(a.accuracy).padStart(8)}  ${f(a.balanced_accuracy).padStart(8)}  ${f(a.sensitivity.normal).padStart(11)}  ${f(a.sensitivity.pneumonia).padStart(14)}  ${f(a.sensitivity['COVID-19']).padStart(13)}  ${f(a.border_mass.overall.mean).padStart(18)}  ${f(a.border_mass.input_view.overall.mean).padStart(19)}`,
        );
      }
      lines.push(`comparison: ${r.comparison}`);
      for (const ex of r.examples.slice(0, 4)) lines.push(`  overlays: ${ex.original}  |  ${ex.cropped}`);
      lines.push(RESEARCH_NOTICE);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
